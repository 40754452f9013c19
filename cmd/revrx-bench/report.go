package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// run is one contender's outcome on one trace.
type run struct {
	c   contender
	cmd command
	r   result
	err error
}

// traceRuns is every run of one trace, in run order.
type traceRuns struct {
	tr   trace
	runs []run
}

func (t traceRuns) find(key string) (run, bool) {
	for _, r := range t.runs {
		if r.c.key == key && r.err == nil {
			return r, true
		}
	}
	return run{}, false
}

func secs(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f s", v)
}

// table renders one trace's results as markdown.
func (t traceRuns) table(horizon time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s — %d tasks (%.0f task-seconds), last publish at %.0f s, horizon %g s\n\n",
		t.tr.name, t.tr.tasks, t.tr.taskSeconds, t.tr.lastPublish, horizon.Seconds())
	b.WriteString("| contender | wait p50 | wait p95 | wait max | worker-seconds | PSS GB-s | CPU s | scaling events | peak slots | finished / published | tasks lost | run twice |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	shortPass := false
	for _, x := range t.runs {
		if x.c.keepalive == "5" || x.c.keepalive == "5s" {
			if !shortPass {
				b.WriteString("| *shorter keepalive (5 s):* | | | | | | | | | | | |\n")
				shortPass = true
			}
		}
		if x.err != nil {
			fmt.Fprintf(&b, "| `%s` | error: %s | | | | | | | | | | |\n", x.c.label, strings.ReplaceAll(x.err.Error(), "|", "/"))
			continue
		}
		r := x.r
		done := fmt.Sprintf("%d / %d", r.Finished, r.Published)
		if r.LeftQueued > 0 {
			done += fmt.Sprintf(" (%d still queued)", r.LeftQueued)
		}
		if r.Truncated {
			done += " (horizon cut the trace)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %.0f | %.1f | %.1f | %d | %d | %s | %d | %d |\n",
			x.c.label, secs(r.WaitP50), secs(r.WaitP95), secs(r.WaitMax), r.WorkerSecs, r.PssGBSecs,
			r.CPUSecs, r.Events, r.PeakSlots, done, r.Lost, r.RunTwice)
	}
	return b.String()
}

// verdict compares a revrx-supervise run with its celery --autoscale
// baseline against the project's targets.
type verdict struct {
	p95Limit                 float64
	p95OK, wsOK, pssOK, lost bool
}

// The targets (the pool engine's issue): wait p95 ≤ Celery's + 0.05 s,
// worker-seconds ≤ 0.9 × Celery's, PSS GB-s ≤ 0.85 × Celery's, nothing lost
// or run twice.
const targetsText = "wait p95 ≤ celery's + 0.05 s; worker-seconds ≤ 0.9 × celery's; " +
	"PSS GB-s ≤ 0.85 × celery's; 0 tasks lost or run twice"

func judge(rx, cel result) verdict {
	v := verdict{p95Limit: cel.WaitP95 + 0.05}
	v.p95OK = rx.WaitP95 <= v.p95Limit
	v.wsOK = rx.WorkerSecs <= 0.9*cel.WorkerSecs
	v.pssOK = rx.PssGBSecs <= 0.85*cel.PssGBSecs
	v.lost = rx.Lost == 0 && rx.RunTwice == 0
	return v
}

func (v verdict) pass() bool { return v.p95OK && v.wsOK && v.pssOK && v.lost }

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// ratios renders the revrx-supervise vs celery --autoscale comparison; it
// also returns one summary line per comparison.
func (t traceRuns) ratios() (string, []string) {
	var b strings.Builder
	var summary []string
	for _, x := range t.runs {
		if !x.c.revrx || x.err != nil {
			continue
		}
		base, ok := t.find(x.c.baseline)
		if b.Len() == 0 {
			fmt.Fprintf(&b, "Ratios vs `celery worker --autoscale=10,3` with the same keepalive (targets: %s):\n\n", targetsText)
			b.WriteString("| revrx-supervise run | wait p95 ratio | p95 target | worker-seconds ratio | PSS GB-s ratio | lost / run twice | result |\n")
			b.WriteString("|---|---:|---:|---:|---:|---:|---|\n")
		}
		if !ok {
			fmt.Fprintf(&b, "| `%s` | no `%s` run to compare with | | | | %d | – |\n", x.c.label, x.c.baseline, x.r.Lost)
			continue
		}
		rx, cel := x.r, base.r
		v := judge(rx, cel)
		res := "PASS"
		if !v.pass() {
			res = "FAIL"
		}
		fmt.Fprintf(&b, "| `%s` | %s / %s = %s %s | ≤ %s | %.0f / %.0f = %s %s | %.1f / %.1f = %s %s | %d / %d %s | **%s** |\n",
			x.c.label, secs(rx.WaitP95), secs(cel.WaitP95), ratio(rx.WaitP95, cel.WaitP95), mark(v.p95OK),
			secs(v.p95Limit), rx.WorkerSecs, cel.WorkerSecs, ratio(rx.WorkerSecs, cel.WorkerSecs), mark(v.wsOK),
			rx.PssGBSecs, cel.PssGBSecs, ratio(rx.PssGBSecs, cel.PssGBSecs), mark(v.pssOK), rx.Lost, rx.RunTwice, mark(v.lost), res)
		summary = append(summary, fmt.Sprintf("- %s, `%s`: **%s** (wait p95 %s vs ≤ %s, worker-seconds ×%s, PSS ×%s, %d lost)",
			t.tr.name, x.c.label, res, secs(rx.WaitP95), secs(v.p95Limit),
			ratio(rx.WorkerSecs, cel.WorkerSecs), ratio(rx.PssGBSecs, cel.PssGBSecs), rx.Lost))
	}
	return b.String(), summary
}

func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// runDetails lists, per run, the conditions it ran in (for judging noise).
func (t traceRuns) runDetails() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<details><summary>%s: run details</summary>\n\n", t.tr.name)
	b.WriteString("| contender | load avg (1 min) at start | stop took | run dir |\n|---|---:|---:|---|\n")
	for _, x := range t.runs {
		fmt.Fprintf(&b, "| `%s` | %s | %.1f s | `runs/%s-%s` |\n", x.c.key, x.r.Load1, x.r.StopSeconds, t.tr.name, x.c.key)
	}
	b.WriteString("\n</details>\n")
	return b.String()
}
