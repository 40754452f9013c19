package supervisor

import (
	"context"
	"errors"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/events"
)

// Queue reads the backlog of the consumed queues.
type Queue interface {
	// Backlogs returns each queue's depth and oldest waiting message age
	// at now, in one round trip.
	Backlogs(ctx context.Context, queues []string, now time.Time) (map[string]Backlog, error)
}

// Resources reads the host's load and the workers' memory.
type Resources interface {
	Host() (HostUsage, error)
	// TreesRSS returns the RSS of each pid's process tree; gone pids are left out.
	TreesRSS(pids []int) (map[int]uint64, error)
}

// Events delivers the workers' Celery events.
type Events interface {
	// SubscribeEvents calls handle for every event until ctx is done, and
	// onState when the subscription is lost (false) or (re)established (true).
	SubscribeEvents(ctx context.Context, handle func(events.Event), onState func(up bool)) error
}

// UndecodedCounter is implemented by Events that skip the messages they
// cannot decode (the Redis broker): revrx_events_undecoded_total shows
// how many since the start.
type UndecodedCounter interface {
	UndecodedMessages() int64
}

// Pool is the set of worker processes the supervisor scales.
type Pool interface {
	// Add starts one worker; ErrShuttingDown once the pool stops.
	Add() error
	// Stop warm-stops the named worker; ErrBusy if it is not idle.
	Stop(name string) error
	// Reclaim takes back a draining worker (its stop not yet committed).
	Reclaim(name string) error
	// Retire stops a worker for good (never taken back).
	Retire(name string) error
	// Workers returns every worker, sorted by slot.
	Workers() []Worker
	// Changed receives a value after any worker's state changed.
	Changed() <-chan struct{}
	// Reported receives a value when reports wait; TakeReports returns
	// them, each once, and never loses one however late it is called.
	Reported() <-chan struct{}
	TakeReports() Reports
}

// ProcessPool is implemented by a Pool whose workers are the processes of
// one worker main's prefork pool (the pool engine).
type ProcessPool interface {
	// Grow starts up to n processes at once and returns how many started;
	// ErrNoMain while the worker main is starting, ErrShuttingDown once the
	// pool stops.
	Grow(n int) (int, error)
	// Reserved is what the worker main holds that no process took yet.
	Reserved() int
	// Node is the worker main's node name (its events count even while it
	// has no process).
	Node() string
	// Drain retires up to n busy processes: none takes a new task, each is
	// stopped once its current one ends (Pool.Reclaim takes one back
	// before). It returns how many it retired.
	Drain(n int) (int, error)
}

// EngineStater is implemented by the pool engine; /status shows its main.
type EngineStater interface {
	State() EngineState
}

// HostStater is implemented by a Pool that forks workers from an app host;
// /status shows the host and /readyz fails while the app cannot be imported.
type HostStater interface {
	HostState() AppHostState
}

// The types below are what those interfaces (and Restorer, QueueWatcher)
// speak: the supervisor's own view of the pool and the broker, which their
// adapters in cmd/revrx-supervise convert to. The JSON tags of the /status
// parts (AppHostState, EngineState) are part of /status.

// Sentinel errors a Pool returns, matched with errors.Is.
var (
	// ErrBusy: Stop found the worker not provably idle (it took a task
	// since the decision); nothing was stopped.
	ErrBusy = errors.New("worker is not idle")
	// ErrShuttingDown: Add or Grow after the pool's shutdown began.
	ErrShuttingDown = errors.New("pool is shutting down")
	// ErrNoMain: Grow while the pool engine's worker main is not attached
	// (it is starting).
	ErrNoMain = errors.New("no worker main is attached")
)

// WorkerState is the lifecycle state of a worker slot.
type WorkerState string

// Worker slot states.
const (
	WorkerStarting WorkerState = "starting" // no PID yet
	WorkerRunning  WorkerState = "running"  // alive; events tell whether it is ready
	WorkerDraining WorkerState = "draining" // stop requested, consumers being cancelled; Reclaim can take it back
	WorkerStopping WorkerState = "stopping" // warm stop sent, or being removed; not restarted
	WorkerBackoff  WorkerState = "backoff"  // exited unexpectedly; a restart is scheduled
)

// Worker is one worker as the pool reports it: a whole Celery worker, or a
// pool process of the pool engine.
type Worker struct {
	Name         string // node name, or "node#N" for a pool process
	Slot         int    // 1-based
	PID          int    // 0 while starting or in backoff
	State        WorkerState
	StartedAt    time.Time // start of the current process (zero if none)
	Spawn        string    // "fork" or "exec" ("" if none), shown in /status
	Restarts     int       // restarts after unexpected exits
	FailedStarts int       // consecutive failed starts
	LastOutput   []string  // the child's last lines, oldest first
	// Node is the Celery node whose events and held messages cover this
	// worker: Name for a whole worker, the worker main's for a pool
	// process. NodePID is that node's main PID.
	Node    string
	NodePID int
	// Process is set for a pool process: what its worker main's event loop
	// says it does. Nil for a whole worker (its events tell).
	Process *Process
}

// ProcessPhase is a pool process's phase.
type ProcessPhase string

