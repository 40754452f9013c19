package events

import (
	"sort"
	"sync"
	"time"
)

// defaultHeartbeatFreq is Celery's heartbeat interval, used when a heartbeat
// event carries no freq.
const defaultHeartbeatFreq = 2.0

// Completion outcomes.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeRevoked   = "revoked"
	OutcomeRejected  = "rejected"
	OutcomeRetried   = "retried"
)

// Completion reports that an event ended a task on a worker.
type Completion struct {
	Outcome string  // "succeeded", "failed", "revoked", "rejected" or "retried"
	Runtime float64 // seconds; from the event for succeeded, else from our observed start if known, else 0
	Worker  string  // the worker's node name
}

// Activity is what the Tracker knows about one worker.
type Activity struct {
	Online    bool      // worker-online or heartbeat seen and not offline
	Received  int       // received, not started (excluding tasks whose ETA is in the future)
	Running   int       // started, not finished
	IdleSince time.Time // zero while it has tasks; else when it last became idle (or came online)
	LastSeen  time.Time // last event of any kind from it
	PID       int       // the worker's main process, from its events
}

// Tracker follows per-worker task state from Celery events. It does no I/O
// and reads no clock: all times come from its callers. It is safe for
// concurrent use (the event subscriber writes, the control loop reads).
type Tracker struct {
	mu      sync.Mutex
	workers map[string]*workerState
}

type etaTask struct {
	eta, at time.Time
}

type workerState struct {
	online    bool
	pid       int
	freq      float64
	lastSeen  time.Time
	idleSince time.Time
	received  map[string]time.Time // uuid -> when received
	running   map[string]time.Time // uuid -> when started
	eta       map[string]etaTask   // received with a future ETA
	names     map[string]string    // uuid -> task name, while tracked
}

func newWorkerState() *workerState {
	return &workerState{
		received: make(map[string]time.Time),
		running:  make(map[string]time.Time),
		eta:      make(map[string]etaTask),
		names:    make(map[string]string),
	}
}

// busy reports whether the worker holds counted tasks (ETA tasks not due are
// not counted).
func (w *workerState) busy() bool { return len(w.received)+len(w.running) > 0 }

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{workers: make(map[string]*workerState)}
}

