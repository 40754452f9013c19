//go:build linux

package pool

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Defaults applied by New (and by Validate) to zero-valued Config fields.
const (
	DefaultNameTemplate      = "worker{n}@%h"
	DefaultConcurrency       = 1
	DefaultPool              = "prefork"
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultMinBackoff        = 1 * time.Second
	DefaultMaxBackoff        = 30 * time.Second
	DefaultFailedStartWindow = 10 * time.Second
	DefaultDrainGrace        = 1100 * time.Millisecond
	DefaultPrefetch          = 1
)

// DefaultCommand is the command prefix used when Config.Command is empty.
var DefaultCommand = []string{"celery"}

// validPools are the values celery 5.2.6 accepts for --pool.
var validPools = map[string]bool{
	"prefork": true, "eventlet": true, "gevent": true,
	"solo": true, "processes": true, "threads": true,
}

// Config describes the workers a Pool starts. The zero value of every field
// except Command means "use the default"; New never modifies the caller's copy.
type Config struct {
	// Command is the command prefix, e.g. ["celery"] or
	// ["/usr/bin/python3", "-m", "celery"]. Empty means DefaultCommand.
	Command []string
	// App is passed as -A APP before the "worker" subcommand; empty omits -A
	// (Celery then reads CELERY_APP from the environment).
	App string
	// Queues are passed as -Q q1,q2; empty omits -Q.
	Queues []string
	// Concurrency is passed as --concurrency; 0 means DefaultConcurrency.
	Concurrency int
	// Pool is passed as --pool; empty means DefaultPool.
	Pool string
	// NameTemplate is the worker node name. {n} is the slot number (1-based)
	// and must appear; %h, %n and %d are expanded here, exactly as Celery's
	// host_format does, from os.Hostname (full name, name without domain,
	// domain). A template without "@" gets Celery's "celery@" prefix, so the
	// name the pool reports equals the hostname Celery puts in its events.
	NameTemplate string
	// PrefetchMultiplier is passed as --prefetch-multiplier; 0 means
	// DefaultPrefetch (one reserved task per pool process, so a worker never
	// hoards tasks an idle sibling could run).
	PrefetchMultiplier int
	// Host, if set, forks the workers from an app host that has imported
	// the app once (see AppHost); while it is not ready, workers are exec'd.
	// Nil execs every worker. The last pool using the host closes it at the end of its Run.
	Host *AppHost
	// ExtraArgs are appended after everything else, so single-valued options
	// given here override the pool's defaults (click keeps the last value).
	ExtraArgs []string
	// Env is added to os.Environ() for every child ("KEY=value"); a key given
	// here overrides the inherited one. Secrets such as the broker URL travel
	// here, never in argv.
	Env []string
	// ShutdownTimeout is how long a warm stop (SIGTERM to the main PID) may
	// take before the worker's whole process group is SIGKILLed.
	ShutdownTimeout time.Duration
	// MinBackoff and MaxBackoff bound the restart delay after an unexpected
	// exit: MinBackoff·2^k, capped at MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// FailedStartWindow: an exit within this long after the start is a failed
	// start. A worker that stayed up for 2·FailedStartWindow resets its backoff.
	FailedStartWindow time.Duration
	// Logger receives the pool's own messages and the children's output
	// (Logger.With("worker", name), level info, "stream" stdout|stderr).
	// Nil discards everything.
	Logger *slog.Logger
	// Control, if set, makes every stop safe on Redis: the worker's
	// consumers are cancelled first (kombu 5.2 loses a message Redis hands
	// to a worker during its warm shutdown: the BRPOP in flight is never
	// read), the warm stop follows DrainGrace after the worker confirmed,
	// and until then the worker can be taken back (Reclaim). A solo worker
	// gets Celery's remote-control shutdown instead of SIGTERM. Nil: SIGTERM
	// at once, no take-back.
	Control RemoteControl
	// DrainGrace is the wait between the drain's confirmation and the warm stop:
	// default 1.1 s, kombu's BRPOP timeout (1 s, the longest a poll issued
	// before the drain can still be in flight) plus a margin.
	DrainGrace time.Duration
	// AcksLate is the app's task_acks_late: a worker that logged Celery's
	// "Unrecoverable error" is then SIGKILLed at once (see fatalGrace).
	AcksLate bool
	// MaxWorkers, if positive, caps the slots: Add fails with ErrFull while
	// that many exist, stopping ones included.
	MaxWorkers int
	// Reap makes Run reap orphaned processes re-parented to this process (set
	// it when running as PID 1 or as a child subreaper). Managed workers are
	// never reaped by the reaper, so no exit status is lost.
	Reap bool

	// attach, set by NewEngine, makes every worker a pool-engine main.
	attach attacher
}

// attacher gives each start of a pool-engine main the worker's end of a
// fresh control socket and the extension's settings (attach), and hears
// when that start failed (detach).
type attacher interface {
	attach(name string) (end *os.File, settings map[string]any, err error)
	detach()
}

// ConfigError reports the Config field that is invalid.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("pool config: %s: %s", e.Field, e.Reason)
}

// withDefaults returns a copy of c with defaults filled in.
func (c Config) withDefaults() Config {
	if len(c.Command) == 0 {
		c.Command = DefaultCommand
	}
	if c.NameTemplate == "" {
		c.NameTemplate = DefaultNameTemplate
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Pool == "" {
		c.Pool = DefaultPool
	}
	if c.PrefetchMultiplier == 0 {
		c.PrefetchMultiplier = DefaultPrefetch
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.DrainGrace == 0 {
		c.DrainGrace = DefaultDrainGrace
	}
	if c.FailedStartWindow == 0 {
		c.FailedStartWindow = DefaultFailedStartWindow
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first invalid field of c (after defaults are applied)
// as a *ConfigError.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if c.Command[0] == "" {
		return bad("Command", "the program name is empty")
	}
	if c.Concurrency < 0 {
		return bad("Concurrency", "must be positive, got %d", c.Concurrency)
	}
	if c.PrefetchMultiplier < 0 {
		return bad("PrefetchMultiplier", "must be positive, got %d", c.PrefetchMultiplier)
	}
	if !validPools[c.Pool] {
		return bad("Pool", "unknown pool %q (prefork, eventlet, gevent, solo, processes, threads)", c.Pool)
	}
	for _, q := range c.Queues {
		if q == "" || strings.ContainsAny(q, ", \t") {
			return bad("Queues", "invalid queue name %q", q)
		}
	}
	if err := checkTemplate(c.NameTemplate); err != nil {
		return bad("NameTemplate", "%s", err.Error())
	}
	for i, kv := range c.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return bad("Env", "entry %d is not KEY=value", i) // never echo a value: it may be a secret
		}
	}
	if c.ShutdownTimeout < 0 {
		return bad("ShutdownTimeout", "must not be negative")
	}
	if c.MinBackoff < 0 || c.MaxBackoff < 0 {
		return bad("MinBackoff", "backoff must not be negative")
	}
	if c.MinBackoff > c.MaxBackoff {
		return bad("MaxBackoff", "%s is below MinBackoff %s", c.MaxBackoff, c.MinBackoff)
	}
	if c.FailedStartWindow < 0 {
		return bad("FailedStartWindow", "must not be negative")
	}
	return nil
}
