//go:build linux

package pool

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	rest := " 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25" // field n holds n
	tests := []struct {
		name, line string
		want       procStat
		ok         bool
	}{
		// Fields: pid (comm) state ppid ...; rss is field 24.
		{"plain", "42 (celery) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 3 0 100 123456 789 18446744073709551615 1 1 0 0",
			procStat{ppid: 7, rssPages: 789}, true},
		{"name with spaces and parens", "42 (a) b (c)) R 9" + rest, procStat{ppid: 9, rssPages: 24}, true},
		{"zombie", "43 (python3) Z 42 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0", procStat{ppid: 42}, true},
		{"no name", "42 celery S 7", procStat{}, false},
		{"truncated", "42 (celery) S 7 42", procStat{}, false},
		{"bad ppid", "42 (x) S x" + rest, procStat{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.line))
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseProcStat() = %+v, %v, want %+v, ok=%v", got, err, tt.want, tt.ok)
			}
		})
	}
}

// TestTreesRSSFake sums a fixed process table.
func TestTreesRSSFake(t *testing.T) {
	proc := t.TempDir()
	stat := func(pid, ppid, rss int) string {
		return strconv.Itoa(pid) + " (p " + strconv.Itoa(pid) + ") S " + strconv.Itoa(ppid) +
			" 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 4096 " + strconv.Itoa(rss) + " 0"
	}
	writeFiles(t, proc, map[string]string{
		"1/stat":  stat(1, 0, 1000),
		"10/stat": stat(10, 1, 100), // a worker: 10 -> 11 -> 12, and 13
		"11/stat": stat(11, 10, 50),
		"12/stat": stat(12, 11, 25),
		"13/stat": stat(13, 10, 5),
		"20/stat": "garbage",   // skipped
		"self":    "not a pid", // skipped
	})
	if err := os.Mkdir(filepath.Join(proc, "14"), 0o755); err != nil { // exited: no stat
		t.Fatal(err)
	}
	s := newFakeHost(t, "").sampler()
	s.procRoot = proc
	page := uint64(os.Getpagesize())
	got, err := s.TreesRSS([]int{10, 11, 13, 14, 99})
	if err != nil {
		t.Fatalf("TreesRSS() error: %v", err)
	}
	want := map[int]uint64{10: 180 * page, 11: 75 * page, 13: 5 * page}
	if len(got) != len(want) {
		t.Errorf("TreesRSS() = %v, want %v", got, want)
	}
	for pid, w := range want {
		if got[pid] != w {
			t.Errorf("TreesRSS()[%d] = %d, want %d", pid, got[pid], w)
		}
	}
	if _, err := s.TreeRSS(99); !errors.Is(err, ErrNoProcess) {
		t.Errorf("TreeRSS(99) error = %v, want ErrNoProcess", err)
	}
}

// startShell runs sh -c script in its own process group and returns it and
// the first line it prints. Cleanup SIGKILLs the group and waits.
func startShell(tb testing.TB, script string) (*exec.Cmd, string) {
	tb.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatalf("sh -c %q printed nothing: %v", script, err)
	}
	return cmd, strings.TrimSpace(line)
}

// TestTreeRSS measures real processes: this test, a shell child and its
// sleep grandchild.
func TestTreeRSS(t *testing.T) {
	s := NewSampler()
	self, err := s.TreeRSS(os.Getpid())
	if err != nil || self == 0 {
		t.Fatalf("TreeRSS(self) = %d, %v, want > 0", self, err)
	}
	cmd, line := startShell(t, "sleep 30 & echo $!; wait")
	sh := cmd.Process.Pid
	sleep, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("sleep pid %q: %v", line, err)
	}
	// $! is known before the background shell has exec'd sleep; while it
	// execs its memory reads 0.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		comm, _ := os.ReadFile("/proc/" + line + "/comm")
		if strings.TrimSpace(string(comm)) == "sleep" || time.Now().After(deadline) {
			break
		}
	}
	got, err := s.TreesRSS([]int{os.Getpid(), sh, sleep})
	if err != nil {
		t.Fatalf("TreesRSS() error: %v", err)
	}
	// One scan: each tree strictly contains the next one.
	if got[sleep] == 0 || got[sh] <= got[sleep] || got[os.Getpid()] <= got[sh] {
		t.Fatalf("TreesRSS(self, sh, sleep) = %v, want self > sh > sleep > 0", got)
	}
	procs, err := scanProcs("/proc")
	if err != nil || procs[sleep].ppid != sh || procs[sh].ppid != os.Getpid() {
		t.Fatalf("scanProcs: sleep %+v, sh %+v (%v), want the chain self -> sh -> sleep",
			procs[sleep], procs[sh], err)
	}

	if err := syscall.Kill(-sh, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // reaped: the pid is gone
	if _, err := s.TreeRSS(sh); !errors.Is(err, ErrNoProcess) {
		t.Errorf("TreeRSS(exited) error = %v, want ErrNoProcess", err)
	}
}

// BenchmarkTreeRSS measures one worker-sized tree: a shell with 9 sleep
// children (10 processes). Most of the cost is the /proc scan, which grows
// with every process on the host (reported as host-procs).
func BenchmarkTreeRSS(b *testing.B) {
	cmd, _ := startShell(b, "for i in 1 2 3 4 5 6 7 8 9; do sleep 60 & done; echo ready; wait")
	sh := cmd.Process.Pid
	s := NewSampler()
	procs, err := scanProcs("/proc")
	if err != nil {
		b.Fatal(err)
	}
	var tree int
	for _, p := range procs {
		if p.ppid == sh {
			tree++
		}
	}
	if tree != 9 {
		b.Fatalf("shell has %d children, want 9", tree)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.TreeRSS(sh); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(procs)), "host-procs")
}
