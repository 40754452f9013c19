//go:build linux

package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Engine names (EngineState.Engine, the --engine flag).
const (
	EnginePool    = "pool"    // one worker main whose prefork pool the Engine sizes
	EngineWorkers = "workers" // one whole Celery worker per slot (Pool)
)

// ErrBusy is returned by Engine.Stop for a process that is not provably
// idle: it has a job scheduled, written, accepted or unread output, or is
// still starting. Nothing was stopped.
var ErrBusy = errors.New("pool process is not idle")

// ErrRetiring is returned by Engine.Retire while the worker main is already
// being replaced.
var ErrRetiring = errors.New("the worker main is already being replaced")

// EngineConfig configures an Engine.
type EngineConfig struct {
	// Main is the worker main's configuration, as for a Pool of one slot.
	// Host is required (the app host installs the extension); Concurrency
	// is ignored; PrefetchMultiplier is the app's (processes x multiplier
	// is the prefetch count).
	Main Config
	// Max caps the processes alive at every instant, stopping ones included
	// (the supervisor's policy asks for the rest, MIN included).
	Max int
}

// ProcessLoss is a pool process that died while running a task.
type ProcessLoss struct {
	Node, TaskID, Task string
	PID, ExitCode      int
	Deaths             int    // deaths under this task id seen by its worker main
	Quarantined        string // the list it went to at the second death, or ""
}

// Quarantine is a message the worker main could not decode or turn into a
// request: its raw bytes went to Queue (QUEUE.quarantine).
type Quarantine struct {
	Node, Queue, Reason, TaskID, Task string
}

// EngineState is the worker main's side of the pool engine, for /status.
type EngineState struct {
	Engine    string    `json:"engine"`
	Main      MainState `json:"main"`
	Attached  bool      `json:"attached"`           // its extension said hello and is enabled
	Disabled  string    `json:"disabled,omitempty"` // why the extension refused, if it did
	Processes int       `json:"processes"`          // the pool's target process count
	Reserved  int       `json:"reserved"`           // tasks the main holds that no process took yet
	Prefetch  int       `json:"prefetch"`           // the consumer's prefetch count
}

