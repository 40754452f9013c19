package supervisor

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Phase is what a supervised worker is doing, as the policy sees it.
type Phase string

// The phases a worker goes through. A worker is Starting from its exec until
// Celery announces it online, then Idle or Busy by its task events, Stopping
// once a warm stop was sent, and in Backoff while the pool waits to restart it.
const (
	PhaseStarting Phase = "starting"
	PhaseIdle     Phase = "idle"
	PhaseBusy     Phase = "busy"
	PhaseStopping Phase = "stopping"
	PhaseBackoff  Phase = "backoff"
)

// Phases lists every phase, in the order metrics and status report them.
var Phases = []Phase{PhaseStarting, PhaseIdle, PhaseBusy, PhaseStopping, PhaseBackoff}

// Policy is the scaling configuration Decide applies.
type Policy struct {
	Min, Max       int           // bounds on the number of workers
	TasksPerWorker int           // target demand per worker (the worker concurrency by default)
	Keepalive      time.Duration // how long a worker must have been idle before it may be stopped
}

// Validate reports the first field that Decide cannot work with.
func (p Policy) Validate() error {
	switch {
	case p.Max < 1:
		return fmt.Errorf("policy: max workers %d: must be at least 1", p.Max)
	case p.Min < 0 || p.Min > p.Max:
		return fmt.Errorf("policy: min workers %d: must be between 0 and max (%d)", p.Min, p.Max)
	case p.TasksPerWorker < 1:
		return fmt.Errorf("policy: tasks per worker %d: must be at least 1", p.TasksPerWorker)
	case p.Keepalive <= 0:
		return fmt.Errorf("policy: keepalive %s: must be positive", p.Keepalive)
	}
	return nil
}

// WorkerView is one worker as the policy sees it.
type WorkerView struct {
	Name      string
	Slot      int
	Phase     Phase
	Received  int       // tasks received (prefetched) and not started
	Running   int       // tasks running
	IdleSince time.Time // when it last became idle; zero unless Phase is PhaseIdle
}

// Observation is everything Decide needs to know about the world at one instant.
type Observation struct {
	Waiting  int64 // messages waiting in the broker over all consumed queues (the last good reading)
	BrokerOK bool  // Waiting comes from a read that just succeeded; when false nothing is stopped
	Workers  []WorkerView
}

// Decision is what Decide wants done, and why.
type Decision struct {
	Demand  int64    // waiting + received + running tasks
	Wanted  int      // ceil(Demand / TasksPerWorker) before the bounds
	Desired int      // Wanted within [Min, Max]
	Current int      // workers that count towards Desired (all but stopping ones)
	Start   int      // workers to start now
	Stop    []string // idle workers to warm-stop now, by name
	Reason  string   // one line naming the inputs that led here
}

// Unmet is the number of workers the demand asks for above Max: the signal an
// outer autoscaler (HPA/KEDA) uses to add hosts.
func (d Decision) Unmet(p Policy) int { return max(0, d.Wanted-p.Max) }

// Decide computes the desired number of workers and the actions that move the
// pool towards it. It is pure: no I/O and no clock reads, now is given.
//
// Up is immediate. Down only stops workers that are idle, each idle for at
// least the keepalive, never a busy or starting one, never below Desired,
// and never while the broker reading is stale.
func Decide(obs Observation, now time.Time, p Policy) Decision {
	var d Decision
	var received, running int
	for _, w := range obs.Workers {
		received += w.Received
		running += w.Running
		if w.Phase != PhaseStopping {
			d.Current++
		}
	}
	d.Demand = obs.Waiting + int64(received) + int64(running)
	d.Wanted = int((d.Demand + int64(p.TasksPerWorker) - 1) / int64(p.TasksPerWorker))
	d.Desired = min(max(d.Wanted, p.Min), p.Max)
	inputs := fmt.Sprintf("%d waiting, %d reserved, %d running", obs.Waiting, received, running)

	switch {
	case d.Desired > d.Current:
		d.Start = d.Desired - d.Current
		d.Reason = fmt.Sprintf("%s -> %d%s", inputs, d.Desired, bound(d, p))
	case d.Desired < d.Current && !obs.BrokerOK:
		d.Reason = fmt.Sprintf("%s -> %d, holding %d: broker reading is stale", inputs, d.Desired, d.Current)
	case d.Desired < d.Current:
		d.Stop = idleLongest(obs.Workers, now, p.Keepalive, d.Current-d.Desired)
		d.Reason = fmt.Sprintf("%s -> %d%s; %d idle for %s", inputs, d.Desired, bound(d, p), len(d.Stop), p.Keepalive)
	default:
		d.Reason = fmt.Sprintf("%s -> %d%s", inputs, d.Desired, bound(d, p))
	}
	return d
}

// bound names the limit that clamped the decision, if any.
func bound(d Decision, p Policy) string {
	switch {
	case d.Wanted > p.Max:
		return " (max)"
	case d.Wanted < p.Min:
		return " (min)"
	}
	return ""
}

// idleLongest returns up to n idle workers that have been idle for at least
// keepalive, the longest idle first, the highest slot first on a tie.
func idleLongest(workers []WorkerView, now time.Time, keepalive time.Duration, n int) []string {
	var idle []WorkerView
	for _, w := range workers {
		if w.Phase == PhaseIdle && w.Received == 0 && w.Running == 0 &&
			!w.IdleSince.IsZero() && now.Sub(w.IdleSince) >= keepalive {
			idle = append(idle, w)
		}
	}
	slices.SortFunc(idle, func(a, b WorkerView) int {
		if c := a.IdleSince.Compare(b.IdleSince); c != 0 {
			return c
		}
		return cmp.Compare(b.Slot, a.Slot)
	})
	names := make([]string, 0, min(n, len(idle)))
	for _, w := range idle[:min(n, len(idle))] {
		names = append(names, w.Name)
	}
	return names
}
