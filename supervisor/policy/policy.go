package policy

import (
	"fmt"
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
	StrategyForecast Strategy = "forecast" // the floor learned from the app's own pattern (Pattern)
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
	StopRebalance      StopReason = "rebalance"       // another queue group waits for the host budget
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
	Reserved   int           // tasks a worker main holds that none of its pool processes took yet (pool engine)
	OldestWait time.Duration // age of the oldest due message waiting in any consumed queue
	BrokerOK   bool          // Waiting comes from a read that just succeeded; when false nothing is stopped
	Workers    []WorkerView
	Host       HostUsage // host CPU and memory use, for the guard
	History    History   // what earlier decisions left for this one
	// Budget is a queue group's part of the host budget (Allocate); nil
	// outside groups. Its Limit caps the workers alive, leaving ones
	// included, below Max, even below Min until other groups give processes
	// back; with Yield, idle workers above it go now rather than after
	// their keepalive. Busy ones are never stopped.
	Budget *Allocation
	// Forecast is the learned floor in force (Pattern.Forecast over the
	// next start-up lead); 0 when there is none. It raises the desired
	// count as a schedule's floor does, within the bounds, the budget and
	// the guard, and never lowers anything.
	Forecast int
}

// Stop is one worker Decide wants warm-stopped, and why (a metric label).
type Stop struct {
	Name   string
	Reason StopReason
}

// Decision is what Decide wants done, and why.
type Decision struct {
	Demand  int64    // waiting + received + running tasks
	Wanted  int      // the winning strategy's count before the bounds
	Desired int      // the target after guard, bounds and behavior
	Current int      // workers that count towards Desired (all but draining and stopping ones)
	Reclaim []string // draining workers to take back (consumers re-added) before any start
	Start   int      // workers to start now
	Stop    []Stop   // workers to warm-stop now
	// Retire is how many busy pool processes to retire (with Budget.Yield
	// only, once the idle ones above the limit are stopped): each takes no
	// new task and is stopped once its current one ends.
	Retire   int
	Strategy Strategy      // the strategy that set Wanted
	Blocked  BlockedReason // why a scale-up was held back, or "" when it was not
	Reason   string        // one line naming the inputs that led here
	History  History       // to pass to the next Decide
}

// Unmet is the number of workers the demand asks for above the upper bound:
// the signal an outer autoscaler (HPA/KEDA) uses to add hosts.
func (d Decision) Unmet(p Config) int { return max(0, d.Wanted-p.Max) }

// StopNames lists the names in d.Stop.
func (d Decision) StopNames() []string {
	names := make([]string, len(d.Stop))
	for i, s := range d.Stop {
		names[i] = s.Name
	}
	return names
}
