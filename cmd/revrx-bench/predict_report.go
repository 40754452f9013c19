package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// The targets of the learned floor (issue 16), --predict on against off:
// wait p95 over the ramps ≤ 0.5 ×, process-seconds ≤ 1.10 ×, 0 tasks lost.
const (
	predictRampTarget    = 0.5
	predictSecondsTarget = 1.10
)

// predictTable renders the scenario: each run over the whole trace, both
// runs period by period, on against off with the targets, and the
// simulator against the bench.
func predictTable(tr predictTrace, runs []scenarioRun[predictResult], sim predictSim) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### predict — the learned floor on %s (%s); horizon %s; MAX=%d, MIN=%d pool processes\n\n",
		filepath.Base(tr.path), tr.describe(), horizonText(tr.horizon()), autoscaleMax, predictMin)
	b.WriteString("| run | wait p95 over the ramps | wait p95 | wait p50 | process-seconds | process-seconds (`revrx_process_seconds_total`) | finished / published | tasks lost | run twice | forecast at the end | load avg at start |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, x := range runs {
		if x.err != nil {
			fmt.Fprintf(&b, "| `%s` | error: %s | | | | | | | | | |\n", x.c.label, strings.ReplaceAll(x.err.Error(), "|", "/"))
			continue
		}
		r := x.m
		done := doneText(r.finished, r.published, r.leftQueued, r.truncated)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %.0f | %s | %s | %d | %d | %s | %s |\n", x.c.label,
			secs(r.whole.rampP95), secs(r.whole.p95), secs(r.whole.p50), r.whole.processSecs, metricText(r.metricSecs),
			done, r.lost(), r.runTwice, forecastText(r.forecast), r.load1)
	}
	b.WriteString("\nprocess-seconds: pool processes (children of the worker main, from /proc every 250 ms) integrated over the horizon, as the other scenarios' slot-seconds; the `/metrics` column is the counter's increase from t=0 to the horizon (– when this build does not export it).\n\n")
	off, on, ok := predictPair(runs)
	if !ok {
		b.WriteString("No pair of runs to compare.\n\n")
	} else {
		b.WriteString(periodTable(off, on))
		b.WriteString(predictVerdict(off, on))
		b.WriteString(predictSimTable(off, on, sim))
	}
	b.WriteString(commandDetails("predict", runs))
	return b.String()
}

// predictPair is the off and on runs, ok when both measured.
func predictPair(runs []scenarioRun[predictResult]) (off, on predictResult, ok bool) {
	n := 0
	for _, x := range runs {
		switch {
		case x.err != nil:
		case x.c.key == "off":
			off, n = x.m, n+1
		case x.c.key == "on":
			on, n = x.m, n+1
		}
	}
	return off, on, n == 2
}

// periodTable compares the runs period by period; the first period comes
// first, where they should agree (nothing is forecast yet).
func periodTable(off, on predictResult) string {
	var b strings.Builder
	b.WriteString("Period by period, `--predict off` / `--predict on`:\n\n")
	b.WriteString("| period | wait p95 over the ramp | wait p95 | wait p50 | process-seconds | finished / published |\n|---|---:|---:|---:|---:|---:|\n")
	for i := range min(len(off.periods), len(on.periods)) {
		f, n := off.periods[i], on.periods[i]
		from := float64(i) * predictPeriod.Seconds()
		fmt.Fprintf(&b, "| %d (%g–%g s) | %s / %s | %s / %s | %s / %s | %.0f / %.0f | %d / %d of %d |\n", i+1, from, from+predictPeriod.Seconds(),
			secs(f.rampP95), secs(n.rampP95), secs(f.p95), secs(n.p95), secs(f.p50), secs(n.p50),
			f.processSecs, n.processSecs, f.done, n.done, f.published)
	}
	if len(off.periods) > 0 && len(on.periods) > 0 {
		f, n := off.periods[0], on.periods[0]
		fmt.Fprintf(&b, "\nFirst period, on / off (nothing is forecast before a full period: both should be near 1, within noise): "+
			"wait p95 over the ramp ×%s, wait p95 ×%s, process-seconds ×%s.\n\n",
			ratio(n.rampP95, f.rampP95), ratio(n.p95, f.p95), ratio(n.processSecs, f.processSecs))
	}
	return b.String()
}

