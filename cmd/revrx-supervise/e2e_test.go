package main

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// TestBurstScalesUpAndBackDown: MIN workers at start; a burst of slow tasks
// grows the pool to MAX; every task runs exactly once; after the keepalive
// the pool returns to MIN, and only idle workers were stopped.
func TestBurstScalesUpAndBackDown(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--autoscale=4,1", "--keepalive=3s", "-Q", "burst")
	waitFor(t, 20*time.Second, "MIN 1 worker idle", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })

	const n = 12
	published := time.Now()
	publish(t, url, "burst", n, 2)
	waitFor(t, 15*time.Second, "4 workers", func() bool { return s.metric("revrx_workers_desired") == 4 })
	waitFor(t, 20*time.Second, "4 busy workers", func() bool { return s.workersIn(policy.PhaseBusy) == 4 })
	t.Logf("burst published -> 4 workers busy: %s", time.Since(published).Round(10*time.Millisecond))
	if got := s.metric(`revrx_scaling_events_total{direction="up",reason="queue"}`); got != 3 {
		t.Errorf("scale-up events = %v, want 3", got)
	}
	waitFor(t, 60*time.Second, "all tasks finished", func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == n
	})
	waitFor(t, 30*time.Second, "back to MIN 1 worker", func() bool { return len(s.status().Workers) == 1 })

	started, finished := tally(readRecords(t, s.record))
	for id, c := range started {
		if c != 1 || finished[id] != 1 {
			t.Errorf("task %s started %d times, finished %d times; want exactly once", id, c, finished[id])
		}
	}
	if len(started) != n {
		t.Errorf("%d tasks started, want %d", len(started), n)
	}
	if got := s.metric(`revrx_scaling_events_total{direction="down",reason="idle"}`); got != 3 {
		t.Errorf("scale-down events = %v, want 3", got)
	}
	if got := s.metric(`revrx_tasks_completed_total{outcome="succeeded"}`); got != n {
		t.Errorf("tasks_completed_total{succeeded} = %v, want %d", got, n)
	}
	logs := s.logs.String()
	for _, bad := range []string{"WorkerLostError", "Restoring", "Traceback"} {
		if strings.Contains(logs, bad) {
			t.Errorf("worker output contains %q: a stopped worker was not idle", bad)
		}
	}
	s.signal(syscall.SIGTERM)
	if code := s.wait(30 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if left := celeryProcesses(url); len(left) > 0 {
		t.Errorf("celery processes left after exit: %v", left)
	}
}

// TestSIGTERMLetsRunningTasksFinish: a SIGTERM to the supervisor warm-stops
// its workers (the pool engine's main, or each whole worker); the running
// tasks complete and nothing is left behind.
func TestSIGTERMLetsRunningTasksFinish(t *testing.T) {
	for _, engine := range []string{"pool", "workers"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel() // each engine its own Redis and supervisor
			testSIGTERMLetsRunningTasksFinish(t, engine)
		})
	}
}

func testSIGTERMLetsRunningTasksFinish(t *testing.T, engine string) {
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--engine", engine, "--autoscale=3,3", "-Q", "term")
	waitFor(t, 20*time.Second, "3 idle workers", func() bool { return s.workersIn(policy.PhaseIdle) == 3 })
	publish(t, url, "term", 3, 3)
	waitFor(t, 10*time.Second, "3 busy workers", func() bool { return s.workersIn(policy.PhaseBusy) == 3 })
	s.signal(syscall.SIGTERM)
	waitFor(t, 5*time.Second, "/readyz to fail during shutdown", func() bool {
		code, _ := s.get("/readyz")
		return code == http.StatusServiceUnavailable || code == 0
	})
	waitFor(t, 5*time.Second, "/status to show the workers stopping", func() bool {
		if e := s.status().Engine; e != nil {
			return e.Main.State == supervisor.WorkerStopping && s.workersIn(policy.PhaseBusy) == 3
		}
		return s.workersIn(policy.PhaseStopping) == 3
	})
	if code := s.wait(30 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0 (all workers stopped cleanly)", code)
	}
	started, finished := tally(readRecords(t, s.record))
	if len(started) != 3 || len(finished) != 3 {
		t.Errorf("started %d, finished %d tasks; want 3 and 3", len(started), len(finished))
	}
	if left := celeryProcesses(url); len(left) > 0 {
		t.Errorf("celery processes left after exit: %v", left)
	}
}

