package supervisor

import (
	"sync"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// Bounds of the status page's history (timeline).
const (
	// timelineStep is the shortest time between two chart points: the
	// decisions within one step are folded into one point.
	timelineStep = 5 * time.Second
	// TimelineWindow is how far back the chart reaches.
	TimelineWindow = time.Hour
	// timelineDecisions is how many of the last decisions that changed
	// something the page lists.
	timelineDecisions = 20
)

// Sample is one point of the status page's chart: the largest values seen
// during the step that starts at At, so a burst drained within a step still
// shows.
type Sample struct {
	At      time.Time
	Depth   int64 // messages waiting, summed over the consumed queues
	Workers int   // worker processes alive (every state but backoff)
	Desired int   // workers the policy wanted
}

// DecisionEvent is one decision that changed something: the desired count,
// a blocked scale-up, or workers to start, take back or stop.
type DecisionEvent struct {
	At      time.Time
	Desired int
	Current int
	Started int      // workers asked to start or taken back
	Stopped []string // workers asked to warm-stop
	Blocked policy.BlockedReason
	Reason  string
}

// timeline is the status page's bounded history: at most one Sample per
// step over the last window, and the last few decisions that changed
// something. The loop adds to it; the page reads it from other goroutines.
type timeline struct {
	step, window time.Duration

	mu          sync.Mutex
	samples     ring[Sample]
	decisions   ring[DecisionEvent]
	lastDesired int
	lastBlocked policy.BlockedReason
}

func newTimeline(step, window time.Duration, decisions int) *timeline {
	return &timeline{
		step: step, window: window, lastDesired: -1,
		samples:   newRing[Sample](int(window / step)),
		decisions: newRing[DecisionEvent](decisions),
	}
}

// record adds one tick's outcome: st is the status it published.
func (t *timeline) record(st Status, d policy.Decision) {
	s := Sample{At: st.Time, Desired: d.Desired}
	for _, q := range st.Queues {
		s.Depth += q.Messages
	}
	for _, w := range st.Workers {
		if w.State != policy.PhaseBackoff {
			s.Workers++
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.add(s)
	t.decide(st.Time, d)
}

// add folds s into the last point while it lies within one step of it,
// else appends it, and drops the points that fell out of the window.
func (t *timeline) add(s Sample) {
	if last, ok := t.samples.last(); ok && s.At.Sub(last.At) < t.step {
		last.Depth = max(last.Depth, s.Depth)
		last.Workers = max(last.Workers, s.Workers)
		last.Desired = max(last.Desired, s.Desired)
		t.samples.setLast(last)
		return
	}
	t.samples.push(s)
	for first, ok := t.samples.first(); ok && first.At.Before(s.At.Add(-t.window)); first, ok = t.samples.first() {
		t.samples.dropFirst()
	}
}

// decide keeps d when it changed something.
func (t *timeline) decide(now time.Time, d policy.Decision) {
	started := d.Start + len(d.Reclaim)
	changed := started > 0 || len(d.Stop) > 0 || d.Desired != t.lastDesired || d.Blocked != t.lastBlocked
	t.lastDesired, t.lastBlocked = d.Desired, d.Blocked
	if !changed {
		return
	}
	ev := DecisionEvent{At: now, Desired: d.Desired, Current: d.Current, Started: started,
		Blocked: d.Blocked, Reason: d.Reason}
	for _, st := range d.Stop {
		ev.Stopped = append(ev.Stopped, st.Name)
	}
	t.decisions.push(ev)
}

// Timeline returns the status page's history as of now (the Time of a
// Snapshot): copies of the chart's samples within TimelineWindow before
// now, oldest first, and of the last decisions that changed something,
// newest first. It is safe to call from any goroutine.
func (s *Supervisor) Timeline(now time.Time) ([]Sample, []DecisionEvent) {
	return s.timeline.view(now)
}

// view returns copies of the samples (oldest first) within the window
// before now and of the kept decisions (newest first).
func (t *timeline) view(now time.Time) ([]Sample, []DecisionEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var samples []Sample
	for _, s := range t.samples.all() {
		if !s.At.Before(now.Add(-t.window)) && !s.At.After(now) {
			samples = append(samples, s)
		}
	}
	decisions := t.decisions.all()
	for i, j := 0, len(decisions)-1; i < j; i, j = i+1, j-1 {
		decisions[i], decisions[j] = decisions[j], decisions[i]
	}
	return samples, decisions
}

// ring is a fixed-capacity FIFO: a push onto a full ring drops the oldest.
type ring[T any] struct {
	buf        []T
	head, size int // index of the oldest element, number of elements
}

func newRing[T any](capacity int) ring[T] { return ring[T]{buf: make([]T, max(1, capacity))} }

func (r *ring[T]) push(v T) {
	if r.size == len(r.buf) {
		r.buf[r.head] = v
		r.head = (r.head + 1) % len(r.buf)
		return
	}
	r.buf[(r.head+r.size)%len(r.buf)] = v
	r.size++
}

func (r *ring[T]) first() (T, bool) {
	var zero T
	if r.size == 0 {
		return zero, false
	}
	return r.buf[r.head], true
}

func (r *ring[T]) last() (T, bool) {
	var zero T
	if r.size == 0 {
		return zero, false
	}
	return r.buf[(r.head+r.size-1)%len(r.buf)], true
}

// setLast replaces the newest element; the ring must not be empty.
func (r *ring[T]) setLast(v T) { r.buf[(r.head+r.size-1)%len(r.buf)] = v }

func (r *ring[T]) dropFirst() {
	var zero T
	r.buf[r.head] = zero
	r.head = (r.head + 1) % len(r.buf)
	r.size--
}

// all returns a copy of the elements, oldest first.
func (r *ring[T]) all() []T {
	out := make([]T, 0, r.size)
	for i := range r.size {
		out = append(out, r.buf[(r.head+i)%len(r.buf)])
	}
	return out
}
