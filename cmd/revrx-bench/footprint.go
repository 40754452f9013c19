package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// The footprint scenario: the PSS of a contender's whole process tree while
// MAX pool processes are busy.
const (
	footprintTaskSeconds = 25.0             // longer than the wait for them all to start and the samples
	footprintBusyTimeout = 15 * time.Second // + settle + samples < the tasks' length
	footprintSettle      = 2 * time.Second  // after the last start, before the first sample
	footprintSamples     = 3                // 1 s apart; the median total is reported
	footprintTarget      = 0.75             // revrx-supervise's PSS ≤ 0.75 × celery --autoscale's
)

// footprintKeys are the contenders it runs, in order: the traces'
// --autoscale=10,3 commands as they are.
var footprintKeys = []string{"revrx", "revrx-workers", "celery-autoscale"}

// footprint is what the scenario measures of a contender.
type footprint struct {
	busy, slots  int           // tasks running and pool processes when sampled
	totals       []int64       // the samples' PSS totals, KiB
	pss          treePSS       // the median sample
	waitedBusy   time.Duration // the producer's exit → MAX busy
	busyTimedOut bool
}

// footprintScenario runs the footprint scenario and returns its markdown
// section.
func (h *bench) footprintScenario(ctx context.Context) (string, bool) {
	runs, failed := runEach(ctx, h, "footprint", footprintKeys, func(c contender) contender { return c },
		func(s *session) (footprint, error) { return footprintOf(ctx, h, s) })
	return footprintTable(runs, h.brokerText()), failed
}

// footprintOf publishes MAX long tasks to s's contender, waits until MAX
// pool processes run them and samples the tree's PSS. The contender is
// then stopped without waiting for its tasks (SIGKILL after 10 s).
func footprintOf(ctx context.Context, h *bench, s *session) (r footprint, err error) {
	name := "footprint/" + s.c.key
	if err := h.publishBurst(ctx, s, autoscaleMax, footprintTaskSeconds); err != nil {
		return r, err
	}
	published := time.Now()
	err = waitFor(ctx, footprintBusyTimeout, func() bool {
		r.busy, r.slots = s.progress()
		return r.busy >= autoscaleMax && r.slots >= autoscaleMax
	})
	r.waitedBusy = time.Since(published)
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	r.busyTimedOut = err != nil // sampled anyway: the table says how many were busy
	fmt.Fprintf(os.Stderr, "bench: [%s] %d running, %d pool processes %s after the burst\n",
		name, r.busy, r.slots, r.waitedBusy.Round(time.Millisecond))
	if err := harness.Sleep(ctx, footprintSettle); err != nil {
		return r, err
	}
	var looks []treePSS
	for i := range footprintSamples {
		if i > 0 {
			if err := harness.Sleep(ctx, time.Second); err != nil {
				return r, err
			}
		}
		looks = append(looks, measureTreePSS(s.worker.PID()))
		r.totals = append(r.totals, looks[i].total())
	}
	r.busy, r.slots = s.progress()
	slices.SortFunc(looks, func(a, b treePSS) int { return cmp.Compare(a.total(), b.total()) })
	r.pss = looks[len(looks)/2]
	fmt.Fprintf(os.Stderr, "bench: [%s] PSS %s (median of %d)\n", name, mb(r.pss.total()), footprintSamples)
	return r, nil
}

// footprintTable renders the runs, with each revrx-supervise run's ratio
// to the celery --autoscale run.
func footprintTable(runs []scenarioRun[footprint], broker string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### footprint — %d busy pool processes (%d × tasks.sleep(%g), acks late), PSS of the whole tree\n\n",
		autoscaleMax, autoscaleMax, footprintTaskSeconds)
	b.WriteString("| contender | running tasks / pool processes | PSS total | supervisor | app host | worker main(s) | pool processes | samples (MB) | vs celery (target ≤ 0.75) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---|---:|\n")
	var celery int64
	for _, x := range runs {
		if !x.c.revrx && x.err == nil {
			celery = x.m.pss.total()
		}
	}
	for _, x := range runs {
		if x.err != nil {
			fmt.Fprintf(&b, "| `%s` | error: %s | | | | | | | |\n", x.c.label, strings.ReplaceAll(x.err.Error(), "|", "/"))
			continue
		}
		p := x.m.pss
		vs := "–"
		if x.c.revrx && celery > 0 {
			q := float64(p.total()) / float64(celery)
			vs = fmt.Sprintf("%.2f %s", q, mark(q <= footprintTarget))
		}
		busy := fmt.Sprintf("%d / %d", x.m.busy, x.m.slots)
		if x.m.busyTimedOut {
			busy += fmt.Sprintf(" (not %d within %s)", autoscaleMax, horizonText(footprintBusyTimeout))
		}
		fmt.Fprintf(&b, "| `%s` | %s | **%s** | %s | %s | %s | %s | %s | %s |\n",
			x.c.label, busy, mb(p.total()), p.roleMB(roleSupervisor), p.roleMB(roleHost),
			p.roleMB(roleMain), p.roleMB(rolePool), mbList(x.m.totals), vs)
	}
	fmt.Fprintf(&b, "\nEach contender alone on its own %s: started, ready, %d tasks published at once; "+
		"PSS (/proc/PID/smaps_rollup) summed over every process of its tree, %s after %d tasks were running "+
		"(record file) on %d pool processes (/proc), or after %s if not; the median of %d samples 1 s apart (MB = 2²⁰ bytes). "+
		"revrx-supervise's tree: the supervisor, the app host, the worker main(s) and their pool processes; "+
		"celery's: the worker main and its pool processes.\n\n",
		broker, autoscaleMax, horizonText(footprintSettle), autoscaleMax, autoscaleMax, horizonText(footprintBusyTimeout), footprintSamples)
	b.WriteString(commandDetails("footprint", runs))
	return b.String()
}