// predictVerdict is on against off over the whole trace, with the targets.
func predictVerdict(off, on predictResult) string {
	var b strings.Builder
	ramp := on.whole.rampP95 / off.whole.rampP95
	procs := on.whole.processSecs / off.whole.processSecs
	rampOK, procsOK := ramp <= predictRampTarget, procs <= predictSecondsTarget
	lostOK := on.lost() == 0 && on.runTwice == 0 && off.lost() == 0 && off.runTwice == 0
	fmt.Fprintf(&b, "`--predict on` against `--predict off` (targets: wait p95 over the ramps ≤ %g ×, process-seconds ≤ %.2f ×, 0 tasks lost or run twice):\n\n",
		predictRampTarget, predictSecondsTarget)
	b.WriteString("| figure | off | on | on / off | target | met |\n|---|---:|---:|---:|---|---|\n")
	fmt.Fprintf(&b, "| wait p95 over the ramps | %s | %s | %s | ≤ %g | %s |\n",
		secs(off.whole.rampP95), secs(on.whole.rampP95), ratio(on.whole.rampP95, off.whole.rampP95), predictRampTarget, mark(rampOK))
	fmt.Fprintf(&b, "| process-seconds | %.0f | %.0f | %s | ≤ %.2f | %s |\n",
		off.whole.processSecs, on.whole.processSecs, ratio(on.whole.processSecs, off.whole.processSecs), predictSecondsTarget, mark(procsOK))
	fmt.Fprintf(&b, "| wait p95 over the ramps after the first period | %s | %s | %s | – | |\n",
		secs(off.afterFirst.rampP95), secs(on.afterFirst.rampP95), ratio(on.afterFirst.rampP95, off.afterFirst.rampP95))
	fmt.Fprintf(&b, "| wait p95 | %s | %s | %s | – | |\n", secs(off.whole.p95), secs(on.whole.p95), ratio(on.whole.p95, off.whole.p95))
	fmt.Fprintf(&b, "| wait p50 | %s | %s | %s | – | |\n", secs(off.whole.p50), secs(on.whole.p50), ratio(on.whole.p50, off.whole.p50))
	fmt.Fprintf(&b, "| tasks lost / run twice | %d / %d | %d / %d | | 0 | %s |\n", off.lost(), off.runTwice, on.lost(), on.runTwice, mark(lostOK))
	fmt.Fprintf(&b, "\nAll targets met: **%s**.\n\n", map[bool]string{true: "yes", false: "no"}[rampOK && procsOK && lostOK])
	return b.String()
}

// predictSimTable sets the simulator's figures beside the bench's, or says
// why it cannot.
func predictSimTable(off, on predictResult, sim predictSim) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The simulator on the same trace (`%s`):", strings.Join(sim.argv, " "))
	if math.IsNaN(sim.on.rampP95) && math.IsNaN(sim.on.processSecs) {
		fmt.Fprintf(&b, " no figures: %s.\n\n", sim.note)
		return b.String()
	}
	fmt.Fprintf(&b, " real / simulated; agrees = within ±%.0f %% (±%g s for a wait p95 under %g s), as `TestCalibration`.\n\n",
		simAgreeRel*100, simAgreeAbsP95, simAgreeSmallP95)
	b.WriteString("| run | wait p95 over the ramps | agrees | process-seconds | agrees |\n|---|---:|---|---:|---|\n")
	for _, x := range []struct {
		name string
		real predictResult
		sim  simFigures
	}{{"`--predict off` (simulate `--compare nopredict`)", off, sim.off}, {"`--predict on`", on, sim.on}} {
		fmt.Fprintf(&b, "| %s | %s / %s | %s | %.0f / %.0f | %s |\n", x.name,
			secs(x.real.whole.rampP95), secs(x.sim.rampP95), mark(agreesWait(x.real.whole.rampP95, x.sim.rampP95)),
			x.real.whole.processSecs, x.sim.processSecs, mark(agreesSeconds(x.real.whole.processSecs, x.sim.processSecs)))
	}
	fmt.Fprintf(&b, "| on / off | %s / %s | | %s / %s | |\n",
		ratio(on.whole.rampP95, off.whole.rampP95), ratio(sim.on.rampP95, sim.off.rampP95),
		ratio(on.whole.processSecs, off.whole.processSecs), ratio(sim.on.processSecs, sim.off.processSecs))
	if sim.note != "" {
		fmt.Fprintf(&b, "\nNote: %s.\n", sim.note)
	}
	b.WriteString("\n")
	return b.String()
}

// metricText renders a process-seconds counter's increase, – if missing.
func metricText(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

// forecastText renders /status's forecast at the horizon, – without one.
func forecastText(f *forecastStatus) string {
	if f == nil {
		return "–"
	}
	lead := "default"
	if f.LeadMeasured {
		lead = "measured"
	}
	state := "not ready"
	if f.Ready {
		state = fmt.Sprintf("ready, forecast %d", f.Workers)
	}
	return fmt.Sprintf("%s; lead %.2f s (%s)", state, f.LeadSeconds, lead)
}