// Pool process phases. Idle means provably idle (no job scheduled, written
// or accepted).
const (
	ProcessStarting ProcessPhase = "starting"
	ProcessIdle     ProcessPhase = "idle"
	ProcessBusy     ProcessPhase = "busy"
	ProcessStopping ProcessPhase = "stopping"
	// ProcessRetiring: busy, taking no new task, stopped once its current
	// one ends (ProcessPool.Drain); Reclaim takes it back.
	ProcessRetiring ProcessPhase = "retiring"
)

// Process is what one pool process is doing.
type Process struct {
	Phase  ProcessPhase
	Since  time.Time // when it entered Phase
	TaskID string    // the task it runs, when busy
	Task   string    // that task's name, if known
}

// Exit is a worker process that has ended: nothing of it runs any more.
type Exit struct {
	Name   string // node name
	Status string // "exit status 0", "signal: killed", for the logs
	// Forked: it was forked from the app host, whose workers record every
	// message they take in a held set (an exec'd one keeps none).
	Forked bool
	// Died is true unless the end was a warm stop asked for that exited 0
	// in time.
	Died bool
	// PoolMain: the pool engine's worker main, whose extension quarantines
	// undecodable input itself, so only a task it ran can have killed it.
	PoolMain bool
	// Fatal is Celery's "Unrecoverable error: …" that the worker logged
	// before it ended, "" if none.
	Fatal string
}

// Reports is what the pool tells since the last TakeReports.
type Reports struct {
	// Exits are worker processes that ended; each is in the reports
	// before any Workers snapshot shows its slot changed.
	Exits       []Exit
	Restarts    []Restart     // unexpected exits scheduled for restart
	Losses      []ProcessLoss // pool processes that died with a task
	Quarantines []Quarantine  // undecodable messages a worker main set aside
}

// Restart is an unexpected exit the pool will restart.
type Restart struct {
	Name   string
	Reason string // "crashed", "exited" or "failed_start"
}

// ProcessLoss is a pool process that died while running a task.
type ProcessLoss struct {
	Node, TaskID, Task string
	PID, ExitCode      int
	Deaths             int    // deaths under this task id its worker main saw
	Quarantined        string // the list the task went to at its second death, or ""
}

// Quarantine is a message a worker main could not decode or turn into a
// request: its raw bytes went to Queue (QUEUE.quarantine).
type Quarantine struct {
	Node, Queue, Reason, TaskID, Task string
}

// HostUsage is the host's CPU and memory use, each a ratio in 0..1.
type HostUsage struct {
	CPU, Memory float64
}

// Backlog is one queue's waiting messages at one reading.
type Backlog struct {
	Depth     int64         // messages in the queue and its priority sub-lists
	OldestAge time.Duration // wait of the oldest due message; 0 if none
	AgeExact  bool          // OldestAge is from a publish time, not a lower bound
}

// SettleOutcome is what Restorer.Settle did with one message.
type SettleOutcome string

// Settle's outcomes.
const (
	SettleRestored    SettleOutcome = "restored"    // back on its queue, redelivered
	SettleQuarantined SettleOutcome = "quarantined" // moved to its queue's quarantine list
	SettleUnroutable  SettleOutcome = "unroutable"  // no queue bound: left to kombu's sweep
	SettleRequeued    SettleOutcome = "requeued"    // the worker had put it back itself; a death was counted
	SettleRetaken     SettleOutcome = "retaken"     // another worker took it since; a death was counted
	SettleGone        SettleOutcome = "gone"        // nothing to act on (acked, or a clean stop's)
)

// Settled is one message a gone worker held, once settled.
type Settled struct {
	Tag     string // delivery tag
	ID      string // task id, "" if unknown
	Task    string // task name, "" if unknown
	Queue   string // the list it went to (the quarantine list, if quarantined)
	Outcome SettleOutcome
}

// AppHostState is the app host's state, for /readyz and /status.
type AppHostState struct {
	Enabled  bool      `json:"enabled"`
	Ready    bool      `json:"ready"` // the app is imported and forks are served
	PID      int       `json:"pid,omitempty"`
	Restarts int       `json:"restarts"`
	Since    time.Time `json:"since,omitzero"`  // of the current state
	Err      string    `json:"error,omitempty"` // why it is not ready
	// ImportError is set while the last start failed to import the app.
	ImportError string `json:"import_error,omitempty"`
}

// EngineState is the pool engine's worker main, for /status.
type EngineState struct {
	Engine    string     `json:"engine"`
	Main      EngineMain `json:"main"`
	Attached  bool       `json:"attached"`           // its extension said hello and is enabled
	Disabled  string     `json:"disabled,omitempty"` // why the extension refused, if it did
	Processes int        `json:"processes"`          // the pool's target process count
	Reserved  int        `json:"reserved"`           // tasks the main holds that no process took yet
	Prefetch  int        `json:"prefetch"`           // the consumer's prefetch count
}

// EngineMain is the pool engine's worker main process, for /status: its
// last output only while it fails to start.
type EngineMain struct {
	Name         string      `json:"name"`
	PID          int         `json:"pid,omitempty"`
	State        WorkerState `json:"state"`
	StartedAt    time.Time   `json:"started_at,omitzero"`
	Restarts     int         `json:"restarts"`
	FailedStarts int         `json:"failed_starts,omitempty"`
	LastOutput   []string    `json:"last_output,omitempty"`
}
