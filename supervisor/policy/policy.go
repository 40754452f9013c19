package policy

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Phase is what a supervised worker is doing, as the policy sees it.
type Phase string

// The phases a worker goes through. A worker is Starting from its exec until
// Celery announces it online, then Idle or Busy by its task events, Draining
// once its stop was requested (its consumers are being cancelled; it can
// still be taken back), Stopping once the warm stop was sent, and in Backoff
// while the pool waits to restart it.
const (
	PhaseStarting Phase = "starting"
	PhaseIdle     Phase = "idle"
	PhaseBusy     Phase = "busy"
	PhaseDraining Phase = "draining"
	PhaseStopping Phase = "stopping"
	PhaseBackoff  Phase = "backoff"
)

// Phases lists every phase, in the order metrics and status report them.
var Phases = []Phase{PhaseStarting, PhaseIdle, PhaseBusy, PhaseDraining, PhaseStopping, PhaseBackoff}

// leaving reports whether a worker in phase ph is on its way out: it does
// not count towards the desired workers, but its process still counts
// against Max until it exits.
func (ph Phase) leaving() bool { return ph == PhaseDraining || ph == PhaseStopping }

// Algorithm is the scaling algorithm Decide runs (Config.Algorithm, the
// --policy flag).
type Algorithm string

// The algorithms Config.Algorithm accepts.
const (
	AlgorithmRevrx  Algorithm = "revrx"  // the strategies below, combined
	AlgorithmCelery Algorithm = "celery" // Celery's own --autoscale algorithm (celery.go)
)

// Strategy names what set a decision's Wanted count: Decision.Strategy, and
// the reason label of a scale-up in revrx_scaling_events_total.
type Strategy string

// The strategies. Under AlgorithmRevrx each active one proposes a count and
// the largest wins; StrategyCelery is AlgorithmCelery's only one.
const (
	StrategyQueue    Strategy = "queue"    // demand over tasks-per-worker
	StrategyWait     Strategy = "wait"     // the oldest message waits longer than the target
	StrategySchedule Strategy = "schedule" // a time-of-day schedule's floor
	StrategyMin      Strategy = "min"      // the static lower bound
	StrategyCelery   Strategy = "celery"   // Celery's own --autoscale algorithm
)

// StopReason is why Decide stops a worker: Stop.Reason, and the reason
// label of a scale-down in revrx_scaling_events_total.
type StopReason string

// The stop reasons.
const (
	StopIdle           StopReason = "idle"            // idle for the keepalive, or the surplus lasted it
	StopMemoryPressure StopReason = "memory_pressure" // host memory above the critical ratio
	StopWorkerMemory   StopReason = "worker_memory"   // the worker's own memory above its limit
)

// BlockedReason is why a scale-up was held back: Decision.Blocked, and the
// label of revrx_scaling_blocked_total. The zero value means not blocked.
type BlockedReason string

// The blocked reasons.
const (
	BlockedCPU      BlockedReason = "cpu"      // the host's CPU is above the guard
	BlockedMemory   BlockedReason = "memory"   // the host's memory is above the guard
	BlockedBehavior BlockedReason = "behavior" // the HPA behavior's scale-up policies
	BlockedStopping BlockedReason = "stopping" // leaving workers still count against Max
)

// BlockedReasons lists every BlockedReason, for metrics.
var BlockedReasons = []BlockedReason{BlockedCPU, BlockedMemory, BlockedBehavior, BlockedStopping}

// Config is the scaling configuration Decide applies. The zero value of each
// optional strategy turns it off.
type Config struct {
	Algorithm      Algorithm     // AlgorithmRevrx (default; also when empty) or AlgorithmCelery
	Min, Max       int           // bounds on the number of workers
	TasksPerWorker int           // target demand per worker (the worker concurrency by default)
	Keepalive      time.Duration // how long a worker must have been idle before it may be stopped
	Tolerance      float64       // HPA tolerance: no change while demand/capacity is within 1±Tolerance
	TargetWait     time.Duration // queue-wait target: scale up while the oldest message waits longer
	Guard          Guard         // host CPU/memory guard and per-worker memory limit
	Schedules      []Schedule    // time-of-day floors (and ceilings)
	Location       *time.Location
	Behavior       *Behavior // HPA behavior; nil: up at once, down per keepalive
	// PrefetchMultiplier models Celery's prefetch window for AlgorithmCelery
	// (the pool reserves at most Max × PrefetchMultiplier tasks).
	PrefetchMultiplier int
}

