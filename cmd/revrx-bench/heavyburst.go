package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// The heavy-burst scenario: a burst of tasks on an idle contender with no
// pool process, running the heavy app (examples/app/heavy.py).
const (
	burstApp         = "heavy"
	burstTasks       = 6
	burstTaskSeconds = 8.0
	burstSettle      = 2 * time.Second // ready → publish
	burstTimeout     = 60 * time.Second
	burstTarget      = 1.5 // s, publish → all running, for revrx-supervise
)

// burstKeys are the contenders it runs, in order, each with -A heavy and
// --autoscale=10,0.
var burstKeys = []string{"revrx", "revrx-workers", "celery-autoscale"}

// burst is what the scenario measures of a contender.
type burst struct {
	readySlots int       // pool processes when it was ready
	peakSlots  int       // the most pool processes seen
	waits      []float64 // each task's publish → start, s, in start order
	allRunning float64   // first publish → last of the burst started, s
	finished   int
}

// heavyBurstScenario runs the heavy-burst scenario and returns its
// markdown section.
func (h *bench) heavyBurstScenario(ctx context.Context) (string, bool) {
	heavy := func(c contender) contender {
		c.app, c.minZero = burstApp, true
		c.label = strings.Replace(c.label, " --autoscale=10,3", " -A heavy --autoscale=10,0", 1)
		return c
	}
	runs, failed := runEach(ctx, h, "heavy-burst", burstKeys, heavy,
		func(s *session) (burst, error) { return burstOf(ctx, h, s) })
	return burstTable(runs, h.brokerText()), failed
}

// burstOf publishes the burst once s's contender is ready and idle, and
// waits until every task has started and finished.
func burstOf(ctx context.Context, h *bench, s *session) (r burst, err error) {
	_, r.readySlots = s.progress()
	if err := harness.Sleep(ctx, burstSettle); err != nil {
		return r, err
	}
	sctx, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	samplesc := newSampler(s.worker.PID()).run(sctx, sampleEvery)
	if err := h.publishBurst(ctx, s, burstTasks, burstTaskSeconds); err != nil {
		return r, err
	}
	err = waitFor(ctx, burstTimeout, func() bool {
		rec, _ := loadRecord(s.record)
		return len(rec.ends) >= burstTasks
	})
	stopSampling()
	for _, x := range <-samplesc {
		r.peakSlots = max(r.peakSlots, x.Slots)
	}
	rec, rerr := loadRecord(s.record)
	if rerr != nil {
		return r, rerr
	}
	r.finished = len(rec.ends)
	r.waits, r.allRunning = burstWaits(rec)
	if err != nil {
		return r, fmt.Errorf("%d of %d tasks finished: %w (see %s)", r.finished, burstTasks, err, s.dir)
	}
	fmt.Fprintf(os.Stderr, "bench: [heavy-burst/%s] all %d running %s after the first publish\n",
		s.c.key, burstTasks, secs(r.allRunning))
	return r, nil
}

// burstWaits returns each task's wait in start order and the time from the
// first publish to the last start (NaN if a task has not started).
func burstWaits(rec taskRecord) ([]float64, float64) {
	firsts := make([]taskLine, 0, len(rec.first))
	for _, l := range rec.first {
		if l.Started != nil && l.PublishedAt != nil {
			firsts = append(firsts, l)
		}
	}
	slices.SortFunc(firsts, func(a, b taskLine) int { return cmp.Compare(*a.Started, *b.Started) })
	var waits []float64
	published, lastStart := math.Inf(1), math.Inf(-1)
	for _, l := range firsts {
		w, _ := l.wait()
		waits = append(waits, w)
		published = math.Min(published, *l.PublishedAt)
		lastStart = math.Max(lastStart, *l.Started)
	}
	if len(firsts) < burstTasks {
		return waits, math.NaN()
	}
	return waits, lastStart - published
}

// burstTable renders the runs against the target.
func burstTable(runs []scenarioRun[burst], broker string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### heavy-burst — %d × tasks.sleep(%g) at once on an idle contender with 0 pool processes, app `%s`, acks late\n\n",
		burstTasks, burstTaskSeconds, burstApp)
	fmt.Fprintf(&b, "| contender | pool processes when ready | publish → all %d running | target ≤ %g s | each task's wait (start order) | peak pool processes | finished |\n",
		burstTasks, burstTarget)
	b.WriteString("|---|---:|---:|---|---|---:|---:|\n")
	for _, x := range runs {
		if x.err != nil && len(x.m.waits) == 0 {
			fmt.Fprintf(&b, "| `%s` | error: %s | | | | | |\n", x.c.label, strings.ReplaceAll(x.err.Error(), "|", "/"))
			continue
		}
		target := "–"
		m := x.m
		if x.c.revrx && !math.IsNaN(m.allRunning) {
			target = mark(m.allRunning <= burstTarget)
		}
		waits := make([]string, len(m.waits))
		for i, w := range m.waits {
			waits[i] = fmt.Sprintf("%.2f", w)
		}
		fmt.Fprintf(&b, "| `%s` | %d | **%s** | %s | %s s | %d | %d / %d |\n", x.c.label, m.readySlots,
			secs(m.allRunning), target, strings.Join(waits, ", "), m.peakSlots, m.finished, burstTasks)
	}
	fmt.Fprintf(&b, "\nEach contender alone on its own %s with `REVRX_ACKS_LATE=1` (heavy.py imports "+
		"the tasks app and its settings; its import sleeps `REVRX_HEAVY_IMPORT_SECONDS`, default 2 s, and builds "+
		"`REVRX_HEAVY_MB`, default 50 MB, of module data; both left at their defaults); published %s after it was "+
		"ready; waits from the `published_at` stamp to the task's recorded start, as in the trace tables.\n\n", broker, horizonText(burstSettle))
	b.WriteString(commandDetails("heavy-burst", runs))
	return b.String()
}
