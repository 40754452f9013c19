package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// TestSoloShutdownIsWarm: Celery's solo pool loses the running task on
// SIGTERM (docs/celery-on-redis.md, "Worker signals and shutdown"), so solo workers are
// stopped through remote control
// (`shutdown`, handled between tasks). A SIGTERM to the supervisor while a
// solo task runs must let it finish. With a plain SIGTERM to the worker the
// record would show the task started and never finished.
func TestSoloShutdownIsWarm(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--autoscale=1,1", "--pool=solo", "-Q", "solo")
	waitFor(t, 20*time.Second, "1 idle solo worker", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
	publish(t, url, "solo", 1, 3)
	// A solo worker flushes its task events only after the task returns
	// (the task runs inside its event loop), so the task's own record says
	// when it runs.
	waitFor(t, 10*time.Second, "the solo task to start", func() bool {
		started, _ := tally(readRecords(t, s.record))
		return len(started) == 1
	})
	s.signal(syscall.SIGTERM)
	if code := s.wait(30 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	started, finished := tally(readRecords(t, s.record))
	if len(started) != 1 || len(finished) != 1 {
		t.Errorf("solo task started %d, finished %d; want 1 and 1 (a SIGTERM would have lost it)", len(started), len(finished))
	}
	if left := celeryProcesses(url); len(left) > 0 {
		t.Errorf("celery processes left after exit: %v", left)
	}
}
