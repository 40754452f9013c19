package supervisor

import "time"

// Bounds of the efficiency window /status and the status page show.
const (
	// EfficiencyWindow is how far back Status.Efficiency reaches.
	EfficiencyWindow = time.Hour
	// efficiencyStep is the width of one bucket of the window.
	efficiencyStep = time.Minute
)

// Efficiency is what the supervised processes (pool processes, or whole
// workers) cost over a recent window and the tasks they finished in it:
// process-seconds by state, as revrx_process_seconds_total counts them.
type Efficiency struct {
	// Since is where the window starts: the first tick accrued into its
	// oldest minute (a tick accrues the time since the tick before).
	Since           time.Time `json:"since,omitzero"`
	TasksCompleted  int64     `json:"tasks_completed"`
	BusySeconds     float64   `json:"busy_seconds"`
	IdleSeconds     float64   `json:"idle_seconds"`
	StartingSeconds float64   `json:"starting_seconds"`
	// IdleShare is IdleSeconds over all process-seconds (busy, idle and
	// starting); 0 when there are none.
	IdleShare float64 `json:"idle_share"`
	// SecondsPerTask is all process-seconds over TasksCompleted: what one
	// finished task cost; absent (0) when no task finished.
	SecondsPerTask float64 `json:"process_seconds_per_task,omitempty"`
}

// ProcessSeconds is the window's process-seconds in every state.
func (e Efficiency) ProcessSeconds() float64 {
	return e.BusySeconds + e.IdleSeconds + e.StartingSeconds
}

// plus returns the sum of e and o (the earlier Since), ratios recomputed.
func (e Efficiency) plus(o Efficiency) Efficiency {
	sum := Efficiency{
		Since: e.Since, TasksCompleted: e.TasksCompleted + o.TasksCompleted,
		BusySeconds: e.BusySeconds + o.BusySeconds, IdleSeconds: e.IdleSeconds + o.IdleSeconds,
		StartingSeconds: e.StartingSeconds + o.StartingSeconds,
	}
	if sum.Since.IsZero() || (!o.Since.IsZero() && o.Since.Before(sum.Since)) {
		sum.Since = o.Since
	}
	return sum.withRatios()
}

// withRatios sets IdleShare and SecondsPerTask from the sums.
func (e Efficiency) withRatios() Efficiency {
	e.IdleShare, e.SecondsPerTask = 0, 0
	if all := e.ProcessSeconds(); all > 0 {
		e.IdleShare = e.IdleSeconds / all
		if e.TasksCompleted > 0 {
			e.SecondsPerTask = all / float64(e.TasksCompleted)
		}
	}
	return e
}

// efficiencyBucket is one minute of the window: what was accrued in it.
type efficiencyBucket struct {
	minute time.Time // the minute's start
	from   time.Time // the first tick that accrued into it
	sums   Efficiency
}

// efficiencyRing is the bounded history behind Status.Efficiency: one
// bucket per minute, the last window of them. Only the loop uses it.
type efficiencyRing struct {
	step, window time.Duration
	buckets      ring[efficiencyBucket]
}

func newEfficiencyRing(step, window time.Duration) *efficiencyRing {
	return &efficiencyRing{step: step, window: window, buckets: newRing[efficiencyBucket](int(window / step))}
}

// add accrues one tick's sums (process-seconds and tasks finished since
// the previous tick) into the bucket of now, and drops the buckets that
// fell out of the window.
func (r *efficiencyRing) add(now time.Time, e Efficiency) {
	minute := now.Truncate(r.step)
	b, ok := r.buckets.last()
	if ok && b.minute.Equal(minute) {
		b.sums = b.sums.plus(e)
		r.buckets.setLast(b)
	} else {
		r.buckets.push(efficiencyBucket{minute: minute, from: now, sums: e})
	}
	for first, ok := r.buckets.first(); ok && !r.inWindow(first, now); first, ok = r.buckets.first() {
		r.buckets.dropFirst()
	}
}

// inWindow reports whether b is one of the window's buckets at now (the
// current minute's included).
func (r *efficiencyRing) inWindow(b efficiencyBucket, now time.Time) bool {
	return b.minute.After(now.Truncate(r.step).Add(-r.window)) && !b.minute.After(now)
}

// view sums the buckets within the window at now.
func (r *efficiencyRing) view(now time.Time) Efficiency {
	var sum Efficiency
	for _, b := range r.buckets.all() {
		if !r.inWindow(b, now) {
			continue
		}
		if sum.Since.IsZero() {
			sum.Since = b.from
		}
		sum = sum.plus(b.sums)
	}
	return sum.withRatios()
}
