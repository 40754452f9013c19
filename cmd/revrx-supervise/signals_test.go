package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// TestSecondSIGTERMKills: a SIGTERM during the warm shutdown (here, while a
// 30 s task keeps it waiting, with --shutdown-timeout=60s) kills every
// worker at once; the supervisor exits 143 (128+SIGTERM) within seconds and
// leaves no Celery process. If the second signal were ignored the exit
// would take the whole task (30 s, past the 5 s bound); if it killed only
// the main PIDs the prefork pool child running the task would remain.
func TestSecondSIGTERMKills(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisorUnder(t, nil, nil, url, "--autoscale=1,1", "--shutdown-timeout=60s", "-Q", "twice")
	waitFor(t, 30*time.Second, "1 idle worker", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
	publish(t, url, "twice", 1, 30)
	waitFor(t, 10*time.Second, "1 busy worker", func() bool { return s.workersIn(policy.PhaseBusy) == 1 })
	s.signal(syscall.SIGTERM)
	// The first signal must have been taken (else the second is the first).
	waitFor(t, 5*time.Second, "the warm stop to begin", func() bool {
		return strings.Contains(s.logs.String(), "warm-stopping every worker")
	})
	// A second later the warm stop is still waiting for the task.
	select {
	case <-s.proc.Done():
		t.Fatalf("exited (code %d) before the second signal, with a 30 s task running", s.proc.ExitCode())
	case <-time.After(time.Second):
	}
	second := time.Now()
	s.signal(syscall.SIGTERM)
	if code := s.wait(5 * time.Second); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit code %d after a second SIGTERM, want %d", code, 128+int(syscall.SIGTERM))
	}
	t.Logf("second SIGTERM -> exit: %s", time.Since(second).Round(10*time.Millisecond))
	waitFor(t, 3*time.Second, "no celery process left", func() bool { return len(celeryProcesses(url)) == 0 })
	if _, finished := tally(readRecords(t, s.record)); len(finished) != 0 {
		t.Errorf("the 30 s task finished: the second signal did not kill it")
	}
}

// TestSupervisorSIGKILLedTakesWorkersDown: SIGKILL to the supervisor alone
// (not its group; the workers have their own groups anyway) must not leave
// its workers running unsupervised: Pdeathsig kills each worker's main
// process, and the prefork pool children follow their parent. Without
// Pdeathsig the workers, in their own process groups, keep running and the
// wait times out.
func TestSupervisorSIGKILLedTakesWorkersDown(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisorUnder(t, nil, nil, url, "--autoscale=2,2", "-Q", "orphaned")
	waitFor(t, 30*time.Second, "2 idle workers", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	if n := len(celeryProcesses(url)); n < 2 {
		t.Fatalf("%d celery processes, want at least 2 (a main process per worker)", n)
	}
	s.signal(syscall.SIGKILL)
	s.wait(5 * time.Second)
	waitFor(t, 5*time.Second, "no celery process left", func() bool { return len(celeryProcesses(url)) == 0 })
}
