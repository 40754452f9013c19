package simulate

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// Point is a series value from At on.
type Point struct {
	At    time.Duration
	Value int
}

// Series is a step function: each point's value holds until the next one.
type Series []Point

// add records v at t; a later value at the same instant replaces the
// earlier one, and an unchanged value adds nothing.
func (s *Series) add(t time.Duration, v int) {
	p := *s
	if n := len(p); n > 0 && p[n-1].At == t {
		p = p[:n-1]
	}
	if n := len(p); n == 0 || p[n-1].Value != v {
		p = append(p, Point{t, v})
	}
	*s = p
}

// Max is the largest value of the series (0 when empty).
func (s Series) Max() int {
	m := 0
	for _, p := range s {
		m = max(m, p.Value)
	}
	return m
}

// Action is a decision that started or stopped workers.
type Action struct {
	At      time.Duration
	Start   int
	Stop    []string
	Desired int
	Reason  string
}

// Result is what one model did with one trace over the horizon.
type Result struct {
	Model            Model
	Horizon          time.Duration
	Tasks            int             // in the trace
	Published        int             // arrived by the horizon
	Finished         int             // finished by the horizon
	Waits            []time.Duration // start − arrival of every started task, ascending
	RampWaits        []TaskWait      // the tasks that arrived in a ramp window of the trace, by start (by group, then start, with Groups)
	SlotSeconds      float64         // worker-seconds: ∫ workers alive (starting, online, stopping) × concurrency dt
	PeakWorkers      int
	Starts, Stops    int // workers started and stopped by decisions (not the MIN online at the start)
	DirectionChanges int // sign flips between successive non-zero changes: flapping
	LastFinish       time.Duration
	Queue            Series // tasks waiting in the broker
	Workers          Series // workers alive
	Desired          Series // Decision.Desired at each decision
	Decisions        []Action
	Groups           []GroupResult // with Model.Groups: each group's own, in order; the fields above are host-wide
}

// Unfinished is the number of tasks published but not finished at the horizon.
func (r Result) Unfinished() int { return r.Published - r.Finished }

// Wait is the nearest-rank q-th percentile (0 < q ≤ 100) of the waits, as
// the benchmark computes it; 0 when no task started.
func (r Result) Wait(q float64) time.Duration { return percentile(r.Waits, q) }

// percentile is the nearest-rank q-th percentile of the ascending waits;
// 0 when there are none.
func percentile(waits []time.Duration, q float64) time.Duration {
	if len(waits) == 0 {
		return 0
	}
	rank := max(1, int(math.Ceil(q/100*float64(len(waits)))))
	return waits[min(rank, len(waits))-1]
}

// Report is one trace replayed through one or more models over the same
// horizon.
type Report struct {
	Trace   Trace
	Start   time.Time
	Horizon time.Duration
	Runs    []Result
}

// Simulate runs every model over tr from start. A zero horizon means
// DefaultHorizon.
func Simulate(tr Trace, models []Model, start time.Time, horizon time.Duration) (Report, error) {
	if horizon == 0 {
		var err error
		if horizon, err = DefaultHorizon(tr, models, start); err != nil {
			return Report{}, err
		}
	}
	rep := Report{Trace: tr, Start: start, Horizon: horizon}
	for _, m := range models {
		r, err := Run(tr, m, start, horizon)
		if err != nil {
			return Report{}, err
		}
		rep.Runs = append(rep.Runs, r)
	}
	return rep, nil
}

// DefaultHorizon is long enough to see every model drain the trace and then
// a keepalive pass: the last task's end plus the keepalive, rounded up to a
// whole second, and at least MinHorizon. A model that cannot drain the trace
// (a schedule with max=0, say) is given up on at a generous bound.
func DefaultHorizon(tr Trace, models []Model, start time.Time) (time.Duration, error) {
	h := MinHorizon
	for _, m := range models {
		limit := tr.LastArrival() + tr.Work() + m.SpawnTime + m.PollOffset + 2*m.PollInterval + m.Policy.Keepalive
		r, err := Run(tr, m, start, limit)
		if err != nil {
			return 0, err
		}
		end := limit
		if r.Finished == r.Tasks {
			end = r.LastFinish + m.Policy.Keepalive
		}
		h = max(h, end)
	}
	return (h + time.Second - 1).Truncate(time.Second), nil
}