// MainState is the pool engine's worker main, for /status: its last output
// only while it fails to start, as for a whole worker.
type MainState struct {
	Name         string    `json:"name"`
	PID          int       `json:"pid,omitempty"`
	State        State     `json:"state"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	Restarts     int       `json:"restarts"`
	FailedStarts int       `json:"failed_starts,omitempty"`
	LastOutput   []string  `json:"last_output,omitempty"`
}

// Engine runs one Celery worker main (supervised like a Pool's worker:
// restarted with backoff, warm-stopped, reaped) and sizes its prefork pool
// through the extension the app host installs into it, over a control
// socket served by the worker's own event loop. Its Workers are the pool
// processes. All methods are safe for concurrent use.
type Engine struct {
	main    *Pool
	node    string
	max     int
	cfg     EngineConfig
	log     *slog.Logger
	changed chan struct{}
	readers sync.WaitGroup // one per control socket's reader (engine_attach.go)

	mu       sync.Mutex
	pending  *extConn // attached to a start whose fork has not confirmed yet
	conn     *extConn // the running main's, once it said hello
	disabled string
	mainPID  int
	state    extMessage // the last state push
	retired  bool       // Retire asked for a new main
}

// NewEngine checks cfg and returns an engine whose main is not started yet.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Main.Host == nil {
		return nil, &ConfigError{Field: "Host", Reason: "the pool engine needs the app host"}
	}
	if cfg.Max < 1 {
		return nil, &ConfigError{Field: "Max", Reason: fmt.Sprintf("%d: must be at least 1", cfg.Max)}
	}
	e := &Engine{max: cfg.Max, cfg: cfg, changed: make(chan struct{}, 1)}
	mc := cfg.Main
	mc.MaxWorkers, mc.Concurrency, mc.attach = 1, 1, e
	main, err := New(mc)
	if err != nil {
		return nil, err
	}
	e.main, e.node, e.log = main, main.SlotNames(1)[0], main.cfg.Logger.With(keyWorker, main.SlotNames(1)[0])
	return e, nil
}

// Run starts the worker main and serves until ctx is done, then warm-stops
// it (see Pool.Run): the running tasks finish, nothing is lost. Its
// goroutines have ended when it returns.
func (e *Engine) Run(ctx context.Context) error {
	if _, err := e.main.Add(); err != nil {
		return fmt.Errorf("start the worker main: %w", err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { e.follow(done) })
	err := e.main.Run(ctx)
	close(done)
	wg.Wait()
	e.closeConns() // the main is gone; its socket's reader ends now
	e.readers.Wait()
	return err
}

// closeConns closes the control sockets still open.
func (e *Engine) closeConns() {
	e.mu.Lock()
	conns := []*extConn{e.conn, e.pending}
	e.mu.Unlock()
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
}

// follow passes the main's changes on, and starts a new main once a retired
// one is gone.
func (e *Engine) follow(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-e.main.Changed():
		}
		e.mu.Lock()
		again := e.retired && len(e.main.Workers()) == 0
		if again {
			e.retired = false
		}
		e.mu.Unlock()
		if again {
			if _, err := e.main.Add(); err != nil && !errors.Is(err, ErrShuttingDown) {
				e.log.Error("start a new worker main", keyErr, err)
			}
		}
		e.notify()
	}
}

// Node is the worker main's node name.
func (e *Engine) Node() string { return e.node }

// SlotNames returns the worker main's node name (the pool engine has one).
func (e *Engine) SlotNames(int) []string { return []string{e.node} }

// HostState returns the app host's state.
func (e *Engine) HostState() HostState { return e.main.HostState() }

// Kill SIGKILLs the worker main's process group (a second signal).
func (e *Engine) Kill() { e.main.Kill() }

// Changed receives a value after the processes or the main change.
func (e *Engine) Changed() <-chan struct{} { return e.changed }

func (e *Engine) notify() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// State returns the worker main's side, for /status.
func (e *Engine) State() EngineState {
	st := EngineState{Engine: EnginePool, Main: MainState{Name: e.node, State: Starting}}
	if ws := e.main.Workers(); len(ws) > 0 {
		w := ws[0]
		st.Main = MainState{Name: w.Name, PID: w.PID, State: w.State, StartedAt: w.StartedAt,
			Restarts: w.Restarts, FailedStarts: w.FailedStarts}
		if w.FailedStarts > 0 {
			st.Main.LastOutput = w.LastOutput
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st.Attached, st.Disabled = e.conn != nil && e.disabled == "", e.disabled
	st.Processes, st.Reserved, st.Prefetch = e.state.Processes, e.state.Reserved, e.state.Prefetch
	return st
}

// Reserved is the number of tasks the worker main holds that no pool
// process has taken yet (demand the policy adds to the waiting ones).
func (e *Engine) Reserved() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state.Reserved
}

// Workers returns the pool processes, sorted by index.
func (e *Engine) Workers() []Worker {
	mainStopping := e.mainStopping()
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Worker, 0, len(e.state.Children))
	for _, ch := range e.state.Children {
		w := e.processWorker(ch)
		if mainStopping && w.State != Starting {
			w.State = Stopping // its main takes no new task
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b Worker) int { return a.Slot - b.Slot })
	return out
}

// mainStopping reports whether the worker main is being stopped (warm
// stop sent or its consumers being cancelled).
func (e *Engine) mainStopping() bool {
	for _, m := range e.main.Workers() {
		if m.State == Stopping || m.State == Draining {
			return true
		}
	}
	return false
}

// processWorker is the snapshot of one pool process. e.mu must be held.
func (e *Engine) processWorker(ch extChild) Worker {
	since := time.Unix(0, int64(ch.Since*float64(time.Second))) // of its phase, not of the process
	state := Running
	switch ProcessPhase(ch.Phase) {
	case ProcessStarting:
		state = Starting
	case ProcessStopping:
		state = Stopping
	case ProcessRetiring:
		state = Draining
	}
	return Worker{
		Name: processName(e.node, ch.Index), Slot: ch.Index + 1, PID: ch.PID, State: state, Spawn: SpawnFork,
		Node: e.node, NodePID: e.mainPID,
		Process: &ProcessState{Phase: ProcessPhase(ch.Phase), Since: since, TaskID: ch.TaskID, Task: ch.Task},
	}
}

// processName names pool process index of node: "worker1@host#3" for the
// third (billiard reuses the index of a process that is gone).
func processName(node string, index int) string {
	return node + "#" + strconv.Itoa(index+1)
}

// Add forks one pool process; see Grow.
func (e *Engine) Add() (Worker, error) {
	pids, err := e.grow(1)
	if err != nil {
		return Worker{}, err
	}
	for _, w := range e.Workers() {
		if w.PID == pids[0] {
			return w, nil
		}
	}
	return Worker{Name: e.node, PID: pids[0], Node: e.node, State: Starting}, nil
}

// Grow forks up to n pool processes at once and returns how many it forked:
// fewer when MAX processes are alive (stopping ones included) or the main
// is not attached (then with an error wrapping ErrFull or ErrNoMain).
func (e *Engine) Grow(n int) (int, error) {
	pids, err := e.grow(n)
	return len(pids), err
}

func (e *Engine) grow(n int) ([]int, error) {
	conn, alive, err := e.attached()
	if err != nil {
		return nil, err
	}
	if n = min(n, e.max-alive); n <= 0 {
		return nil, fmt.Errorf("grow: %d processes alive: %w", alive, ErrFull)
	}
	m, err := conn.request(map[string]any{"op": "grow", "n": n})
	if err != nil {
		return nil, err
	}
	if len(m.PIDs) == 0 {
		return nil, fmt.Errorf("grow: the worker main forked nothing: %w", ErrFull)
	}
	return m.PIDs, nil
}

// Stop stops the named pool process if it is provably idle (ErrBusy
// otherwise); it exits at once and counts against MAX until it has.
func (e *Engine) Stop(name string) error {
	m, err := e.requestFor("stop", "shrink", name)
	if err != nil {
		return err
	}
	if len(m.Stopped) == 0 {
		return fmt.Errorf("stop %q: %w", name, ErrBusy)
	}
	return nil
}

// requestFor sends op naming the pid of the pool process name; verb names
// what the caller does, in its errors.
func (e *Engine) requestFor(verb, op, name string) (extMessage, error) {
	conn, _, err := e.attached()
	if err != nil {
		return extMessage{}, err
	}
	pid := e.pidOf(name)
	if pid == 0 {
		return extMessage{}, fmt.Errorf("%s %q: %w", verb, name, ErrUnknownWorker)
	}
	return conn.request(map[string]any{"op": op, "pids": []int{pid}})
}

// Retire replaces the worker main (a stalled consumer): it is warm-stopped,
// and a new one starts once it is gone. name may be any of its processes.
// While a replacement is under way it returns an error wrapping
// ErrRetiring, so the stall is acted on (and counted) once.
func (e *Engine) Retire(name string) error {
	if name != e.node && !strings.HasPrefix(name, e.node+"#") {
		return fmt.Errorf("retire %q: %w", name, ErrUnknownWorker)
	}
	e.mu.Lock()
	already := e.retired
	e.retired = true
	e.mu.Unlock()
	if already {
		return fmt.Errorf("retire %q: %w", name, ErrRetiring)
	}
	return e.main.Retire(e.node)
}

func (e *Engine) pidOf(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ch := range e.state.Children {
		if processName(e.node, ch.Index) == name {
			return ch.PID
		}
	}
	return 0
}

// attached returns the main's connection and its processes alive, or an
// error wrapping ErrNoMain.
func (e *Engine) attached() (*extConn, int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.conn == nil:
		return nil, 0, ErrNoMain
	case e.disabled != "":
		return nil, 0, fmt.Errorf("%w: the extension is disabled: %s", ErrNoMain, e.disabled)
	}
	return e.conn, len(e.state.Children), nil
}
