package simulate

import (
	"fmt"
	"slices"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// task is one published task.
type task struct {
	at, dur    time.Duration // arrival offset, run time
	start, end time.Duration // valid once started
	started    bool
}

// worker is one simulated worker (workers engine) or pool process (pool
// engine, celery).
type worker struct {
	name       string
	slot       int
	onlineAt   time.Duration
	online     bool
	stopping   bool
	retiring   bool          // takes no new task; stopped once idle (retire.go)
	goneAt     time.Duration // valid while stopping
	running    []int         // task indexes
	reserved   []int         // task indexes, FIFO
	busy       bool          // had tasks after the last instant
	idleSince  time.Duration // valid while online and not busy
	blockedSeq int           // order of its pending fetch (Redis serves blocked BRPOPs first come, first served)
}

func (w *worker) tasks() int { return len(w.running) + len(w.reserved) }

// accepting reports whether the worker takes tasks at all.
func (w *worker) accepting() bool { return w.online && !w.stopping && !w.retiring }

func (w *worker) idle() bool { return w.accepting() && w.tasks() == 0 }

// decideFunc is policy.Decide; tests replace it to check the model's guards.
type decideFunc func(policy.Observation, time.Time, policy.Config) policy.Decision

// sim is one run of one model over one trace on a virtual clock: offsets
// from start, no sleeping, no real time.
type sim struct {
	m       Model
	start   time.Time
	horizon time.Duration
	decide  decideFunc

	tasks    []task
	ramps    []Window // the trace's ramp windows
	next     int      // next task to arrive
	queue    []int    // waiting task indexes; queue[head:] is the FIFO
	head     int
	held     []int     // EnginePool: tasks the worker main holds that no process took, FIFO
	workers  []*worker // starting, online and stopping, in creation order
	now      time.Duration
	nextPoll time.Duration
	seq      int
	history  policy.History
	wake     wake
	changed  bool // the broker changed (push or pop) at this instant

	res      Result
	slotNS   int64 // ∫ alive workers × concurrency dt, in slot-nanoseconds
	lastDir  int
	lastFork time.Duration // SerialForks: when the last fork is done

	group   string         // with queue groups: this pool's group
	ledger  *policy.Ledger // with queue groups: the host budget it shares
	runtime float64        // moving mean of its task runtimes in seconds (policy.NextRuntime)
	pattern policy.Pattern // with Model.Predict: the demand learned so far (predict.go)
}

func newSim(tr Trace, m Model, start time.Time, horizon time.Duration) (*sim, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if horizon <= 0 {
		return nil, fmt.Errorf("horizon %s: must be positive", horizon)
	}
	every := m.PollInterval
	if m.ChangeSettle > 0 {
		every = min(every, m.ChangeSettle)
	}
	if horizon/every > maxDecisions {
		return nil, fmt.Errorf("horizon %s at one decision every %s: more than %d decisions", horizon, every, maxDecisions)
	}
	s := &sim{m: m, start: start, horizon: horizon, decide: policy.Decide, nextPoll: m.PollOffset,
		wake: wake{settle: m.ChangeSettle, gap: m.ChangeGap}}
	s.res.Model = m
	s.ramps = tr.Ramps
	s.tasks = make([]task, 0, tr.Tasks())
	for _, b := range tr.Batches {
		for range b.Count {
			s.tasks = append(s.tasks, task{at: b.At, dur: b.Task})
		}
	}
	// MIN workers are online when the trace starts, as in the benchmark,
	// which starts publishing once the contender is ready.
	for range m.Policy.Min {
		w := s.add(0)
		s.bringOnline(w, 0)
	}
	return s, nil
}

// Run replays tr through m from start for horizon and measures it; with
// m.Groups, one pool per group under one host budget (runGroups).
func Run(tr Trace, m Model, start time.Time, horizon time.Duration) (Result, error) {
	if len(m.Groups) > 0 {
		return runGroups(tr, m, start, horizon)
	}
	s, err := newSim(tr, m, start, horizon)
	if err != nil {
		return Result{}, err
	}
	if err := s.runUntil(horizon); err != nil {
		return Result{}, err
	}
	return s.result(), nil
}

// runUntil processes every instant up to and including limit.
func (s *sim) runUntil(limit time.Duration) error {
	for {
		t := s.nextEvent()
		if t > limit {
			break
		}
		if err := s.step(t); err != nil {
			return err
		}
	}
	s.advance(limit)
	return nil
}

// nextEvent is the next instant at which anything happens.
func (s *sim) nextEvent() time.Duration {
	t := s.nextPoll
	if s.wake.held {
		t = min(t, s.wake.at)
	}
	if s.next < len(s.tasks) {
		t = min(t, s.tasks[s.next].at)
	}
	for _, w := range s.workers {
		switch {
		case w.stopping:
			t = min(t, w.goneAt)
		case !w.online:
			t = min(t, w.onlineAt)
		}
		for _, i := range w.running {
			t = min(t, s.tasks[i].end)
		}
	}
	return t
}

// step handles instant t: completions free slots, stopped workers leave,
// started ones come online, tasks arrive, workers take tasks, and on a
// decision instant (a poll, or one a broker change brought) Decide runs on
// what that leaves; a pool engine's main then fetches for a grown pool.
// A broker change at t brings a later decision.
func (s *sim) step(t time.Duration) error {
	s.advance(t)
	s.complete(t)
	s.settleRetiring(t)
	s.workers = slices.DeleteFunc(s.workers, func(w *worker) bool { return w.stopping && w.goneAt <= t })
	for _, w := range s.workers {
		if !w.online && !w.stopping && w.onlineAt <= t {
			s.bringOnline(w, t)
		}
	}
	for s.next < len(s.tasks) && s.tasks[s.next].at <= t {
		s.queue = append(s.queue, s.next)
		s.next++
		s.res.Published++
		s.changed = true
	}
	s.dispatch(t)
	s.markIdle(t)
	if poll := t == s.nextPoll; poll || s.wake.due(t) {
		if poll {
			s.nextPoll += s.m.PollInterval
		}
		if err := s.decideAt(t); err != nil {
			return err
		}
		s.wake.decided(t)
		s.dispatch(t) // only moves tasks into a grown main's window: no process is free
	}
	if s.changed {
		s.wake.change(t)
		s.changed = false
	}
	s.res.Queue.add(t, s.waiting())
	s.res.Workers.add(t, len(s.workers))
	s.res.PeakWorkers = max(s.res.PeakWorkers, len(s.workers))
	return nil
}

// markIdle records when each online worker last ran out of tasks.
func (s *sim) markIdle(t time.Duration) {
	for _, w := range s.workers {
		if busy := w.tasks() > 0; w.online && busy != w.busy {
			w.busy = busy
			if !busy {
				w.idleSince = t
			}
		}
	}
}

// advance integrates the execution slots up to t.
func (s *sim) advance(t time.Duration) {
	if t > s.now {
		s.slotNS += int64(len(s.workers)) * int64(s.m.Concurrency) * int64(t-s.now)
		s.now = t
	}
}

func (s *sim) waiting() int { return len(s.queue) - s.head }

// pop takes the oldest queued task off the broker.
func (s *sim) pop() int {
	i := s.queue[s.head]
	s.head++
	s.changed = true
	return i
}

// complete ends the tasks due by t. A worker that was full fetches again.
func (s *sim) complete(t time.Duration) {
	for _, w := range s.workers {
		full := s.capacity(w) == 0
		n := len(w.running)
		w.running = slices.DeleteFunc(w.running, func(i int) bool {
			if tk := s.tasks[i]; tk.end <= t {
				s.runtime = policy.NextRuntime(s.runtime, (tk.end - tk.start).Seconds())
				return true
			}
			return false
		})
		if done := n - len(w.running); done > 0 {
			s.res.Finished += done
			s.res.LastFinish = t
			if full {
				s.block(w)
			}
		}
	}
}

// capacity is how many more tasks w would take: free slots plus free
// prefetch places.
func (s *sim) capacity(w *worker) int {
	return s.m.Concurrency + s.m.Prefetch - w.tasks()
}

// block queues w's fetch behind the ones pending.
func (s *sim) block(w *worker) {
	s.seq++
	w.blockedSeq = s.seq
}

func (s *sim) bringOnline(w *worker, t time.Duration) {
	w.online, w.idleSince = true, t
	s.block(w)
}

// dispatch hands out the tasks that can start or be reserved at t: the
// workers fetch for themselves (dispatchWorkers), or the pool engine's
// worker main fetches for its processes (dispatchMain).
func (s *sim) dispatch(t time.Duration) {
	if s.m.Pool() {
		s.dispatchMain(t)
	} else {
		s.dispatchWorkers(t)
	}
	s.queue, s.head = s.queue[s.head:], 0
}

// dispatchWorkers starts reserved tasks in free slots, then hands queued
// tasks, in FIFO order, to the worker whose fetch has waited longest: into
// a free slot, or else as a reserved task behind its running ones.
func (s *sim) dispatchWorkers(t time.Duration) {
	for _, w := range s.workers {
		for w.accepting() && len(w.running) < s.m.Concurrency && len(w.reserved) > 0 {
			s.begin(w, w.reserved[0], t)
			w.reserved = w.reserved[1:]
		}
	}
	for s.waiting() > 0 {
		best := s.longestFetching()
		if best == nil {
			break
		}
		i := s.pop()
		if len(best.running) < s.m.Concurrency {
			s.begin(best, i, t)
		} else {
			best.reserved = append(best.reserved, i)
		}
		s.block(best)
	}
}

// longestFetching is the worker that takes tasks, has room for one, and
// whose fetch has waited longest; nil if none has room.
func (s *sim) longestFetching() *worker {
	return s.withRoom(func(a, b *worker) bool { return a.blockedSeq < b.blockedSeq })
}

// withRoom is the first, by before, of the workers that take tasks and
// have room for one; nil if none has room.
func (s *sim) withRoom(before func(a, b *worker) bool) *worker {
	var best *worker
	for _, w := range s.workers {
		if w.accepting() && s.capacity(w) > 0 && (best == nil || before(w, best)) {
			best = w
		}
	}
	return best
}

func (s *sim) begin(w *worker, i int, t time.Duration) {
	tk := &s.tasks[i]
	tk.started, tk.start = true, t+s.m.StartDelay
	tk.end = tk.start + tk.dur + s.m.RunOverhead
	w.running = append(w.running, i)
	s.res.Waits = append(s.res.Waits, tk.start-tk.at)
	if inAny(s.ramps, tk.at) {
		s.res.RampWaits = append(s.res.RampWaits, TaskWait{At: tk.at, Wait: tk.start - tk.at})
	}
}

// add starts a worker at t in the lowest free slot, as the pool does.
func (s *sim) add(t time.Duration) *worker {
	slot := 1
	for slices.ContainsFunc(s.workers, func(w *worker) bool { return w.slot == slot }) {
		slot++
	}
	unit := "worker"
	if s.m.Pool() {
		unit = "process"
	}
	w := &worker{name: fmt.Sprintf("%s%d", unit, slot), slot: slot, onlineAt: t + s.m.SpawnTime}
	s.workers = append(s.workers, w)
	return w
}

func (s *sim) result() Result {
	r := s.res
	r.Horizon = s.horizon
	r.Tasks = len(s.tasks)
	r.SlotSeconds = float64(s.slotNS) / 1e9
	r.Waits = slices.Clone(r.Waits)
	slices.Sort(r.Waits)
	r.RampWaits = slices.Clone(r.RampWaits)
	return r
}
