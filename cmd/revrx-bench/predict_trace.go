package main

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// predictBatch is one "at_seconds count task_seconds [queue]" line of the
// predict scenario's trace (the queue, if any, is dropped: the scenario
// runs one queue).
type predictBatch struct {
	at, seconds float64
	count       int
}

// rampWindow is a "# ramp START-END" directive: tasks published at an
// offset in [start, end) seconds are the ramp's.
type rampWindow struct{ start, end float64 }

// predictTrace is the predict scenario's trace, cut to whole periods.
type predictTrace struct {
	path    string
	batches []predictBatch // in time order
	ramps   []rampWindow   // in time order
	periods int            // periods kept
	all     int            // periods in the file
}

// readPredictTrace reads the trace at path (the simulator's format, with
// its "# ramp START-END" directives) and keeps its first keep periods of
// predictPeriod (0 = all). It fails on a malformed line, a trace with no
// ramp, or keep above the periods the trace has.
func readPredictTrace(path string, keep int) (predictTrace, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return predictTrace{}, err
	}
	t := predictTrace{path: path}
	for i, line := range strings.Split(string(b), "\n") {
		body, comment, _ := strings.Cut(line, "#")
		if w, ok, err := parseRamp(comment); err != nil {
			return t, fmt.Errorf("%s:%d: %w", path, i+1, err)
		} else if ok {
			t.ramps = append(t.ramps, w)
		}
		if f := strings.Fields(body); len(f) > 0 {
			x, err := parsePredictBatch(f)
			if err != nil {
				return t, fmt.Errorf("%s:%d: %w", path, i+1, err)
			}
			t.batches = append(t.batches, x)
		}
	}
	if len(t.batches) == 0 || len(t.ramps) == 0 {
		return t, fmt.Errorf("%s: want batches and at least one '# ramp START-END' line", path)
	}
	slices.SortStableFunc(t.batches, func(a, b predictBatch) int { return cmp.Compare(a.at, b.at) })
	slices.SortFunc(t.ramps, func(a, b rampWindow) int { return cmp.Compare(a.start, b.start) })
	t.all = int(t.batches[len(t.batches)-1].at/predictPeriod.Seconds()) + 1
	switch {
	case keep > t.all:
		return t, fmt.Errorf("%s has %d periods of %s: cannot keep %d", path, t.all, predictPeriod, keep)
	case keep <= 0:
		keep = t.all
	}
	t.cut(keep)
	return t, nil
}

// parseRamp reads a comment "ramp START-END [text]" as the simulator
// does; ok is false for any other comment, one whose second word does not
// begin with a digit ("ramp up to 6/s") included.
func parseRamp(comment string) (w rampWindow, ok bool, err error) {
	f := strings.Fields(comment)
	if len(f) < 2 || f[0] != "ramp" || f[1][0] < '0' || f[1][0] > '9' {
		return w, false, nil
	}
	a, b, found := strings.Cut(f[1], "-")
	start, err1 := strconv.ParseFloat(a, 64)
	end, err2 := strconv.ParseFloat(b, 64)
	if !found || err1 != nil || err2 != nil || start < 0 || end <= start {
		return w, false, fmt.Errorf("want '# ramp START-END' in seconds, START < END, got %q", "#"+comment)
	}
	return rampWindow{start, end}, true, nil
}

func parsePredictBatch(f []string) (predictBatch, error) {
	if len(f) != 3 && len(f) != 4 {
		return predictBatch{}, fmt.Errorf("want 'at_seconds count task_seconds [queue]'")
	}
	at, err1 := strconv.ParseFloat(f[0], 64)
	n, err2 := strconv.Atoi(f[1])
	secs, err3 := strconv.ParseFloat(f[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || at < 0 || n < 0 || secs <= 0 {
		return predictBatch{}, fmt.Errorf("bad number in %q", strings.Join(f, " "))
	}
	return predictBatch{at: at, count: n, seconds: secs}, nil
}

// cut keeps the batches and ramps of the first n periods (a ramp that
// crosses the end is clipped to it).
func (t *predictTrace) cut(n int) {
	end := float64(n) * predictPeriod.Seconds()
	t.batches = slices.DeleteFunc(t.batches, func(b predictBatch) bool { return b.at >= end })
	t.ramps = slices.DeleteFunc(t.ramps, func(w rampWindow) bool { return w.start >= end })
	for i := range t.ramps {
		t.ramps[i].end = math.Min(t.ramps[i].end, end)
	}
	t.periods = n
}

// horizon is the measured window from t=0: the kept periods.
func (t predictTrace) horizon() time.Duration { return time.Duration(t.periods) * predictPeriod }

// inRamp reports whether offset (seconds from t=0) is in a ramp window.
func (t predictTrace) inRamp(offset float64) bool {
	return slices.ContainsFunc(t.ramps, func(w rampWindow) bool { return offset >= w.start && offset < w.end })
}

// batchAt is the offset of the batch nearest to offset: a task's publish
// instant, measured from the bench's t=0 to a few milliseconds, maps to
// the exact offset its trace line gives.
func (t predictTrace) batchAt(offset float64) float64 {
	i, _ := slices.BinarySearchFunc(t.batches, offset, func(b predictBatch, x float64) int { return cmp.Compare(b.at, x) })
	switch {
	case i == len(t.batches):
		return t.batches[i-1].at
	case i > 0 && offset-t.batches[i-1].at < t.batches[i].at-offset:
		return t.batches[i-1].at
	}
	return t.batches[i].at
}

// describe sums the kept trace.
func (t predictTrace) describe() string {
	n, secs := 0, 0.0
	for _, b := range t.batches {
		n += b.count
		secs += float64(b.count) * b.seconds
	}
	var ramps []string
	for _, w := range t.ramps {
		ramps = append(ramps, fmt.Sprintf("%g–%g s", w.start, w.end))
	}
	return fmt.Sprintf("%d of %d periods of %s: %d tasks, %.0f task-seconds; ramps %s",
		t.periods, t.all, predictPeriod, n, secs, strings.Join(ramps, ", "))
}

// write saves the kept trace, ramps included, for examples/producer.py
// and `revrx-supervise simulate` alike.
func (t predictTrace) write(path string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s, the first %d of its %d periods of %s\n", t.path, t.periods, t.all, predictPeriod)
	for _, w := range t.ramps {
		fmt.Fprintf(&b, "# ramp %s-%s\n", decimal(w.start), decimal(w.end))
	}
	for _, x := range t.batches {
		fmt.Fprintf(&b, "%s %d %s\n", decimal(x.at), x.count, decimal(x.seconds))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// decimal writes x as the traces do: decimal seconds, no exponent.
func decimal(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
