package main

import (
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// TestQueueWaitTargetScalesUp: with --tasks-per-worker=10, four tasks are
// not enough backlog for a second worker, but their wait (from the
// published_at header the example producer stamps) passes --target-wait, so
// the pool grows, and the scale-up is attributed to the wait strategy.
func TestQueueWaitTargetScalesUp(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--autoscale=3,1", "--tasks-per-worker=10", "--target-wait=2s", "-Q", "sla")
	waitFor(t, 20*time.Second, "1 idle worker", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
	publish(t, url, "sla", 4, 4)
	waitFor(t, 15*time.Second, "a wait-driven scale-up", func() bool {
		return s.metric(`revrx_scaling_events_total{direction="up",reason="wait"}`) >= 1
	})
	if got := s.metric(`revrx_scaling_events_total{direction="up",reason="queue"}`); got > 0 {
		t.Errorf("depth alone scaled up %v times; with 10 tasks per worker it should not", got)
	}
	if age := s.metric(`revrx_queue_oldest_message_age_seconds{queue="sla"}`); age < 0 {
		t.Errorf("revrx_queue_oldest_message_age_seconds missing")
	}
	waitFor(t, 15*time.Second, "2 or more busy workers", func() bool { return s.workersIn(policy.PhaseBusy) >= 2 })
}
