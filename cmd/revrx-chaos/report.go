package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// dur prints a measured duration, or "never" for -1.
func dur(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// metricText is the sum of a counter over every supervisor's last /metrics,
// or "n/a" when no supervisor exports it.
func (r *run) metricText(name string) string {
	var sum float64
	found := false
	for _, s := range r.sups {
		if v, ok := metricSum(s.last(), name); ok {
			sum, found = sum+v, true
		}
	}
	if !found {
		return "n/a"
	}
	return fmt.Sprintf("%g", sum)
}

// metricSum is a counter summed over every supervisor's last /metrics.
func (r *run) metricSum(name string) (float64, bool) {
	var sum float64
	found := false
	for _, s := range r.sups {
		if v, ok := metricSum(s.last(), name); ok {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// labelled is "a=1 b=2" for each label value of a counter, summed over the
// supervisors.
func (r *run) labelled(name, label string) string {
	sums := map[string]float64{}
	var order []string
	for _, s := range r.sups {
		for k, v := range s.last() {
			pre := name + "{" + label + `="`
			if rest, ok := strings.CutPrefix(k, pre); ok {
				val, _, _ := strings.Cut(rest, `"`)
				if _, seen := sums[val]; !seen {
					order = append(order, val)
				}
				sums[val] += v
			}
		}
	}
	if len(order) == 0 {
		return "n/a"
	}
	var parts []string
	for _, v := range order {
		parts = append(parts, fmt.Sprintf("%s=%g", v, sums[v]))
	}
	return strings.Join(parts, " ")
}

// table writes two aligned columns.
type table struct{ rows [][2]string }

func (t *table) add(k, format string, args ...any) {
	t.rows = append(t.rows, [2]string{k, fmt.Sprintf(format, args...)})
}

func (t *table) write(w io.Writer) {
	width := 0
	for _, r := range t.rows {
		width = max(width, len(r[0]))
	}
	for _, r := range t.rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r[0], r[1])
	}
}

// unackedAfterQuiet is how long after quietFrom (the later of the last kill
// and the end of the load) unacked was first seen empty (-1: never), and
// that moment.
func (r *run) unackedAfterQuiet() (time.Duration, time.Time) {
	from := r.quietFrom()
	at, ok := r.bw.firstEmptyAfter(from)
	if !ok {
		return -1, from
	}
	return at.Sub(from), from
}

// quietWhat names quietFrom's reference: "the last kill" or "the end of the
// load".
func (r *run) quietWhat() string {
	if last := r.lastKill(); !last.IsZero() && !last.Before(r.quietFrom()) {
		return "the last kill"
	}
	return "the end of the load"
}
