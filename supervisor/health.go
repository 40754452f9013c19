package supervisor

import (
	"fmt"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// Live reports whether the control loop has ticked recently, by the
// supervisor's clock (Config.Now): within three poll intervals, and at
// least ten seconds to absorb a slow broker read. It never depends on the
// broker.
func (s *Supervisor) Live() error {
	last := s.lastTick.Load()
	if last == 0 {
		return fmt.Errorf("control loop has not run yet")
	}
	limit := max(3*s.cfg.PollInterval, 10*time.Second)
	if age := s.cfg.Now().Sub(time.Unix(0, last)); age > limit {
		return fmt.Errorf("control loop last ran %s ago (limit %s)", age.Round(time.Millisecond), limit)
	}
	return nil
}

// Ready reports whether this host should receive work: the broker answers,
// at least MIN workers (as a schedule sets it now) are up (idle or busy),
// none keeps failing to start, the app can be imported, and no shutdown is
// under way.
func (s *Supervisor) Ready() error {
	st := s.Snapshot()
	if st.ShuttingDown {
		return fmt.Errorf("shutting down")
	}
	if !st.Broker.Up {
		return fmt.Errorf("broker not reachable")
	}
	if h := st.AppHost; h != nil && h.ImportError != "" {
		return fmt.Errorf("app host: cannot import the app: %s", h.ImportError)
	}
	up := 0
	for _, w := range st.Workers {
		if w.FailedStarts >= 3 {
			return fmt.Errorf("worker %s keeps failing to start (%d in a row)", w.Name, w.FailedStarts)
		}
		if w.State == policy.PhaseIdle || w.State == policy.PhaseBusy {
			up++
		}
	}
	if up < st.Policy.MinNow {
		return fmt.Errorf("%d of min %d workers up", up, st.Policy.MinNow)
	}
	return nil
}
