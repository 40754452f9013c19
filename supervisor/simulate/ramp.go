package simulate

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Ramp windows: the spans of a trace its file marks as ramps, over which
// the summary reports the waits of the tasks arriving in them apart ("wait
// p95 during ramps"): the figure a learned floor (--predict on) is judged
// on, where the overall wait p95 mixes the ramps with the steady load.

// Window is the span [Start, End) of a trace's time: a task arriving at
// Start counts, one arriving at End does not.
type Window struct {
	Start, End time.Duration
	Line       int // line number in the trace file, for messages
}

// Contains reports whether at falls in the window.
func (w Window) Contains(at time.Duration) bool { return at >= w.Start && at < w.End }

// rampWord starts a ramp directive: "# ramp START-END".
const rampWord = "ramp"

// rampDirective reads the text of a comment line (what follows its '#')
// as a ramp window "ramp START-END", START and END in decimal seconds,
// START < END; words after the range are a comment. ok is false when the
// comment is not a directive: its first word is not "ramp", or its second
// does not begin with a digit ("# ramp up to 6/s" stays a comment). err
// says what is wrong with one that is.
func rampDirective(comment string) (w Window, ok bool, err error) {
	words := strings.Fields(comment)
	if len(words) < 2 || words[0] != rampWord || words[1][0] < '0' || words[1][0] > '9' {
		return Window{}, false, nil
	}
	const form = "want '# ramp START-END' in seconds, e.g. '# ramp 60-80'"
	from, to, found := strings.Cut(words[1], "-")
	if !found {
		return Window{}, true, fmt.Errorf("ramp %q: no '-' between START and END; %s", words[1], form)
	}
	if w.Start, err = parseSeconds(from); err != nil {
		return Window{}, true, fmt.Errorf("ramp START %q: %w; %s", from, err, form)
	}
	if w.End, err = parseSeconds(to); err != nil {
		return Window{}, true, fmt.Errorf("ramp END %q: %w; %s", to, err, form)
	}
	if w.End <= w.Start {
		return Window{}, true, fmt.Errorf("ramp %s: END must be after START; %s", words[1], form)
	}
	return w, true, nil
}

// InRamp reports whether at falls in one of the trace's ramp windows.
func (t Trace) InRamp(at time.Duration) bool { return inAny(t.Ramps, at) }

// inAny reports whether at falls in one of ws.
func inAny(ws []Window, at time.Duration) bool {
	for _, w := range ws {
		if w.Contains(at) {
			return true
		}
	}
	return false
}

// RampTasks is the number of the trace's tasks that arrive in a ramp
// window.
func (t Trace) RampTasks() int {
	n := 0
	for _, b := range t.Batches {
		if t.InRamp(b.At) {
			n += b.Count
		}
	}
	return n
}

// TaskWait is a started task's arrival offset and wait (start − arrival).
type TaskWait struct {
	At, Wait time.Duration
}

// RampWait is the nearest-rank q-th percentile (0 < q ≤ 100) of the waits
// of the tasks that arrived in a ramp window at or after from (0: all of
// them); 0 when none started.
func (r Result) RampWait(q float64, from time.Duration) time.Duration {
	var waits []time.Duration
	for _, tw := range r.RampWaits {
		if tw.At >= from {
			waits = append(waits, tw.Wait)
		}
	}
	slices.Sort(waits)
	return percentile(waits, q)
}
