//go:build linux

package pool

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFailedStartBacksOffAndReports(t *testing.T) {
	p, rec, _ := testPool(t, "exit-now", func(c *Config) {
		c.FailedStartWindow = 5 * time.Second // a -race helper takes a while to start
	})
	stop := run(t, p)
	w, err := p.Add()
	if err != nil {
		t.Fatal(err)
	}
	report := rec.waitFor(t, "failure report", func(r record) bool { return r.Msg == "worker keeps failing to start" })
	lines, _ := report.Attrs[keyLines].([]string)
	if !strings.Contains(strings.Join(lines, "\n"), "Unable to load celery application") {
		t.Fatalf("report lines = %q, want the child's output", lines)
	}
	if report.Attrs[keyStatus] != "exit status 1" || report.Attrs[keyWorker] != w.Name {
		t.Fatalf("report = %+v", report.Attrs)
	}
	ws := waitWorkers(t, p, "5 failed starts", func(ws []Worker) bool { return len(ws) == 1 && ws[0].FailedStarts >= 5 })
	if ws[0].State != Backoff && ws[0].State != Running {
		t.Fatalf("state = %s", ws[0].State)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if n := rec.count(func(r record) bool { return r.Msg == "worker keeps failing to start" }); n != 1 {
		t.Fatalf("failure reported %d times, want once per streak", n)
	}
	rs := p.TakeReports().Restarts
	if len(rs) < 5 {
		t.Fatalf("%d restarts reported, want at least 5", len(rs))
	}
	for i, r := range rs {
		if r.Reason != ReasonFailedStart || r.Name != w.Name {
			t.Fatalf("restart %d = %+v, want %s failed_start", i, r, w.Name)
		}
	}
	// No tight loop: each restart waited at least its backoff after the
	// previous exit, which happened after the previous restart.
	for i := 1; i < len(rs); i++ {
		want := backoffDelay(i-1, 20*time.Millisecond, 160*time.Millisecond)
		if gap := rs[i].At.Sub(rs[i-1].At); gap < want {
			t.Fatalf("restart %d came %s after the previous one, want >= %s", i, gap, want)
		}
	}
}

// TestFailedStartsClearOnceUp: after a streak of failed starts, a worker
// that stays up for the failed-start window has its streak cleared while it
// runs (readiness reads it), not only at its next exit.
func TestFailedStartsClearOnceUp(t *testing.T) {
	// A window a -race helper's failing start always fits in.
	p, rec, _ := testPool(t, "fail-then-stay", func(c *Config) { c.FailedStartWindow = 2 * time.Second })
	stop := run(t, p)
	if _, err := p.Add(); err != nil {
		t.Fatal(err)
	}
	// The streak of 3 is reported; it clears within the window after, too
	// fast to be sure to see it in Workers.
	rec.waitFor(t, "failure report", func(r record) bool { return r.Msg == "worker keeps failing to start" })
	ws := waitWorkers(t, p, "the streak cleared while it runs", func(ws []Worker) bool {
		return len(ws) == 1 && ws[0].State == Running && ws[0].FailedStarts == 0
	})
	if ws[0].Restarts != 3 {
		t.Fatalf("restarts = %d, want 3", ws[0].Restarts)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestMissingCommandIsAFailedStart(t *testing.T) {
	p, rec, _ := testPool(t, "exit-now", func(c *Config) {
		c.Command = []string{"/nonexistent/celery"}
	})
	stop := run(t, p)
	w, err := p.Add()
	if err != nil || w.State != Backoff {
		t.Fatalf("Add() = %+v, %v; want a worker in backoff", w, err)
	}
	report := rec.waitFor(t, "failure report", func(r record) bool { return r.Msg == "worker keeps failing to start" })
	if lines, _ := report.Attrs[keyLines].([]string); len(lines) == 0 || !strings.Contains(lines[0], "no such file") {
		t.Fatalf("report lines = %q", lines)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestCrashAfterRunningIsRestarted(t *testing.T) {
	p, rec, _ := testPool(t, "crash-after", nil)
	stop := run(t, p)
	w, _ := p.Add()
	waitWorkers(t, p, "2 restarts", func(ws []Worker) bool {
		return len(ws) == 1 && ws[0].Restarts >= 2 && ws[0].State == Running
	})
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	rs := p.TakeReports().Restarts
	if len(rs) < 2 {
		t.Fatalf("%d restarts reported, want at least 2", len(rs))
	}
	for _, r := range rs {
		if r.Reason != ReasonCrashed {
			t.Fatalf("restarts = %+v, want crashed", rs)
		}
	}
	// Up 300ms >= 2*FailedStartWindow: the backoff restarts from Min each time.
	for _, r := range rec.all(func(r record) bool { return r.Msg == "worker exited unexpectedly" && r.Attrs[keyWorker] == w.Name }) {
		if d := r.Attrs[keyDelay].(time.Duration); d != 20*time.Millisecond {
			t.Fatalf("restart delay = %s, want the reset 20ms", d)
		}
	}
}

func TestStopWorkerInBackoff(t *testing.T) {
	p, _, _ := testPool(t, "exit-zero", func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Hour, time.Hour })
	stop := run(t, p)
	w, _ := p.Add()
	waitWorkers(t, p, "backoff", func(ws []Worker) bool { return len(ws) == 1 && ws[0].State == Backoff && ws[0].PID == 0 })
	if err := p.Stop(w.Name); err != nil {
		t.Fatalf("Stop(dead worker) = %v", err)
	}
	waitWorkers(t, p, "removed", func(ws []Worker) bool { return len(ws) == 0 })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestTermAfterExitIsFine(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "POOL_HELPER=exit-zero")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pr := &process{pid: cmd.Process.Pid, reaped: true}
	if err := pr.term(); err != nil {
		t.Fatalf("term() on a reaped process = %v, want nil", err)
	}
	if pr.killGroup() {
		t.Fatal("killGroup() signalled a reaped process's group")
	}
}

func TestOutputFloodWithStuckLogger(t *testing.T) {
	p, rec, _ := testPool(t, "flood", func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Hour, time.Hour })
	release := make(chan struct{})
	rec.shared.mu.Lock()
	rec.shared.block = release
	rec.shared.mu.Unlock()
	stop := run(t, p)
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before run's cleanup
	w, _ := p.Add()
	// The child finishes although the logger is stuck: reading never waits for it.
	ws := waitWorkers(t, p, "flood exited", func(ws []Worker) bool { return len(ws) == 1 && ws[0].State == Backoff })
	if last := ws[0].LastOutput[len(ws[0].LastOutput)-1]; last != "last line without newline" {
		t.Fatalf("last line = %q", last)
	}
	unblock()
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	out := rec.all(func(r record) bool { return r.Attrs[keyWorker] == w.Name && r.Attrs[keyStream] == "stdout" })
	if len(out) == 0 {
		t.Fatal("no output logged")
	}
	for _, r := range out {
		if !utf8.ValidString(r.Msg) || len(r.Msg) > maxLineBytes+len(truncatedMark) {
			t.Fatalf("bad line logged: %d bytes, valid=%v", len(r.Msg), utf8.ValidString(r.Msg))
		}
	}
}

func TestReaperKeepsManagedStatuses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 40 processes")
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "POOL_HELPER=reaper-test")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\nOK") {
		t.Fatalf("reaper helper: %v\n%s", err, out)
	}
}
