package supervisor

import (
	"time"

	"github.com/revrx/revrx-supervise/supervisor/events"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// setPoolNames publishes the node names of the pool to handleEvent, which
// drops every other host's events, so that what the tracker keeps is
// bounded by the pool.
func (s *Supervisor) setPoolNames(workers []Worker) {
	names := make(map[string]bool, len(workers)+1)
	for _, w := range workers {
		names[nodeOf(w)] = true
	}
	if pp, ok := s.pool.(ProcessPool); ok {
		names[pp.Node()] = true // the pool engine's main, even with no process
	}
	s.poolNames.Store(&names)
}

// forgetReplaced drops the task state of workers (nodes) whose process is
// gone, so a restarted worker with the same name starts clean.
func (s *Supervisor) forgetReplaced(workers []Worker) {
	alive := make(map[string]int, len(workers))
	for _, w := range workers {
		pid := w.PID
		if w.Process != nil {
			pid = w.NodePID
		}
		alive[nodeOf(w)] = pid
	}
	for name, pid := range s.knownPIDs {
		if now, ok := alive[name]; !ok || now != pid {
			s.tracker.Forget(name)
			delete(s.knownPIDs, name)
		}
	}
	for name, pid := range alive {
		if pid != 0 {
			s.knownPIDs[name] = pid
		}
	}
}

// views joins the pool's processes with what their events say.
func (s *Supervisor) views(workers []Worker, now time.Time) []policy.WorkerView {
	acts := s.tracker.Snapshot(now)
	views := make([]policy.WorkerView, 0, len(workers))
	for _, w := range workers {
		v := policy.WorkerView{Name: w.Name, Slot: w.Slot}
		if w.Process != nil {
			views = append(views, processView(v, w))
			continue
		}
		a := acts[w.Name]
		switch {
		case w.State == WorkerDraining:
			v.Phase = policy.PhaseDraining
		case w.State == WorkerStopping:
			v.Phase = policy.PhaseStopping
		case w.State == WorkerBackoff:
			v.Phase = policy.PhaseBackoff
		case !a.Online:
			v.Phase = policy.PhaseStarting
		case a.Received+a.Running > 0:
			v.Phase = policy.PhaseBusy
		default:
			v.Phase = policy.PhaseIdle
			v.IdleSince = a.IdleSince
		}
		if v.Phase != policy.PhaseBackoff {
			v.Received, v.Running = a.Received, a.Running
		}
		views = append(views, v)
	}
	return views
}

// nodeOf is the Celery node whose events cover w: its worker main's for a
// pool process, its own name for a whole worker.
func nodeOf(w Worker) string {
	if w.Process != nil && w.Node != "" {
		return w.Node
	}
	return w.Name
}

// processView is a pool process as the policy sees it: one task at most,
// its phase as its worker main's event loop reported it.
func processView(v policy.WorkerView, w Worker) policy.WorkerView {
	switch w.Process.Phase {
	case ProcessStarting:
		v.Phase = policy.PhaseStarting
	case ProcessStopping:
		v.Phase = policy.PhaseStopping
	case ProcessBusy:
		v.Phase, v.Running = policy.PhaseBusy, 1
	case ProcessRetiring:
		// Leaving: it counts against the limit, not towards the desired
		// count, and the task it finishes is no demand on the others.
		v.Phase = policy.PhaseDraining
	default:
		v.Phase, v.IdleSince = policy.PhaseIdle, w.Process.Since
	}
	return v
}

// handleEvent applies one Celery event to the per-worker state and counts
// finished tasks.
func (s *Supervisor) handleEvent(ev events.Event) {
	if ev.Type == events.TaskSent { // from a producer: its host is not the pool's
		s.sent.sent(ev, s.queueSet)
		return
	}
	if names := s.poolNames.Load(); names != nil && !(*names)[ev.Hostname] {
		return // another host's worker (many share one Redis): not ours to track
	}
	switch ev.Type {
	case events.TaskReceived:
		s.m.tasksReceived.Inc()
	case events.TaskStarted:
		s.m.tasksStarted.Inc()
		if wait, queue, ok := s.sent.started(ev); ok {
			s.m.queueWait.WithLabelValues(queue).Observe(wait)
		}
	}
	c, done := s.tracker.Observe(ev, s.cfg.Now())
	if !done {
		return
	}
	s.m.tasksCompleted.WithLabelValues(c.Outcome).Inc()
	s.cost.finished.Add(1)
	if c.Runtime > 0 {
		s.runtime.add(c.Runtime)
		s.m.taskRuntime.Observe(c.Runtime)
	}
}

func (s *Supervisor) onEventsState(up bool) {
	if s.eventsUp.Swap(up) != up {
		if up {
			s.log.Info("task events subscribed")
		} else {
			s.log.Warn("task events subscription lost; reconnecting")
		}
	}
	s.m.eventsUp.Set(boolFloat(up))
}
