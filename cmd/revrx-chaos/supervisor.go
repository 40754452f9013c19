package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// supervisorProc is one revrx-supervise the harness started, with the last
// /metrics it answered (counters survive its exit that way).
type supervisorProc struct {
	proc    *harness.Process
	addr    string // its --http-addr
	logPath string
	argv    []string

	mu          sync.Mutex
	lastMetrics map[string]float64
}

// statusWorker is the part of /status's "workers" entries the harness reads
// (supervisor/status.go WorkerStatus).
type statusWorker struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	State   string `json:"state"`
	Running int    `json:"running"`
}

// status is the part of /status the harness reads.
type status struct {
	Workers      []statusWorker `json:"workers"` // the pool engine's: its pool processes
	ShuttingDown bool           `json:"shutting_down"`
	Broker       struct {
		Up bool `json:"up"`
	} `json:"broker"`
	Engine *struct { // the pool engine's worker main (absent for the workers engine)
		Engine string       `json:"engine"`
		Main   statusWorker `json:"main"`
	} `json:"engine"`
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

// startSupervisor runs revrx-supervise as a user types it, from examples/app
// with the acks_late app, the record file in the workers' environment.
func (r *run) startSupervisor(n int) (*supervisorProc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	argv := []string{r.cfg.bin, "-A", "tasks", "-b", r.b.url(),
		"--autoscale=" + strconv.Itoa(r.cfg.max) + "," + strconv.Itoa(r.cfg.min), "--keepalive=3s",
		"-Q", chaosQueue, "--http-addr", addr, "--celery-cmd", celeryCmd}
	if r.cfg.engine != enginePool {
		argv = append(argv, "--engine", r.cfg.engine) // the pool engine is the default: not named, as users type it
	}
	env := cleanEnv("REVRX_ACKS_LATE=1", "REVRX_RECORD="+r.recordPath)
	s := &supervisorProc{addr: addr, argv: argv, logPath: filepath.Join(r.dir, fmt.Sprintf("supervisor-%d.log", n))}
	if s.proc, err = harness.StartLogged(fmt.Sprintf("revrx-supervise #%d", n), argv, r.cfg.appDir, env, s.logPath); err != nil {
		return nil, err
	}
	return s, nil
}

// cleanEnv is the harness's environment without what would change how
// Celery or revrx-supervise behave (no CELERY_*, REVRX_*, PYTHONPATH), with
// /usr/bin first in PATH, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		if strings.HasPrefix(k, "CELERY_") || strings.HasPrefix(k, "REVRX_") || k == "AUTOSCALE_KEEPALIVE" ||
			k == "PYTHONPATH" || k == "PATH" {
			continue
		}
		env = append(env, e)
	}
	return append(append(env, "PATH=/usr/bin:/bin:/usr/sbin:/sbin"), extra...)
}

// status fetches /status.
func (s *supervisorProc) status() (status, error) {
	var st status
	resp, err := httpClient.Get("http://" + s.addr + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// httpCode is the status code of GET path (0 if it did not answer).
func (s *supervisorProc) httpCode(path string) int {
	resp, err := httpClient.Get("http://" + s.addr + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// metrics fetches /metrics as "name{labels}" -> value, and keeps it as the
// last answer.
func (s *supervisorProc) metrics() (map[string]float64, error) {
	resp, err := httpClient.Get("http://" + s.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); i > 0 && err == nil {
			m[line[:i]] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.lastMetrics = m
	s.mu.Unlock()
	return m, nil
}

// last is the last /metrics answer (nil if none).
func (s *supervisorProc) last() map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastMetrics
}

// waitReady waits for /readyz 200 with at least MIN idle workers, and
// checks that the engine in force is engine (the supervisor falls back to
// the workers engine where the pool engine cannot run).
func (s *supervisorProc) waitReady(ctx context.Context, engine string, min int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s.proc.Exited() {
			return fmt.Errorf("exited with %d (see %s)", s.proc.ExitCode(), s.logPath)
		}
		if s.httpCode("/readyz") == http.StatusOK {
			if st, err := s.status(); err == nil && countState(st, "idle") >= min {
				return checkEngine(st, engine, s.logPath)
			}
		}
		if err := harness.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("not ready after %s (see %s)", timeout, s.logPath)
}

// checkEngine fails unless /status shows engine in force.
func checkEngine(st status, engine, logPath string) error {
	got := engineWorkers
	if st.Engine != nil {
		got = st.Engine.Engine
	}
	if got != engine {
		return fmt.Errorf("the supervisor runs the %s engine, not the %s engine (a fallback? see %s)", got, engine, logPath)
	}
	return nil
}

// countState counts the workers in state.
func countState(st status, state string) int {
	n := 0
	for _, w := range st.Workers {
		if w.State == state {
			n++
		}
	}
	return n
}

// metricSum adds every series of the metric name (all label sets); ok is
// false when the metric is absent.
func metricSum(m map[string]float64, name string) (float64, bool) {
	var sum float64
	ok := false
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum, ok = sum+v, true
		}
	}
	return sum, ok
}