// Validate reports the first field that Decide cannot work with.
func (p Config) Validate() error {
	switch {
	case p.Algorithm != "" && p.Algorithm != AlgorithmRevrx && p.Algorithm != AlgorithmCelery:
		return fmt.Errorf("policy: algorithm %q: accepted: %s, %s", p.Algorithm, AlgorithmRevrx, AlgorithmCelery)
	case p.Max < 1:
		return fmt.Errorf("policy: max workers %d: must be at least 1", p.Max)
	case p.Min < 0 || p.Min > p.Max:
		return fmt.Errorf("policy: min workers %d: must be between 0 and max (%d)", p.Min, p.Max)
	case p.TasksPerWorker < 1:
		return fmt.Errorf("policy: tasks per worker %d: must be at least 1", p.TasksPerWorker)
	case p.Keepalive <= 0:
		return fmt.Errorf("policy: keepalive %s: must be positive", p.Keepalive)
	case p.Tolerance < 0 || p.Tolerance >= 1:
		return fmt.Errorf("policy: tolerance %g: must be in [0, 1)", p.Tolerance)
	case p.TargetWait < 0:
		return fmt.Errorf("policy: target wait %s: must not be negative", p.TargetWait)
	case p.PrefetchMultiplier < 0:
		return fmt.Errorf("policy: prefetch multiplier %d: must not be negative", p.PrefetchMultiplier)
	}
	if err := p.Guard.Validate(); err != nil {
		return err
	}
	for _, s := range p.Schedules {
		if err := s.Validate(p.Max); err != nil {
			return err
		}
	}
	if p.Behavior != nil {
		return p.Behavior.Validate()
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
	Memory    uint64    // RSS of its process tree in bytes; 0 if unknown
}

// Idle reports whether w is idle and holds no task (none received, none
// running): the only kind of worker Decide ever stops.
func (w WorkerView) Idle() bool { return w.Phase == PhaseIdle && w.Received == 0 && w.Running == 0 }

// Observation is everything Decide needs to know about the world at one instant.
type Observation struct {
	Waiting    int64         // messages waiting in the broker over all consumed queues (the last good reading)
	OldestWait time.Duration // age of the oldest due message waiting in any consumed queue
	BrokerOK   bool          // Waiting comes from a read that just succeeded; when false nothing is stopped
	Workers    []WorkerView
	Host       HostUsage // host CPU and memory use, for the guard
	History    History   // what earlier decisions left for this one
}

// Stop is one worker Decide wants warm-stopped, and why (a metric label).
type Stop struct {
	Name   string
	Reason StopReason
}

// Decision is what Decide wants done, and why.
type Decision struct {
	Demand   int64         // waiting + received + running tasks
	Wanted   int           // the winning strategy's count before the bounds
	Desired  int           // the target after guard, bounds and behavior
	Current  int           // workers that count towards Desired (all but draining and stopping ones)
	Reclaim  []string      // draining workers to take back (consumers re-added) before any start
	Start    int           // workers to start now
	Stop     []Stop        // workers to warm-stop now
	Strategy Strategy      // the strategy that set Wanted
	Blocked  BlockedReason // why a scale-up was held back, or "" when it was not
	Reason   string        // one line naming the inputs that led here
	History  History       // to pass to the next Decide
}

// Unmet is the number of workers the demand asks for above the upper bound:
// the signal an outer autoscaler (HPA/KEDA) uses to add hosts.
func (d Decision) Unmet(p Config) int { return max(0, d.Wanted-p.Max) }

// proposal is one strategy's count of workers, with its name.
type proposal struct {
	count    int
	strategy Strategy
}

// Decide computes the desired number of workers and the actions that move the
// pool towards it. It is pure: no I/O and no clock reads, now is given.
//
// Each active strategy proposes a count and the largest wins (as HPA combines
// metrics); then the resource guard, the bounds (MIN raised or lowered by a
// schedule) and the HPA behavior apply. Up is immediate unless the behavior
// limits it. Down only stops workers that are idle, each idle for at least
// the keepalive, never a busy or starting one, and never while the broker
// reading is stale; under memory pressure idle workers are shed early.
func Decide(obs Observation, now time.Time, p Config) Decision {
	if p.Algorithm == AlgorithmCelery {
		return decideCelery(obs, now, p)
	}
	d := Decision{History: obs.History.prune(now, p.Behavior)}
	var received, running int
	for _, w := range obs.Workers {
		received += w.Received
		running += w.Running
		if !w.Phase.leaving() {
			d.Current++
		}
	}
	d.Demand = obs.Waiting + int64(received) + int64(running)
	lo, hi, sched := p.Bounds(now)

	best := proposal{count: lo, strategy: StrategyMin}
	if sched != "" {
		best.strategy = StrategySchedule
	}
	for _, c := range []proposal{
		{queueProposal(d.Demand, d.Current, p), StrategyQueue},
		{waitProposal(obs.OldestWait, obs.Waiting, d.Current, p), StrategyWait},
	} {
		if c.count > best.count {
			best = c
		}
	}
	d.Wanted, d.Strategy = best.count, best.strategy
	target := min(max(d.Wanted, lo), hi)
	if target > d.Current {
		if why := p.Guard.blocksUp(obs.Host); why != "" {
			target, d.Blocked = d.Current, why
		}
	}
	if p.Behavior != nil {
		limited := p.Behavior.apply(target, d.Current, now, &d.History)
		if limited != target && target > d.Current && d.Blocked == "" {
			d.Blocked = BlockedBehavior
		}
		target = min(max(limited, lo), hi)
	}
	d.Desired = target
	inputs := fmt.Sprintf("%d waiting, %d reserved, %d running", obs.Waiting, received, running)
	if obs.OldestWait > 0 {
		inputs += fmt.Sprintf(", oldest waiting %s", obs.OldestWait.Round(100*time.Millisecond))
	}
	d.Reason = fmt.Sprintf("%s -> %d by %s%s", inputs, d.Desired, d.Strategy, boundNote(d, lo, hi))
	if d.Blocked != "" {
		d.Reason += fmt.Sprintf(" (scale-up blocked: %s)", d.Blocked)
	}

	if d.Desired >= d.Current {
		d.History.SurplusSince = time.Time{}
	} else if d.History.SurplusSince.IsZero() {
		d.History.SurplusSince = now
	}
	switch {
	case d.Desired > d.Current:
		d.grow(obs.Workers, p.Max)
	case !obs.BrokerOK:
		if d.Desired < d.Current {
			d.Reason += fmt.Sprintf(", holding %d: broker reading is stale", d.Current)
		}
	default:
		surplusFor := time.Duration(0)
		if !d.History.SurplusSince.IsZero() {
			surplusFor = now.Sub(d.History.SurplusSince)
		}
		d.Stop = stops(obs.Workers, now, p, obs.Host, d.Current-max(d.Desired, 0), surplusFor)
		if len(d.Stop) > 0 {
			// The surplus was acted on: what remains of it waits again.
			d.History.SurplusSince = time.Time{}
			if d.Current-len(d.Stop) > d.Desired {
				d.History.SurplusSince = now
			}
		}
	}
	d.History.record(now, len(d.Reclaim)+d.Start-len(d.Stop))
	return d
}

// grow moves the pool up to Desired without ever exceeding max worker
// processes: it takes back draining workers first (the lowest slots), then
// starts new ones only in the room that the workers still alive, leaving
// ones included, leave under max. What the room cannot hold waits for the
// leaving workers to exit (Blocked "stopping").
func (d *Decision) grow(workers []WorkerView, maxProcs int) {
	need := d.Desired - d.Current
	var draining []WorkerView
	for _, w := range workers {
		if w.Phase == PhaseDraining {
			draining = append(draining, w)
		}
	}
	slices.SortFunc(draining, func(a, b WorkerView) int { return cmp.Compare(a.Slot, b.Slot) })
	for _, w := range draining[:min(need, len(draining))] {
		d.Reclaim = append(d.Reclaim, w.Name)
	}
	need -= len(d.Reclaim)
	room := max(maxProcs-len(workers), 0)
	d.Start = min(need, room)
	if held := need - d.Start; held > 0 {
		if d.Blocked == "" {
			d.Blocked = BlockedStopping
		}
		d.Reason += fmt.Sprintf(", %d held: %d leaving workers still count against max %d", held, len(workers)-d.Current, maxProcs)
	}
	if len(d.Reclaim) > 0 {
		d.Reason += fmt.Sprintf(", taking back %d draining", len(d.Reclaim))
	}
}

// queueProposal is demand over tasks-per-worker, rounded up, held at the
// current count while the ratio stays within the tolerance band.
func queueProposal(demand int64, current int, p Config) int {
	want := int((demand + int64(p.TasksPerWorker) - 1) / int64(p.TasksPerWorker))
	if p.Tolerance > 0 && current > 0 {
		ratio := float64(demand) / float64(current*p.TasksPerWorker)
		if ratio >= 1-p.Tolerance && ratio <= 1+p.Tolerance {
			return current
		}
	}
	return want
}

// boundNote names the limit that clamped the decision, if any.
func boundNote(d Decision, lo, hi int) string {
	switch {
	case d.Wanted > hi:
		return fmt.Sprintf(" (max %d)", hi)
	case d.Wanted < lo:
		return fmt.Sprintf(" (min %d)", lo)
	}
	return ""
}

// stops picks the workers to warm-stop: workers over their memory limit once
// idle (they are replaced on the next decision), then, up to excess, idle
// workers that have been idle for the keepalive, or any idle worker once the
// surplus itself has lasted the keepalive (surplusFor), or under memory
// pressure. The second rule matters under a trickle: the broker hands tasks
// to idle workers in turn, so each one's idle time keeps restarting while
// the pool as a whole stays far above what the demand needs.
func stops(workers []WorkerView, now time.Time, p Config, host HostUsage, excess int, surplusFor time.Duration) []Stop {
	var out []Stop
	stopping := map[string]bool{}
	for _, w := range workers {
		if w.Idle() && p.Guard.MaxWorkerMemory > 0 && w.Memory > p.Guard.MaxWorkerMemory {
			out = append(out, Stop{Name: w.Name, Reason: StopWorkerMemory})
			stopping[w.Name] = true
		}
	}
	excess -= len(out)
	if excess <= 0 {
		return out
	}
	keepalive, reason := p.Keepalive, StopIdle
	switch {
	case p.Guard.underPressure(host):
		keepalive, reason = 0, StopMemoryPressure
	case surplusFor >= p.Keepalive:
		keepalive = 0
	}
	var idle []WorkerView
	for _, w := range workers {
		if w.Idle() && !stopping[w.Name] && !w.IdleSince.IsZero() && now.Sub(w.IdleSince) >= keepalive {
			idle = append(idle, w)
		}
	}
	slices.SortFunc(idle, func(a, b WorkerView) int {
		if c := a.IdleSince.Compare(b.IdleSince); c != 0 {
			return c
		}
		return cmp.Compare(b.Slot, a.Slot)
	})
	for _, w := range idle[:min(excess, len(idle))] {
		out = append(out, Stop{Name: w.Name, Reason: reason})
	}
	return out
}

// StopNames lists the names in d.Stop.
func (d Decision) StopNames() []string {
	names := make([]string, len(d.Stop))
	for i, s := range d.Stop {
		names[i] = s.Name
	}
	return names
}
