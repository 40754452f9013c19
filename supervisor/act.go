package supervisor

import (
	"errors"
	"fmt"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// act carries out a decision: start workers, warm-stop idle ones, and log
// the change once with its reason.
func (s *Supervisor) act(d policy.Decision) {
	if d.Blocked != "" {
		s.m.scalingBlocked.WithLabelValues(string(d.Blocked)).Inc()
	}
	started := s.reclaim(d)
	if pp, ok := s.pool.(ProcessPool); ok {
		started += s.grow(pp, d)
	} else {
		started += s.addWorkers(d)
	}
	var stopped []string
	for _, st := range d.Stop {
		if err := s.pool.Stop(st.Name); err != nil {
			if errors.Is(err, ErrBusy) { // took a task since the decision: it stays
				s.log.Debug("the process took a task; not stopped", "worker", st.Name)
			} else {
				s.log.Error("stop worker", "worker", st.Name, "err", err)
			}
			continue
		}
		stopped = append(stopped, st.Name)
		s.m.scalingEvents.WithLabelValues("down", string(st.Reason)).Inc()
	}
	retired := s.drain(d)
	switch {
	case started > 0:
		s.log.Info(fmt.Sprintf("scaling up by %d", started), "desired", d.Desired, "taken_back", d.Reclaim, "reason", d.Reason)
	case len(stopped)+retired > 0:
		s.log.Info(fmt.Sprintf("scaling down by %d", len(stopped)+retired), "desired", d.Desired, "workers", stopped,
			"retiring", retired, "reason", d.Reason)
	case d.Desired != s.lastDesired || d.Blocked != s.lastBlocked:
		s.log.Info("desired workers changed", "desired", d.Desired, "current", d.Current, "reason", d.Reason)
	}
}

// grow starts d.Start pool processes at once (the pool engine) and returns
// how many started; a shortfall waits for the next decision.
func (s *Supervisor) grow(pp ProcessPool, d policy.Decision) int {
	if d.Start == 0 {
		return 0
	}
	n, err := pp.Grow(d.Start)
	if err != nil && !errors.Is(err, ErrShuttingDown) && !errors.Is(err, ErrNoMain) { // no main yet: it is starting
		s.log.Error("start pool processes", "wanted", d.Start, "started", n, "err", err)
	}
	for range n {
		s.m.scalingEvents.WithLabelValues("up", string(d.Strategy)).Inc()
	}
	return n
}

// drain retires d.Retire busy pool processes (the pool engine; a whole
// worker is never retired busy) and returns how many it retired. Each
// counts as a scale-down for the rebalance when it is retired, as a whole
// worker's stop counts when its drain begins; one taken back counts up.
func (s *Supervisor) drain(d policy.Decision) int {
	pp, ok := s.pool.(ProcessPool)
	if d.Retire == 0 || !ok {
		return 0
	}
	n, err := pp.Drain(d.Retire)
	if err != nil && !errors.Is(err, ErrShuttingDown) && !errors.Is(err, ErrNoMain) {
		s.log.Error("retire pool processes", "wanted", d.Retire, "retired", n, "err", err)
	}
	for range n {
		s.m.scalingEvents.WithLabelValues("down", string(policy.StopRebalance)).Inc()
	}
	return n
}

// addWorkers starts d.Start whole workers, one at a time, and returns how
// many started.
func (s *Supervisor) addWorkers(d policy.Decision) int {
	started := 0
	for range d.Start {
		if err := s.pool.Add(); err != nil {
			if !errors.Is(err, ErrShuttingDown) {
				s.log.Error("start worker", "err", err)
			}
			break
		}
		started++
		s.m.scalingEvents.WithLabelValues("up", string(d.Strategy)).Inc()
		s.setPoolNames(s.pool.Workers()) // before the new worker's first event
	}
	return started
}

// reclaim takes back the draining workers d names and returns how many
// came back; one whose warm stop went out meanwhile stays gone (the next
// decision sees it as stopping).
func (s *Supervisor) reclaim(d policy.Decision) int {
	n := 0
	for _, name := range d.Reclaim {
		if err := s.pool.Reclaim(name); err != nil {
			s.log.Debug("could not take the worker back", "worker", name, "err", err)
			continue
		}
		n++
		s.m.scalingEvents.WithLabelValues("up", string(d.Strategy)).Inc()
	}
	return n
}
