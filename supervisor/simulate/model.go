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
	MinHorizon                = 110 * time.Second       // the reference benchmark's window
	maxDecisions              = 10_000_000
)

// DefaultStart is the virtual instant the simulations start at unless told
// otherwise (a Monday, midnight UTC). Schedules depend on it.
var DefaultStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// Model is one contender: the scaling policy and the pool it drives.
type Model struct {
	Name         string        // column label, e.g. "revrx" or "celery"
	Policy       policy.Config // what policy.Decide applies
	Concurrency  int           // task slots per worker
	Prefetch     int           // tasks a worker reserves beyond its running ones (Received)
	SpawnTime    time.Duration // from a start to online (taking tasks)
	StopTime     time.Duration // from the stop of an idle worker to gone (it counts meanwhile)
	PollInterval time.Duration // between two decisions
	PollOffset   time.Duration // when the first decision happens, in [0, PollInterval)
}

// RevrxModel is revrx-supervise with p over workers of concurrency slots,
// with the measured defaults.
func RevrxModel(p policy.Config, concurrency int) Model {
	return Model{Name: string(policy.AlgorithmRevrx), Policy: p, Concurrency: concurrency, Prefetch: DefaultPrefetch,
		SpawnTime: DefaultSpawnTime, StopTime: DefaultStopTime, PollInterval: DefaultPollInterval}
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
	if err := m.Policy.Validate(); err != nil {
		return fmt.Errorf("model %s: %w", m.Name, err)
	}
	return nil
}