// TestKilledWorkerIsRestarted: a worker SIGKILLed from outside is restarted
// and counted.
func TestKilledWorkerIsRestarted(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	s := startSupervisor(t, rds.URL(0), "--engine", "workers", "--autoscale=2,2", "-Q", "kill")
	waitFor(t, 20*time.Second, "2 idle workers", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	victim := s.status().Workers[0]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Killed within its first 10 s (the failed-start window) it counts as a
	// failed start, later as a crash: either way exactly one restart.
	waitFor(t, 10*time.Second, "the restart to be counted", func() bool {
		return s.metric(`revrx_worker_restarts_total{reason="crashed"}`)+
			s.metric(`revrx_worker_restarts_total{reason="failed_start"}`) == 1
	})
	waitFor(t, 20*time.Second, "2 idle workers again", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	for _, w := range s.status().Workers {
		if w.Name == victim.Name && (w.PID == victim.PID || w.Restarts != 1) {
			t.Errorf("worker %s after SIGKILL: pid %d (was %d), restarts %d; want a new pid and 1 restart",
				w.Name, w.PID, victim.PID, w.Restarts)
		}
	}
}

// TestCrashLoopBacksOff: a bad -A makes every worker exit at once; the
// supervisor backs off, reports the child's last lines, stays live but not
// ready, and does not spin.
func TestCrashLoopBacksOff(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	s := startSupervisor(t, rds.URL(0), "--autoscale=1,1", "-Q", "crash", "-A", "no_such_module")
	waitFor(t, 40*time.Second, "3 failed starts", func() bool {
		return s.metric(`revrx_worker_restarts_total{reason="failed_start"}`) >= 3
	})
	st := s.status()
	if len(st.Workers) != 1 || st.Workers[0].FailedStarts < 3 {
		t.Fatalf("status workers = %+v, want one with 3+ failed starts", st.Workers)
	}
	if out := strings.Join(st.Workers[0].LastOutput, "\n"); !strings.Contains(out, "no_such_module") {
		t.Errorf("last output %q does not show the child's error", out)
	}
	// The app host found the cause first; the exec'd workers fail too.
	if code, body := s.get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(string(body), "No module named 'no_such_module'") {
		t.Errorf("/readyz = %d %q, want 503 naming the import error", code, body)
	}
	if n := countLines(s.logs.String(), "app host failed", "no_such_module"); n != 1 {
		t.Errorf("the import error was logged %d times, want once", n)
	}
	if code, _ := s.get("/livez"); code != http.StatusOK {
		t.Errorf("/livez = %d during a crash loop, want 200", code)
	}
	if !strings.Contains(s.logs.String(), "keeps failing to start") {
		t.Errorf("no report of the failing worker in the log")
	}
	// Backoff: 1s, 2s, 4s, ... so 15 s hold at most 5 starts.
	before := s.metric(`revrx_worker_restarts_total{reason="failed_start"}`)
	time.Sleep(8 * time.Second) // observing a rate needs elapsed time
	if after := s.metric(`revrx_worker_restarts_total{reason="failed_start"}`); after-before > 2 {
		t.Errorf("%v failed starts in 8s after the first %v: not backing off", after-before, before)
	}
}

// TestBrokerOutage: Redis stops mid-run: no scale-down, broker_up 0, errors
// counted, /livez stays 200; when Redis returns everything recovers.
func TestBrokerOutage(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	s := startSupervisor(t, rds.URL(0), "--autoscale=3,1", "--keepalive=1s", "-Q", "outage")
	waitFor(t, 20*time.Second, "1 idle worker", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
	publish(t, rds.URL(0), "outage", 3, 4)
	waitFor(t, 20*time.Second, "3 workers", func() bool { return s.workersIn(policy.PhaseBusy, policy.PhaseIdle) == 3 })

	rds.Kill()
	waitFor(t, 10*time.Second, "broker_up 0", func() bool { return s.metric("revrx_broker_up") == 0 })
	// Longer than the keepalive and the tasks: nothing may be stopped.
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		if n := len(s.status().Workers); n != 3 {
			t.Fatalf("%d workers while Redis is down, want 3 held", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := s.metric("revrx_broker_errors_total"); got < 1 {
		t.Errorf("revrx_broker_errors_total = %v, want > 0", got)
	}
	if code, _ := s.get("/livez"); code != http.StatusOK {
		t.Errorf("/livez = %d with Redis down, want 200", code)
	}
	if code, _ := s.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with Redis down, want 503", code)
	}

	rds.Restart(t)
	waitFor(t, 15*time.Second, "broker_up 1", func() bool { return s.metric("revrx_broker_up") == 1 })
	waitFor(t, 40*time.Second, "scale back to MIN 1", func() bool { return len(s.status().Workers) == 1 })
	waitFor(t, 10*time.Second, "/readyz 200", func() bool { code, _ := s.get("/readyz"); return code == http.StatusOK })
}

// TestPasswordNeverShown: the broker password is in no log line, no
// /status, and no worker's argv.
func TestPasswordNeverShown(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	const secret = "s3cr3t-Pw"
	rds := harness.StartTestRedis(t, "--requirepass", secret)
	url := strings.Replace(rds.URL(0), "redis://", "redis://:"+secret+"@", 1)
	s := startSupervisor(t, url, "--autoscale=1,1", "-Q", "pw")
	waitFor(t, 20*time.Second, "1 idle worker", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
	w := s.status().Workers[0]
	argv, err := os.ReadFile("/proc/" + strconv.Itoa(w.PID) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	env, _ := os.ReadFile("/proc/" + strconv.Itoa(w.PID) + "/environ")
	if !strings.Contains(string(env), secret) {
		t.Errorf("the worker's environment lacks the broker URL; it could not connect")
	}
	_, status := s.get("/status")
	_, metrics := s.get("/metrics")
	s.signal(syscall.SIGTERM)
	s.wait(30 * time.Second)
	for what, text := range map[string]string{
		"worker argv": string(argv), "/status": string(status), "/metrics": string(metrics), "log": s.logs.String(),
	} {
		if strings.Contains(text, secret) {
			t.Errorf("%s contains the broker password", what)
		}
	}
	if !strings.Contains(string(status), ":***@") {
		t.Errorf("/status does not show the redacted broker URL: %s", status)
	}
}

// TestRedisDownAtStart: no hang, live but not ready, MIN workers started
// (they retry their own connection); when Redis appears it recovers alone.
func TestRedisDownAtStart(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	rds.Kill()
	s := startSupervisor(t, rds.URL(0), "--autoscale=2,1", "-Q", "late")
	waitFor(t, 10*time.Second, "/livez 200", func() bool { code, _ := s.get("/livez"); return code == http.StatusOK })
	if code, body := s.get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(string(body), "broker") {
		t.Errorf("/readyz with Redis down = %d %q, want 503 naming the broker", code, body)
	}
	if got := s.metric("revrx_broker_up"); got != 0 {
		t.Errorf("revrx_broker_up = %v, want 0", got)
	}
	rds.Restart(t)
	waitFor(t, 30*time.Second, "/readyz 200 after Redis started", func() bool {
		code, _ := s.get("/readyz")
		return code == http.StatusOK
	})
}