// Observe applies one event received at local time at (the receipt time,
// used for all durations; ev.Timestamp is the sender's clock and is not
// used). It returns a Completion, true when the event ends a task
// (succeeded, failed, revoked, rejected or retried), even for a task whose
// earlier events were not seen. Events without a hostname, and task-sent
// (from producers), change nothing.
func (t *Tracker) Observe(ev Event, at time.Time) (Completion, bool) {
	if ev.Hostname == "" || ev.Type == TaskSent {
		return Completion{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Type == WorkerOffline {
		delete(t.workers, ev.Hostname)
		return Completion{}, false
	}
	w := t.workers[ev.Hostname]
	if w == nil {
		w = newWorkerState()
		t.workers[ev.Hostname] = w
	}
	w.lastSeen = at
	if ev.PID != 0 {
		w.pid = ev.PID
	}
	wasBusy := w.busy()
	var (
		c     Completion
		ended bool
	)
	switch ev.Type {
	case WorkerOnline, WorkerBeat:
		w.online = true
		if ev.Freq > 0 {
			w.freq = ev.Freq
		}
		if ev.Type == WorkerBeat {
			w.reconcile(ev.Active, at)
		}
	case TaskReceived:
		w.receive(ev, at)
	case TaskStarted:
		if ev.UUID != "" {
			delete(w.received, ev.UUID)
			delete(w.eta, ev.UUID)
			w.running[ev.UUID] = at
		}
	case TaskSucceeded, TaskFailed, TaskRevoked, TaskRejected, TaskRetried:
		c, ended = w.finish(ev, at), true
	}
	if w.busy() {
		w.idleSince = time.Time{}
	} else if wasBusy || w.idleSince.IsZero() {
		w.idleSince = at
	}
	return c, ended
}

func (w *workerState) receive(ev Event, at time.Time) {
	if ev.UUID == "" {
		return
	}
	if ev.Name != "" {
		w.names[ev.UUID] = ev.Name
	}
	if _, ok := w.running[ev.UUID]; ok {
		return // started event arrived first
	}
	if ev.ETA != "" {
		if eta, err := time.Parse(time.RFC3339Nano, ev.ETA); err == nil && eta.After(at) {
			w.eta[ev.UUID] = etaTask{eta: eta, at: at}
			return
		}
	}
	w.received[ev.UUID] = at
}

func (w *workerState) finish(ev Event, at time.Time) Completion {
	c := Completion{Worker: ev.Hostname}
	switch ev.Type {
	case TaskSucceeded:
		c.Outcome = OutcomeSucceeded
	case TaskFailed:
		c.Outcome = OutcomeFailed
	case TaskRevoked:
		c.Outcome = OutcomeRevoked
	case TaskRejected:
		c.Outcome = OutcomeRejected
	case TaskRetried:
		c.Outcome = OutcomeRetried
	}
	start, started := w.running[ev.UUID]
	switch {
	case ev.Type == TaskSucceeded:
		c.Runtime = ev.Runtime
	case started:
		c.Runtime = at.Sub(start).Seconds()
	}
	delete(w.received, ev.UUID)
	delete(w.running, ev.UUID)
	delete(w.eta, ev.UUID)
	delete(w.names, ev.UUID)
	return c
}

// reconcile repairs state after lost events, using a heartbeat that says
// active tasks are running. Tasks observed more than 2×freq before at are
// stale candidates: running ones beyond active are dropped oldest first;
// with active == 0, stale received tasks and ETA tasks due by then are
// dropped too. It never invents tasks.
func (w *workerState) reconcile(active int, at time.Time) {
	freq := w.freq
	if freq <= 0 {
		freq = defaultHeartbeatFreq
	}
	cutoff := at.Add(-time.Duration(2 * freq * float64(time.Second)))
	if excess := len(w.running) - max(active, 0); excess > 0 {
		type run struct {
			id    string
			start time.Time
		}
		var stale []run
		for id, start := range w.running {
			if start.Before(cutoff) {
				stale = append(stale, run{id, start})
			}
		}
		sort.Slice(stale, func(i, j int) bool { return stale[i].start.Before(stale[j].start) })
		for i := 0; i < len(stale) && i < excess; i++ {
			delete(w.running, stale[i].id)
		}
	}
	defer w.pruneNames()
	if active > 0 {
		return
	}
	for id, rec := range w.received {
		if rec.Before(cutoff) {
			delete(w.received, id)
		}
	}
	for id, e := range w.eta {
		if e.eta.Before(cutoff) {
			delete(w.eta, id)
		}
	}
}

// pruneNames forgets the names of tasks no longer tracked.
func (w *workerState) pruneNames() {
	for id := range w.names {
		_, r := w.received[id]
		_, s := w.running[id]
		_, e := w.eta[id]
		if !r && !s && !e {
			delete(w.names, id)
		}
	}
}

// TaskRef names one task.
type TaskRef struct {
	ID   string
	Name string // "" if its task-received event was not seen
}

// Running returns the tasks hostname's events say it is running (started,
// not finished), sorted by id.
func (t *Tracker) Running(hostname string) []TaskRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.workers[hostname]
	if w == nil {
		return nil
	}
	out := make([]TaskRef, 0, len(w.running))
	for id := range w.running {
		out = append(out, TaskRef{ID: id, Name: w.names[id]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Tasks returns every task hostname's events say it holds: received
// (with or without an ETA) or running, sorted by id.
func (t *Tracker) Tasks(hostname string) []TaskRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.workers[hostname]
	if w == nil {
		return nil
	}
	var out []TaskRef
	for _, m := range []map[string]time.Time{w.received, w.running} {
		for id := range m {
			out = append(out, TaskRef{ID: id, Name: w.names[id]})
		}
	}
	for id := range w.eta {
		out = append(out, TaskRef{ID: id, Name: w.names[id]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Forget drops everything known about hostname: the process behind that
// name is gone. A later event under the same name starts afresh.
func (t *Tracker) Forget(hostname string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.workers, hostname)
}

// Snapshot returns the activity of every worker seen and not gone, keyed by
// node name. now only decides which ETA tasks are due: a task received with
// an ETA counts in Received once its ETA is not after now, and its worker is
// then not idle. The map is the caller's.
func (t *Tracker) Snapshot(now time.Time) map[string]Activity {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]Activity, len(t.workers))
	for name, w := range t.workers {
		a := Activity{
			Online:    w.online,
			Received:  len(w.received),
			Running:   len(w.running),
			IdleSince: w.idleSince,
			LastSeen:  w.lastSeen,
			PID:       w.pid,
		}
		for _, e := range w.eta {
			if !e.eta.After(now) {
				a.Received++
			}
		}
		if a.Received+a.Running > 0 {
			a.IdleSince = time.Time{}
		}
		out[name] = a
	}
	return out
}
