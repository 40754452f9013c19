package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// The end-to-end tests run the real binary with real Celery workers (the
// examples/app tasks) against a private redis-server.

var (
	binPath    string // the revrx-supervise binary built for these tests
	appDir     string // examples/app, the workers' working directory
	producer   string // examples/producer.py
	celeryCmd  = "/usr/bin/python3 -m celery"
	haveCelery bool
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "revrx-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "revrx-supervise")
	if err := harness.BuildSupervisor(context.Background(), "../..", binPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	appDir, _ = filepath.Abs("../../examples/app")
	producer, _ = filepath.Abs("../../examples/producer.py")
	haveCelery = exec.Command("/usr/bin/python3", "-c", "import celery, redis").Run() == nil
	code := m.Run()
	stopSharedRabbit()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needCelery(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	if !haveCelery {
		t.Skip("/usr/bin/python3 cannot import celery and redis (apt-get install python3-celery python3-redis)")
	}
}

// lockedBuffer collects a process's output for later checks.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// supervised is a running revrx-supervise process.
type supervised struct {
	t      *testing.T
	proc   *harness.Process // in a process group of its own
	addr   string           // HTTP host:port
	record string           // REVRX_RECORD file of the example tasks
	logs   *lockedBuffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startSupervisor runs the binary with the example app, the given broker URL
// and extra args; it is killed (with its workers) at the end of the test.
func startSupervisor(t *testing.T, brokerURL string, args ...string) *supervised {
	t.Helper()
	return startSupervisorUnder(t, nil, nil, brokerURL, args...)
}

// wait returns the exit code once the supervisor exits, failing after d.
func (s *supervised) wait(d time.Duration) int {
	s.t.Helper()
	select {
	case <-s.proc.Done():
		return s.proc.ExitCode()
	case <-time.After(d):
		s.t.Fatalf("supervisor still running after %s", d)
		return -1
	}
}

func (s *supervised) signal(sig syscall.Signal) {
	if err := s.proc.Signal(sig); err != nil {
		s.t.Fatalf("signal: %v", err)
	}
}

func (s *supervised) get(path string) (int, []byte) {
	resp, err := http.Get("http://" + s.addr + path)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (s *supervised) status() supervisor.Status {
	var st supervisor.Status
	if code, b := s.get("/status"); code == http.StatusOK {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

// metric returns the value of one series line of /metrics, e.g.
// `revrx_workers{state="idle"}`; -1 if absent.
func (s *supervised) metric(series string) float64 {
	_, b := s.get("/metrics")
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// workersIn counts workers in the given states according to /status.
func (s *supervised) workersIn(states ...policy.Phase) int {
	n := 0
	for _, w := range s.status().Workers {
		for _, st := range states {
			if w.State == st {
				n++
			}
		}
	}
	return n
}

// waitFor polls cond every 100ms until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// publish sends n tasks.sleep(seconds) to queue with the example producer.
func publish(t *testing.T, brokerURL, queue string, n int, seconds float64, extra ...string) {
	t.Helper()
	args := append([]string{producer, "--burst", strconv.Itoa(n), "--seconds", fmt.Sprint(seconds), "--queue", queue}, extra...)
	cmd := exec.Command("/usr/bin/python3", args...)
	cmd.Env = append(os.Environ(), "CELERY_BROKER_URL="+brokerURL)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("producer: %v\n%s", err, out)
	}
}

// taskRecord is one line of the example tasks' REVRX_RECORD file.
type taskRecord struct {
	Event       string   `json:"event"`
	ID          string   `json:"id"`
	Worker      string   `json:"worker"`
	PID         int      `json:"pid"`
	PublishedAt *float64 `json:"published_at"`
	Started     float64  `json:"started"`
	OK          *bool    `json:"ok"`
}

func readRecords(t *testing.T, path string) []taskRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []taskRecord
	for line := range strings.Lines(string(b)) {
		var r taskRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("record line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// tally counts started and finished tasks by id.
func tally(recs []taskRecord) (started, finished map[string]int) {
	started, finished = map[string]int{}, map[string]int{}
	for _, r := range recs {
		if r.Event == "start" {
			started[r.ID]++
		} else {
			finished[r.ID]++
		}
	}
	return started, finished
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// celeryProcesses lists the live celery processes whose environment holds
// marker (e.g. the test's broker URL), to prove none survive: workers
// ("python3 -m celery ...", or "celery ..." when forked) and the app host
// ("revrx-apphost -A APP").
func celeryProcesses(marker string) []int {
	var pids []int
	for _, pid := range processesWithEnv(marker) {
		if c := cmdline(pid); strings.Contains(c, "celery") || strings.Contains(c, "revrx-apphost") {
			pids = append(pids, pid)
		}
	}
	return pids
}
