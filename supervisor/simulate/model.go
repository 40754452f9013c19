package simulate

import (
	"fmt"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// Defaults of the model, from measurements (docs/celery-on-redis.md, "Start-up times") and the
// deployment's worker options (--prefetch-multiplier=1).
const (
	DefaultSpawnTime          = 1100 * time.Millisecond // exec → first task, prefork --without-mingle --without-gossip
	DefaultPollInterval       = time.Second             // revrx-supervise --poll-interval
	DefaultPrefetch           = 1                       // prefork -c 1 --prefetch-multiplier=1 reserves one more
	DefaultStopTime           = 100 * time.Millisecond  // warm stop of an idle worker
	DefaultCelerySpawnTime    = 200 * time.Millisecond  // Celery's autoscaler forks a pool process
	DefaultCeleryPollInterval = 100 * time.Millisecond  // stands in for Celery's scale-up on every message
	DefaultPoolSpawnTime      = 150 * time.Millisecond  // pool engine: decision → a forked process takes tasks (a placeholder to calibrate)
	DefaultPoolStopTime       = 50 * time.Millisecond   // pool engine: a stopped idle process exits
	DefaultChangeSettle       = 100 * time.Millisecond  // supervisor.ChangeSettle: a queue change settles before the decision it brings
	DefaultChangeGap          = 50 * time.Millisecond   // supervisor.MinChangeGap: least time from a decision to one a change brings
	MinHorizon                = 110 * time.Second       // the reference benchmark's window
	maxDecisions              = 10_000_000
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
// to the process that has been free longest. A fork takes tasks
// DefaultPoolSpawnTime after the decision, a stopped idle process is gone
// DefaultPoolStopTime later, and besides the polls a decision follows each
// broker change as the supervisor's queue watch has it (DefaultChangeSettle
// later, at least DefaultChangeGap after the previous decision).
func PoolModel(p policy.Config) Model {
	return Model{Name: string(policy.AlgorithmRevrx), Policy: p, Engine: EnginePool, Concurrency: 1,
		Multiplier: max(p.PrefetchMultiplier, 1), SpawnTime: DefaultPoolSpawnTime, StopTime: DefaultPoolStopTime,
		PollInterval: DefaultPollInterval, ChangeSettle: DefaultChangeSettle, ChangeGap: DefaultChangeGap}
}

// CeleryModel is Celery's own --autoscale with p's bounds and keepalive:
// Decide with AlgorithmCelery over pool processes of one slot each. The
// main process prefetches for the whole pool (Decide caps qty at MAX ×
// multiplier), so the processes reserve nothing themselves and each takes
// the next task when it is free. Processes fork in DefaultCelerySpawnTime;
// Celery scales up on every message, modelled by deciding every
// DefaultCeleryPollInterval.
func CeleryModel(p policy.Config) Model {
	p.Algorithm = policy.AlgorithmCelery
	p.TasksPerWorker = 1
	p.PrefetchMultiplier = max(p.PrefetchMultiplier, 1)
	return Model{Name: string(policy.AlgorithmCelery), Policy: p, Concurrency: 1, Prefetch: 0,
		SpawnTime: DefaultCelerySpawnTime, StopTime: DefaultStopTime, PollInterval: DefaultCeleryPollInterval}
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
	}
	return nil
}
