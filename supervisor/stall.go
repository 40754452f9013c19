package supervisor

import (
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// DefaultStallAfter is Config.StallAfter when left zero.
const DefaultStallAfter = 60 * time.Second

// stalled lists the workers to warm-restart because they stopped taking
// work: online (heartbeating) and idle for at least after, while a due
// message has waited in their queues for at least after too. Such a worker
// is alive but not consuming, as Celery workers are after some broker
// reconnects, or with their consumers cancelled. Nothing is stalled while
// the reading is stale or the task events are down (an idle view could
// then be a busy worker).
func stalled(views []policy.WorkerView, obs policy.Observation, now time.Time, after time.Duration, eventsUp bool) []string {
	if after <= 0 || !obs.BrokerOK || !eventsUp || obs.Waiting == 0 || obs.OldestWait < after {
		return nil
	}
	var out []string
	for _, v := range views {
		if v.Idle() && !v.IdleSince.IsZero() && now.Sub(v.IdleSince) >= after {
			out = append(out, v.Name)
		}
	}
	return out
}

// restartStalled warm-stops the stalled workers; the next decisions start
// their replacements (the backlog asks for them), taking MAX into account.
func (s *Supervisor) restartStalled(views []policy.WorkerView, obs policy.Observation, now time.Time) {
	for _, name := range stalled(views, obs, now, s.cfg.StallAfter, s.eventsUp.Load()) {
		if err := s.pool.Retire(name); err != nil {
			continue
		}
		s.m.workerStalls.Inc()
		s.log.Warn("worker stalled: idle while messages wait in its queues; restarting it",
			"worker", name, "oldest_waiting", obs.OldestWait.Round(100*time.Millisecond), "stall_after", s.cfg.StallAfter)
	}
}
