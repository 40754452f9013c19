package simulate

import (
	"fmt"
	"slices"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// A decision: Decide sees the pool and the queue as the supervisor (or
// Celery's autoscaler) would, and its starts and stops apply at once.

// views is the pool as Decide sees it.
func (s *sim) views() []policy.WorkerView {
	out := make([]policy.WorkerView, 0, len(s.workers))
	for _, w := range s.workers {
		v := policy.WorkerView{Name: w.name, Slot: w.slot, Received: len(w.reserved), Running: len(w.running)}
		for _, i := range w.running {
			if s.tasks[i].start > s.now { // handed over, not running yet (StartDelay)
				v.Received, v.Running = v.Received+1, v.Running-1
			}
		}
		switch {
		case w.stopping:
			v.Phase = policy.PhaseStopping
		case w.retiring: // leaving, its task no demand (as the supervisor's processView)
			v.Phase, v.Received, v.Running = policy.PhaseDraining, 0, 0
		case !w.online:
			v.Phase = policy.PhaseStarting
		case w.tasks() > 0:
			v.Phase = policy.PhaseBusy
		default:
			v.Phase, v.IdleSince = policy.PhaseIdle, s.start.Add(w.idleSince)
		}
		out = append(out, v)
	}
	return out
}

// decideAt calls Decide on the state at t (with the learned floor when the
// model predicts) and applies its decision.
func (s *sim) decideAt(t time.Duration) error {
	obs := policy.Observation{Waiting: int64(s.waiting()), Reserved: len(s.held), BrokerOK: true, Workers: s.views(), History: s.history,
		Forecast: s.forecast(t)}
	if s.waiting() > 0 {
		obs.OldestWait = t - s.tasks[s.queue[s.head]].at
	}
	if s.ledger != nil { // what the group's own policy wants decides its part, as in the supervisor's tick
		a, err := s.grant(obs, t)
		if err != nil {
			return err
		}
		obs.Budget = &a
	}
	d := s.decide(obs, s.start.Add(t), s.m.Policy)
	if s.group != "" {
		d.Reason = "group " + s.group + ": " + d.Reason
	}
	s.history = d.History
	s.learn(t, d)
	s.res.Desired.add(t, d.Desired)
	for _, st := range d.Stop {
		i := slices.IndexFunc(s.workers, func(w *worker) bool { return w.name == st.Name })
		if i < 0 || !s.workers[i].idle() {
			state := "unknown"
			if i >= 0 {
				state = string(obs.Workers[i].Phase)
			}
			return fmt.Errorf("%s at %s s: Decide stopped %s (%s), which is not an idle worker: %s",
				s.m.Name, seconds(t), st.Name, state, d.Reason)
		}
		w := s.workers[i]
		w.stopping, w.goneAt = true, t+s.m.StopTime
	}
	back := s.reclaim(d.Reclaim)
	retired := s.retire(d.Retire)
	s.fork(t, d.Start)
	s.res.Starts += d.Start + back
	s.res.Stops += len(d.Stop) + retired
	delta := d.Start + back - len(d.Stop) - retired
	if delta == 0 {
		return nil
	}
	dir := 1
	if delta < 0 {
		dir = -1
	}
	if s.lastDir != 0 && dir != s.lastDir {
		s.res.DirectionChanges++
	}
	s.lastDir = dir
	s.res.Decisions = append(s.res.Decisions, Action{At: t, Start: d.Start, Stop: d.StopNames(), Desired: d.Desired, Reason: d.Reason})
	return nil
}

// grant asks the host budget for the group's part at t, as the
// supervisor's budgetFor does: its load is what obs shows and what its own
// policy would decide without the budget.
func (s *sim) grant(obs policy.Observation, t time.Duration) (policy.Allocation, error) {
	now := s.start.Add(t)
	lo, hi, _ := s.m.Policy.Bounds(now)
	free := s.decide(obs, now, s.m.Policy)
	runtime := time.Duration(s.runtime * float64(time.Second))
	for _, w := range s.workers { // the oldest running task's age bounds it, as the supervisor's longestRunning
		for _, i := range w.running {
			runtime = max(runtime, t-s.tasks[i].start)
		}
	}
	return s.ledger.Grant(policy.LoadOf(s.group, obs, free, lo, hi, runtime), now)
}
