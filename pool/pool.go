//go:build linux

package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrShuttingDown is returned by Add once Run's shutdown has begun (or
	// Kill was called).
	ErrShuttingDown = errors.New("pool is shutting down")
	// ErrUnknownWorker is returned by Stop for a name the pool does not have.
	ErrUnknownWorker = errors.New("unknown worker")
	// ErrKilled is wrapped by Run's error when at least one worker did not
	// exit within ShutdownTimeout (or Kill was used) and was SIGKILLed.
	ErrKilled = errors.New("workers killed")
	// ErrNotDraining is returned by Reclaim once a worker's warm stop was sent.
	ErrNotDraining = errors.New("worker is not draining")
	// ErrFull is returned by Add while Config.MaxWorkers slots exist.
	ErrFull = errors.New("pool is at its maximum")
	// ErrUnclean is wrapped by Run's error when the exit status of a worker
	// stopped by the shutdown was lost (e.g. reaped by another waiter).
	ErrUnclean = errors.New("workers stopped uncleanly")
)

// State is the lifecycle state of a worker slot.
type State string

const (
	// Starting: the start request is in flight; there is no PID yet.
	Starting State = "starting"
	// Running: the process is alive. Readiness (Celery's "ready") is for the
	// caller to learn from events.
	Running State = "running"
	// Draining: a stop was requested and the worker's consumers are being
	// cancelled (Config.Control); until the warm stop is sent, Reclaim can
	// take it back.
	Draining State = "draining"
	// Stopping: a warm stop (SIGTERM to the main PID) was sent, or the slot
	// is being removed; it is not restarted.
	Stopping State = "stopping"
	// Backoff: the process exited unexpectedly; a restart is scheduled.
	Backoff State = "backoff"
)

// Log keys used by the pool.
const (
	keyWorker  = "worker"
	keyStream  = "stream"
	keyLines   = "lines"
	keyStatus  = "status"
	keyPID     = "pid"
	keyUptime  = "uptime"
	keyDelay   = "restart_in"
	keyReason  = "reason"
	keyErr     = "err"
	keyStarts  = "failed_starts"
	keyTimeout = "timeout"
	keySpawn   = "spawn"
)

// Worker is a snapshot of one slot.
type Worker struct {
	Name         string    // node name as Celery reports it, e.g. "worker3@vm"
	Slot         int       // 1-based; reused once the slot's worker is gone
	PID          int       // main PID; 0 while starting or in backoff
	State        State     // Starting, Running, Stopping or Backoff
	StartedAt    time.Time // start of the current process (zero if none)
	Spawn        string    // how it started: SpawnFork or SpawnExec ("" if none)
	Restarts     int       // restarts scheduled after unexpected exits
	FailedStarts int       // consecutive failed starts
	LastOutput   []string  // the child's last lines (up to 20), oldest first
	// Node is the Celery node name whose task events and held messages
	// cover this process: Name for a whole worker, the worker main's name
	// for a pool process of the pool engine. NodePID is that main's PID.
	Node    string
	NodePID int
	// Process is set for a pool process of the pool engine: what the worker
	// main's event loop says it is doing. Nil for a whole worker (its task
	// events tell).
	Process *ProcessState
}

// ProcessState is what one pool process is doing, as its worker main's
// event loop sees it (pool/ext/revrx_children.py).
type ProcessState struct {
	Phase  ProcessPhase
	Since  time.Time // when it entered Phase
	TaskID string    // the task it runs, when busy
	Task   string    // that task's name, if the main knows it
}

// ProcessPhase is a pool process's phase.
type ProcessPhase string

// The phases of a pool process. Idle means provably idle: no job scheduled
// for it, written to it or accepted by it, and no unread output.
const (
	ProcessStarting ProcessPhase = "starting"
	ProcessIdle     ProcessPhase = "idle"
	ProcessBusy     ProcessPhase = "busy"
	ProcessStopping ProcessPhase = "stopping"
	// ProcessRetiring: busy, and no new job is written to it; it is
	// stopped as soon as it is provably idle (Engine.Drain).
	ProcessRetiring ProcessPhase = "retiring"
)

