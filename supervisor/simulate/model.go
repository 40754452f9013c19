package simulate

import (
	"fmt"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// Defaults of the model, from measurements (docs/celery-on-redis.md, "Start-up times") and the
// deployment's worker options (--prefetch-multiplier=1).
const (
	DefaultSpawnTime     = 1100 * time.Millisecond // exec → first task, prefork --without-mingle --without-gossip
	DefaultPollInterval  = time.Second             // revrx-supervise --poll-interval
	DefaultPrefetch      = 1                       // prefork -c 1 --prefetch-multiplier=1 reserves one more
	DefaultStopTime      = 100 * time.Millisecond  // warm stop of an idle worker
	DefaultPoolSpawnTime = 150 * time.Millisecond  // pool engine: decision → one forked process takes tasks (docs/benchmark.md, "Why the pool engine uses fewer worker-seconds")
	DefaultPoolStopTime  = 50 * time.Millisecond   // pool engine: a stopped idle process exits
	DefaultChangeSettle  = 100 * time.Millisecond  // supervisor.ChangeSettle: a queue change settles before the decision it brings
	DefaultChangeGap     = 50 * time.Millisecond   // supervisor.MinChangeGap: least time from a decision to one a change brings
	MinHorizon           = 110 * time.Second       // the reference benchmark's window

	// DefaultPoolForkEach is what each further process forked by the same
	// decision adds to the pool engine's SpawnTime, the forks competing for
	// the CPU: BenchmarkEngineGrow7 took 0.39 s from Grow(7) to all seven
	// ready on the 2-core machine (docs/benchmark.md, "Why the pool engine uses fewer worker-seconds"),
	// (0.39 − 0.15) / 6 ≈ 0.04 s; the bench's spiky run shows the seven
	// taking their first tasks together, 0.39–0.43 s after the decision.
	DefaultPoolForkEach = 40 * time.Millisecond
	// DefaultPoolStartDelay is from the pool engine's main handing a task to
	// an idle process to the task running: the median wait of ramp's tasks
	// on idle processes, 0.011 s (make bench, 2026-12-02, runs/ramp-revrx).
	DefaultPoolStartDelay = 10 * time.Millisecond
	// DefaultCeleryStartDelay is the same for Celery's prefork pool: 0.007 s
	// (runs/ramp-celery-autoscale, same bench).
	DefaultCeleryStartDelay = 7 * time.Millisecond
	// DefaultRunOverhead is how much longer than its task_seconds a task
	// runs: the median of finished − started − task_seconds over every task
	// of the bench's burst and ramp runs, 0.7–0.9 ms for both engines.
	DefaultRunOverhead = time.Millisecond
	// DefaultCeleryForkTime is one fork of Celery's autoscaler. Its main
	// forks one process at a time, without gc.freeze(): 7 in 1.26 s
	// (docs/benchmark.md, "Why the pool engine uses fewer worker-seconds"); the bench's burst run logs
	// "Scaling up 1 processes" 7 times 0.16–0.20 s apart.
	DefaultCeleryForkTime = 180 * time.Millisecond
	// DefaultCeleryMessageDelay is from a message reaching the broker to
	// Celery's autoscaler running on it: Redis answers a blocked BRPOP on
	// localhost within about a millisecond, and Autoscaler.maybe_scale is a
	// consumer on_task_message callback, run on receipt, before the task
	// goes to a process (which takes the rest of DefaultCeleryStartDelay).
	DefaultCeleryMessageDelay = time.Millisecond
	// DefaultCeleryReadyLead is how long before the trace's t=0 Celery's
	// worker reported ready: its autoscaler also runs every keepalive from
	// then (the event loop's call_repeatedly(keepalive, maybe_scale)), and
	// that tick is the only scale-down without a message. The bench's burst
	// run: ready 07:09:47.195, first publish 07:09:47.564, scale-down at
	// 07:11:17.196 (= ready + 3 × 30 s).
	DefaultCeleryReadyLead = 370 * time.Millisecond
	maxDecisions           = 10_000_000
)

// DefaultStart is the virtual instant the simulations start at unless told
// otherwise (a Monday, midnight UTC). Schedules depend on it.
var DefaultStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// Engine is how the modelled supervisor runs its workers, as
// revrx-supervise --engine does.
type Engine string

// The engines Model.Engine accepts.
const (
	EngineWorkers Engine = "workers" // whole workers, each fetching for itself (also when empty)
	EnginePool    Engine = "pool"    // pool processes of one worker main, which fetches for them all
)

// Model is one contender: the scaling policy and the pool it drives.
type Model struct {
	Name         string        // column label, e.g. "revrx" or "celery"
	Policy       policy.Config // what policy.Decide applies
	Engine       Engine        // EngineWorkers (also when empty) or EnginePool
	Concurrency  int           // task slots per worker (1 for EnginePool)
	Prefetch     int           // tasks a worker reserves beyond its running ones (Received; 0 for EnginePool)
	Multiplier   int           // EnginePool: tasks the main holds per process not stopping, running ones included
	SpawnTime    time.Duration // from a start to online (taking tasks)
	StopTime     time.Duration // from the stop of an idle worker to gone (it counts meanwhile)
	PollInterval time.Duration // between two decisions
	PollOffset   time.Duration // when the first decision happens, in [0, PollInterval)
	ChangeSettle time.Duration // > 0: a broker change also brings a decision this much later; 0: polls only
	ChangeGap    time.Duration // a decision a change brings is at least this long after the previous one
	ForkEach     time.Duration // each further process one decision starts adds this to SpawnTime (they come online together)
	SerialForks  bool          // forks one at a time (Celery's main): each is online SpawnTime after the previous one is
	StartDelay   time.Duration // from a process taking a task to the task running (counted in its wait)
	RunOverhead  time.Duration // a task holds its process this much longer than its task_seconds
	// Groups, when set, runs one pool per queue group, each with its own
	// Decide under its part of a host budget of Policy.Max processes (see
	// "Queue groups" in the package doc); nil runs one pool for every queue.
	Groups         []Group
	RebalanceAfter time.Duration // with Groups: policy.Budget.RebalanceAfter
	// Predict, when its Length is set, replays --predict on with that
	// period: each decision's floor is the pattern learned from the
	// earlier decisions, ForecastLead ahead (predict.go); the zero value
	// is off (as --predict off and forecast, which changes no decision).
	Predict policy.Period
	// Lead, when positive, is how far ahead a predicting model's forecast
	// looks, e.g. the lead a host's /status shows (forecast.lead_seconds);
	// 0 means SpawnTime + PollInterval (ForecastLead).
	Lead time.Duration
}

// RevrxModel is revrx-supervise's workers engine with p over workers of
// concurrency slots, with the measured defaults. It decides on its polls
// only.
func RevrxModel(p policy.Config, concurrency int) Model {
	return Model{Name: string(policy.AlgorithmRevrx), Policy: p, Engine: EngineWorkers, Concurrency: concurrency,
		Prefetch: DefaultPrefetch, SpawnTime: DefaultSpawnTime, StopTime: DefaultStopTime, PollInterval: DefaultPollInterval}
}

// PoolModel is revrx-supervise's pool engine with p: one worker main whose
// prefork pool Decide sizes process by process. A process has one slot and
// reserves nothing; the main holds at most p.PrefetchMultiplier (at least
// 1) tasks per process not stopping, running ones included, and hands each
// to the idle process of the lowest index. The processes one decision
// forks take tasks together, DefaultPoolSpawnTime + DefaultPoolForkEach per
// further one after it; a task runs DefaultPoolStartDelay after a process
// takes it and DefaultRunOverhead longer than told. A stopped idle process is gone
// DefaultPoolStopTime later, and besides the polls a decision follows each
// broker change as the supervisor's queue watch has it (DefaultChangeSettle
// later, at least DefaultChangeGap after the previous decision).
func PoolModel(p policy.Config) Model {
	return Model{Name: string(policy.AlgorithmRevrx), Policy: p, Engine: EnginePool, Concurrency: 1,
		Multiplier: max(p.PrefetchMultiplier, 1), SpawnTime: DefaultPoolSpawnTime, ForkEach: DefaultPoolForkEach,
		StopTime: DefaultPoolStopTime, PollInterval: DefaultPollInterval, ChangeSettle: DefaultChangeSettle, ChangeGap: DefaultChangeGap,
		StartDelay: DefaultPoolStartDelay, RunOverhead: DefaultRunOverhead}
}

// CeleryModel is Celery's own --autoscale with p's bounds and keepalive:
// Decide with AlgorithmCelery over pool processes of one slot each. The
// main process prefetches for the whole pool (Decide caps qty at MAX ×
// multiplier), so the processes reserve nothing themselves and each takes
// the next task when it is free. The main forks one process at a time,
// DefaultCeleryForkTime each. Celery's autoscaler runs on every message
// (DefaultCeleryMessageDelay after a broker change) and on a tick every
// keepalive from the worker's ready, DefaultCeleryReadyLead before t=0
// (every DefaultPollInterval when p has no keepalive).
func CeleryModel(p policy.Config) Model {
	p.Algorithm = policy.AlgorithmCelery
	p.TasksPerWorker = 1
	p.PrefetchMultiplier = max(p.PrefetchMultiplier, 1)
	tick := DefaultPollInterval
	if p.Keepalive > 0 {
		tick = p.Keepalive
	}
	return Model{Name: string(policy.AlgorithmCelery), Policy: p, Concurrency: 1, Prefetch: 0,
		SpawnTime: DefaultCeleryForkTime, SerialForks: true, StopTime: DefaultStopTime,
		PollInterval: tick, PollOffset: (tick - DefaultCeleryReadyLead%tick) % tick, ChangeSettle: DefaultCeleryMessageDelay,
		StartDelay: DefaultCeleryStartDelay, RunOverhead: DefaultRunOverhead}
}

// Celery reports whether the model runs Celery's algorithm.
func (m Model) Celery() bool { return m.Policy.Algorithm == policy.AlgorithmCelery }

// Pool reports whether the model's workers are pool processes of one
// worker main (EnginePool).
func (m Model) Pool() bool { return m.Engine == EnginePool }

// Validate names the first field the simulation cannot run with.
func (m Model) Validate() error {
	switch {
	case m.Concurrency < 1:
		return fmt.Errorf("model %s: concurrency %d: must be at least 1", m.Name, m.Concurrency)
	case m.Prefetch < 0:
		return fmt.Errorf("model %s: prefetch %d: must not be negative", m.Name, m.Prefetch)
	case m.SpawnTime < 0:
		return fmt.Errorf("model %s: spawn time %s: must not be negative", m.Name, m.SpawnTime)
	case m.StopTime < 0:
		return fmt.Errorf("model %s: stop time %s: must not be negative", m.Name, m.StopTime)
	case m.PollInterval < time.Millisecond:
		return fmt.Errorf("model %s: poll interval %s: must be at least 1ms", m.Name, m.PollInterval)
	case m.PollOffset < 0 || m.PollOffset >= m.PollInterval:
		return fmt.Errorf("model %s: poll offset %s: must be in [0, poll interval %s)", m.Name, m.PollOffset, m.PollInterval)
	}
	if err := m.validateEngine(); err != nil {
		return fmt.Errorf("model %s: %w", m.Name, err)
	}
	if err := m.Policy.Validate(); err != nil {
		return fmt.Errorf("model %s: %w", m.Name, err)
	}
	if err := m.validateGroups(); err != nil {
		return fmt.Errorf("model %s: %w", m.Name, err)
	}
	if err := m.validatePredict(); err != nil {
		return fmt.Errorf("model %s: %w", m.Name, err)
	}
	return nil
}

// validateEngine checks the engine and the fields that depend on it.
func (m Model) validateEngine() error {
	switch {
	case m.Engine != "" && m.Engine != EngineWorkers && m.Engine != EnginePool:
		return fmt.Errorf("engine %q: accepted: %s, %s", m.Engine, EnginePool, EngineWorkers)
	case m.Pool() && m.Concurrency != 1:
		return fmt.Errorf("concurrency %d: a pool process has 1 slot", m.Concurrency)
	case m.Pool() && m.Prefetch != 0:
		return fmt.Errorf("prefetch %d: a pool process reserves nothing (the main holds multiplier × processes)", m.Prefetch)
	case m.Pool() && m.Multiplier < 1:
		return fmt.Errorf("multiplier %d: must be at least 1", m.Multiplier)
	case m.ChangeSettle != 0 && m.ChangeSettle < time.Millisecond:
		return fmt.Errorf("change settle %s: must be 0 (polls only) or at least 1ms", m.ChangeSettle)
	case m.ChangeGap < 0:
		return fmt.Errorf("change gap %s: must not be negative", m.ChangeGap)
	case m.ForkEach < 0 || m.StartDelay < 0 || m.RunOverhead < 0:
		return fmt.Errorf("fork each %s, start delay %s, run overhead %s: must not be negative", m.ForkEach, m.StartDelay, m.RunOverhead)
	}
	return nil
}