// WriteSummary writes the report as an aligned plain-text table, one
// column per model, with a note on each model's assumptions.
func WriteSummary(w io.Writer, rep Report) error {
	var b strings.Builder
	writeHeader(&b, rep)
	rows := [][]string{{""}}
	for _, r := range rep.Runs {
		rows[0] = append(rows[0], r.Model.Name)
	}
	row := func(label string, f func(r Result) string) {
		cells := []string{label}
		for _, r := range rep.Runs {
			cells = append(cells, f(r))
		}
		rows = append(rows, cells)
	}
	sec := func(d time.Duration) string { return seconds(d) + " s" }
	row("algorithm", func(r Result) string { return string(algorithm(r.Model)) })
	row("worker start-up", func(r Result) string { return sec(r.Model.SpawnTime) })
	row("decision every", decisionEvery)
	row("slots per worker", func(r Result) string { return strconv.Itoa(r.Model.Concurrency) })
	row("prefetch", prefetch)
	row("wait p50", func(r Result) string { return sec(r.Wait(50)) })
	row("wait p95", func(r Result) string { return sec(r.Wait(95)) })
	if len(rep.Trace.Ramps) > 0 {
		row("wait p95 during ramps", func(r Result) string { return sec(r.RampWait(95, 0)) })
	}
	row("wait max", func(r Result) string { return sec(r.Wait(100)) })
	row("worker-seconds", func(r Result) string { return strconv.FormatFloat(r.SlotSeconds, 'f', 1, 64) })
	row("peak workers", func(r Result) string { return strconv.Itoa(r.PeakWorkers) })
	row("scaling events (up+down)", func(r Result) string {
		return fmt.Sprintf("%d (%d+%d)", r.Starts+r.Stops, r.Starts, r.Stops)
	})
	row("direction changes", func(r Result) string { return strconv.Itoa(r.DirectionChanges) })
	row("tasks finished", func(r Result) string { return fmt.Sprintf("%d/%d", r.Finished, r.Published) })
	row("unfinished at horizon", func(r Result) string { return strconv.Itoa(r.Unfinished()) })
	writeTable(&b, rows)
	writeGroups(&b, rep)
	writePredictComparison(&b, rep)
	b.WriteString("\n")
	for _, r := range rep.Runs {
		fmt.Fprintf(&b, "%s: %s%s\n", r.Model.Name, note(r.Model), predictNote(r.Model))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeHeader writes what the trace holds (and its ramp windows, if it
// marks any), the bounds, the start and the horizon, and a blank line.
func writeHeader(b *strings.Builder, rep Report) {
	tr := rep.Trace
	fmt.Fprintf(b, "trace %s: %d tasks, %s task-seconds, last arrival at %s s",
		tr.Name, tr.Tasks(), seconds(tr.Work()), seconds(tr.LastArrival()))
	if len(tr.Ramps) > 0 {
		fmt.Fprintf(b, "; %d ramp windows ('# ramp'), %d tasks arriving in them", len(tr.Ramps), tr.RampTasks())
	}
	b.WriteString("\n")
	if len(rep.Runs) > 0 {
		p := rep.Runs[0].Model.Policy
		fmt.Fprintf(b, "--autoscale=%d,%d --keepalive=%s; start %s; horizon %s s\n",
			p.Max, p.Min, p.Keepalive, rep.Start.Format(time.RFC3339), seconds(rep.Horizon))
	}
	b.WriteString("\n")
}

// algorithm is the algorithm the model's policy runs (the empty one is revrx).
func algorithm(m Model) policy.Algorithm {
	if m.Policy.Algorithm == "" {
		return policy.AlgorithmRevrx
	}
	return m.Policy.Algorithm
}

func prefetch(r Result) string {
	switch {
	case r.Model.Celery():
		return fmt.Sprintf("%d shared", r.Model.Policy.Max*r.Model.Policy.PrefetchMultiplier)
	case r.Model.Pool():
		return fmt.Sprintf("main: %d × processes", r.Model.Multiplier)
	}
	return fmt.Sprintf("%d per worker", r.Model.Prefetch)
}

// decisionEvery is the poll interval and, with change wake-ups, the delay
// after a broker change.
func decisionEvery(r Result) string {
	if r.Model.ChangeSettle > 0 {
		return fmt.Sprintf("%s s, or %s ms after a change", seconds(r.Model.PollInterval), millis(r.Model.ChangeSettle))
	}
	return seconds(r.Model.PollInterval) + " s"
}

// note says what the model assumes, in one line.
func note(m Model) string {
	switch {
	case m.Celery():
		return fmt.Sprintf("Celery's --autoscale (Decide, algorithm celery) on its prefork pool: it runs %s ms after each broker change (on every message) "+
			"and every %s s from %s s; the main forks one process at a time, %s s each, and prefetches up to %d tasks; %s",
			millis(m.ChangeSettle), seconds(m.PollInterval), seconds(m.PollOffset), seconds(m.SpawnTime),
			m.Policy.Max*m.Policy.PrefetchMultiplier, overheads(m))
	case m.Pool():
		return fmt.Sprintf("pool engine: Decide (algorithm %s) sizes one worker main's prefork pool %s; "+
			"the processes a decision forks take tasks %s s + %s ms per further one after it, a stopped idle one is gone in %s s; "+
			"the main holds up to %d task(s) per process, running ones included, and hands each to the idle process of the lowest index; %s",
			algorithm(m), cadence(m), seconds(m.SpawnTime), millis(m.ForkEach), seconds(m.StopTime), m.Multiplier, overheads(m))
	}
	return fmt.Sprintf("workers engine: Decide (algorithm %s) %s; a new worker takes %s s to its first task (docs/celery-on-redis.md, \"Start-up times\"); "+
		"each reserves %d task(s) beyond its running ones.",
		algorithm(m), cadence(m), seconds(m.SpawnTime), m.Prefetch)
}

// overheads states the model's per-task overheads.
func overheads(m Model) string {
	return fmt.Sprintf("a task starts %s ms after a process takes it and runs %s ms longer than told.", millis(m.StartDelay), millis(m.RunOverhead))
}

// millis formats d in whole milliseconds.
func millis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// cadence says when the model decides.
func cadence(m Model) string {
	s := "every " + seconds(m.PollInterval) + " s"
	if m.ChangeSettle > 0 {
		s += fmt.Sprintf(" and %s s after a broker change (at least %s s after the previous decision)", seconds(m.ChangeSettle), seconds(m.ChangeGap))
	}
	return s
}

// writeTable writes rows with the first column left-aligned and the others
// right-aligned, two spaces apart.
func writeTable(b *strings.Builder, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i == 0 {
				line.WriteString(c + pad)
			} else {
				line.WriteString("  " + pad + c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// WriteDecisions lists every decision that started or stopped workers, per
// model, with Decide's reason.
func WriteDecisions(w io.Writer, rep Report) error {
	var b strings.Builder
	for _, r := range rep.Runs {
		fmt.Fprintf(&b, "\n%s decisions that changed the pool:\n", r.Model.Name)
		for _, a := range r.Decisions {
			change := fmt.Sprintf("+%d", a.Start)
			if len(a.Stop) > 0 {
				change = fmt.Sprintf("-%d %s", len(a.Stop), strings.Join(a.Stop, ","))
			}
			fmt.Fprintf(&b, "%8s s  %s  (%s)\n", seconds(a.At), change, a.Reason)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