// Exit is a worker process that has ended (Reports.Exits).
type Exit struct {
	Name   string // node name
	PID    int    // its main PID
	Spawn  string // SpawnFork or SpawnExec
	Status string // "exit status 0", "signal: killed"
	// Died is true unless the end was a warm stop the pool asked for and
	// the worker exited 0 in time: it crashed, exited on its own, or was
	// SIGKILLed after the shutdown timeout.
	Died bool
	// PoolMain is true for the pool engine's worker main: its extension
	// quarantines undecodable input itself, so only a task it ran can have
	// killed it.
	PoolMain bool
	// Fatal is Celery's "Unrecoverable error: …" that the worker logged
	// before it ended, "" if none.
	Fatal string
}

// Pool runs Celery worker processes, one per slot. All methods are safe for
// concurrent use. Run must be called (once) for the pool to shut down and for
// its goroutines to end; Add may be called before Run starts.
type Pool struct {
	cfg     Config
	host    string
	backoff backoffPolicy
	svc     *services
	changed chan struct{}
	reports *reportBox
	// drainSlot (capacity 1) is held by the one worker draining (see drain).
	drainSlot chan struct{}

	mu         sync.Mutex
	slots      map[int]*slot
	slotsWG    sync.WaitGroup // one per slot goroutine
	shutting   bool
	shutdownCh chan struct{} // closed when shutting becomes true
	killAll    bool          // Kill was called
	killed     int           // slots that had to be SIGKILLed during shutdown
	unclean    int           // slots whose exit status was lost during shutdown
	ran        bool
}

// New checks cfg (see Config.Validate), applies its defaults and returns an
// idle pool. It reads the hostname once, for the names.
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("hostname: %w", err)
	}
	svc := newServices(cfg.Logger)
	if cfg.Host != nil {
		svc = cfg.Host.svc
		cfg.Host.use()
	}
	return &Pool{
		cfg:  cfg,
		host: host,
		backoff: backoffPolicy{
			Min: cfg.MinBackoff, Max: cfg.MaxBackoff, FailedStartWindow: cfg.FailedStartWindow,
		},
		svc:        svc,
		changed:    make(chan struct{}, 1),
		reports:    newReportBox(),
		drainSlot:  make(chan struct{}, 1),
		slots:      make(map[int]*slot),
		shutdownCh: make(chan struct{}),
	}, nil
}

// Run serves the pool until ctx is done or Kill is called, then shuts down:
// every worker gets a warm stop (SIGTERM to its main PID), workers still
// running after ShutdownTimeout have their process group SIGKILLed, and
// everything is reaped. Run returns nil if every worker exited in time, and
// an error wrapping ErrKilled if some had to be killed. With Config.Reap it
// also reaps orphans until it returns. A blocked Logger handler delays Run's
// return (never the children). Run may be called only once.
func (p *Pool) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.ran {
		p.mu.Unlock()
		return errors.New("pool: Run called twice")
	}
	p.ran = true
	p.mu.Unlock()
	p.svc.start()
	if p.cfg.Host != nil {
		defer p.cfg.Host.release() // the host's services: the last pool's release closes them
	} else {
		defer p.svc.close()
	}
	if p.cfg.Reap || p.cfg.Host != nil || isSubreaper() { // orphans are re-parented here
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); runReaper(p.svc.children, p.cfg.Logger, stop) }()
		defer func() { close(stop); <-done }()
	}
	select {
	case <-ctx.Done():
	case <-p.shutdownCh:
	}
	return p.shutdown()
}

// shutdown warm-stops every slot and waits for all of them to be gone. Each
// slot escalates to SIGKILL on its own after ShutdownTimeout, so the wait is
// bounded by ShutdownTimeout plus the output grace.
func (p *Pool) shutdown() error {
	p.mu.Lock()
	p.beginShutdownLocked()
	for _, s := range p.slots {
		p.stopLocked(s)
	}
	p.mu.Unlock()
	p.slotsWG.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed > 0 {
		return fmt.Errorf("pool shutdown: %d worker(s) not stopped within %s: %w",
			p.killed, p.cfg.ShutdownTimeout, ErrKilled)
	}
	if p.unclean > 0 {
		return fmt.Errorf("pool shutdown: %d worker exit status(es) lost: %w", p.unclean, ErrUnclean)
	}
	return nil
}

func (p *Pool) beginShutdownLocked() {
	if !p.shutting {
		p.shutting = true
		close(p.shutdownCh)
	}
}

// Add starts one worker in the lowest free slot and returns its snapshot
// after the first start attempt. A start that fails (e.g. the command does
// not exist) is a failed start like an immediate exit: the worker is in
// Backoff and is retried. Add returns ErrShuttingDown once shutdown began.
func (p *Pool) Add() (Worker, error) {
	p.svc.start()
	p.mu.Lock()
	if p.shutting {
		p.mu.Unlock()
		return Worker{}, ErrShuttingDown
	}
	if m := p.cfg.MaxWorkers; m > 0 && len(p.slots) >= m {
		p.mu.Unlock()
		return Worker{}, fmt.Errorf("add: %d workers alive: %w", len(p.slots), ErrFull)
	}
	n := 1
	for p.slots[n] != nil {
		n++
	}
	s := &slot{num: n, name: expandName(p.cfg.NameTemplate, n, p.host), state: Starting, stop: make(chan struct{})}
	p.slots[n] = s
	p.slotsWG.Add(1)
	p.mu.Unlock()
	p.notify()
	first := make(chan struct{})
	go p.supervise(s, first)
	<-first
	p.mu.Lock()
	defer p.mu.Unlock()
	return s.snapshot(), nil
}

// Stop warm-stops the named worker (SIGTERM to its main PID) and removes it,
// freeing its slot, once it has exited; it is not restarted. After
// ShutdownTimeout its process group is SIGKILLed. A worker in backoff is
// removed at once. Stop is idempotent; a process that is already dead is
// fine. An unknown name returns an error wrapping ErrUnknownWorker.
func (p *Pool) Stop(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.slotNamed(name); s != nil {
		return p.stopLocked(s)
	}
	return fmt.Errorf("stop %q: %w", name, ErrUnknownWorker)
}

// Kill SIGKILLs every worker's process group at once (a cold stop, for a
// second SIGTERM to the supervisor) and begins shutdown: nothing is
// restarted or added, and Run returns soon with ErrKilled.
func (p *Pool) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.beginShutdownLocked()
	p.killAll = true
	for _, s := range p.slots {
		p.stopLocked(s)
		if s.proc != nil && s.proc.killGroup() {
			s.killed = true
		}
	}
}

// SlotNames returns the node names of slots 1..n, as Add gives them.
func (p *Pool) SlotNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = expandName(p.cfg.NameTemplate, i+1, p.host)
	}
	return names
}

// HostState returns the app host's state; its Enabled is false when the
// pool has no host.
func (p *Pool) HostState() HostState {
	if p.cfg.Host == nil {
		return HostState{}
	}
	return p.cfg.Host.State()
}

// Workers returns a snapshot of every slot, sorted by slot number.
func (p *Pool) Workers() []Worker {
	p.mu.Lock()
	out := make([]Worker, 0, len(p.slots))
	for _, s := range p.slots {
		out = append(out, s.snapshot())
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out
}

// Changed returns a channel (capacity 1) that receives a value, without the
// pool ever blocking, after any worker's state changes. Read Workers after
// receiving from it.
func (p *Pool) Changed() <-chan struct{} { return p.changed }

func (p *Pool) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func (p *Pool) logger(s *slot) *slog.Logger { return p.cfg.Logger.With(keyWorker, s.name) }
