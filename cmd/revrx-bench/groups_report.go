package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// groupsTable renders the runs, the peaks against the caps and the targets.
func groupsTable(tr groupTrace, runs []scenarioRun[groupResult], cmds [][]command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### groups — %s; horizon %s; MAX=%d pool processes\n\n", tr.describe(), horizonText(tr.horizon), autoscaleMax)
	b.WriteString("| contender | audio wait p50 | audio wait p95 | video wait p50 | video wait p95 | slot-seconds | peak processes (per worker main) | finished / published | tasks lost | run twice | load avg at start |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n")
	capOK := true
	for _, x := range runs {
		if x.err != nil {
			fmt.Fprintf(&b, "| `%s` | error: %s | | | | | | | | | |\n", x.c.label, strings.ReplaceAll(x.err.Error(), "|", "/"))
			continue
		}
		r := x.m
		caps := groupContenderByKey(x.c.key).caps()
		var peaks []string
		for _, g := range slices.Sorted(maps.Keys(r.peakGroup)) {
			s := fmt.Sprintf("%s %d", g, r.peakGroup[g])
			if c, ok := caps[g]; ok {
				s += fmt.Sprintf("/%d", c)
				if r.peakGroup[g] > c {
					s += " ✗"
					capOK = false
				}
			}
			peaks = append(peaks, s)
		}
		peak := fmt.Sprintf("**%d** (%s)", r.peak, strings.Join(peaks, ", "))
		if r.peak > autoscaleMax {
			peak += " ✗ over MAX"
			capOK = false
		}
		done := doneText(r.finished, r.published, r.leftQueued, r.truncated)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %.0f | %s | %s | %d | %d | %s |\n", x.c.label,
			secs(r.p("audio", 50)), secs(r.p("audio", 95)), secs(r.p("video", 50)), secs(r.p("video", 95)),
			r.slotSecs, peak, done, r.lost(), r.runTwice, r.load1)
	}
	fmt.Fprintf(&b, "\nPeaks per worker main are `current/cap` (its MAX, or its group's ceiling): %s.\n\n", map[bool]string{true: "none above its cap, none above MAX", false: "**a cap or MAX was exceeded (✗)**"}[capOK])
	b.WriteString(groupsVerdict(runs))
	b.WriteString("\n<details><summary>groups: command lines</summary>\n\n")
	for i, x := range runs {
		if i < len(cmds) && len(cmds[i]) > 0 {
			fmt.Fprintf(&b, "- `%s`:\n\n  ```sh\n", x.c.key)
			for _, c := range cmds[i] {
				fmt.Fprintf(&b, "  %s\n", c)
			}
			b.WriteString("  ```\n\n")
		}
	}
	b.WriteString("</details>\n")
	return b.String()
}

// doneText is a "finished / published" cell, with what was left in the
// broker after the warm stop and whether the horizon cut the trace.
func doneText(finished, published, leftQueued int, truncated bool) string {
	done := fmt.Sprintf("%d / %d", finished, published)
	if leftQueued > 0 {
		done += fmt.Sprintf(" (%d left in the broker)", leftQueued)
	}
	if truncated {
		done += " (horizon cut the trace)"
	}
	return done
}

func groupContenderByKey(key string) groupContender {
	for _, c := range allGroupContenders {
		if c.key == key {
			return c
		}
	}
	return groupContender{}
}

// The targets (issue "queue groups"): audio wait p95 ≤ 0.5 × the best
// Celery setup's, video wait p95 ≤ 1.1 × its, slot-seconds ≤ its, 0 lost.
const groupsTargetsText = "audio wait p95 ≤ 0.5 × Celery's; video wait p95 ≤ 1.1 × Celery's; slot-seconds ≤ Celery's; 0 tasks lost"

// groupsVerdict compares each revrx-supervise run with every Celery setup,
// and names the best Celery setup: the lowest audio wait p95 among those
// that lost nothing.
func groupsVerdict(runs []scenarioRun[groupResult]) string {
	var rxs, cels []scenarioRun[groupResult]
	var best string
	bestP95 := math.Inf(1)
	for _, x := range runs {
		switch {
		case x.err != nil:
		case strings.HasPrefix(x.c.key, "revrx"):
			rxs = append(rxs, x)
		default:
			cels = append(cels, x)
			if x.m.lost() == 0 && x.m.p("audio", 95) < bestP95 {
				best, bestP95 = x.c.key, x.m.p("audio", 95)
			}
		}
	}
	if len(rxs) == 0 || len(cels) == 0 {
		return "No revrx-supervise run and Celery run to compare.\n"
	}
	var b strings.Builder
	for _, x := range rxs {
		rx := x.m
		fmt.Fprintf(&b, "`%s` against each Celery setup (targets: %s):\n\n", x.c.label, groupsTargetsText)
		b.WriteString("| against | audio p95 ratio (≤ 0.5) | video p95 ratio (≤ 1.1) | slot-seconds ratio (≤ 1) | lost | all met |\n|---|---:|---:|---:|---:|---|\n")
		for _, y := range cels {
			c := y.m
			a := rx.p("audio", 95) / c.p("audio", 95)
			v := rx.p("video", 95) / c.p("video", 95)
			s := rx.slotSecs / c.slotSecs
			all := a <= 0.5 && v <= 1.1 && s <= 1 && rx.lost() == 0
			name := "`" + y.c.label + "`"
			if y.c.key == best {
				name += " (**best**)"
			}
			fmt.Fprintf(&b, "| %s | %s / %s = %.2f %s | %s / %s = %.2f %s | %.0f / %.0f = %.2f %s | %d %s | %s |\n", name,
				secs(rx.p("audio", 95)), secs(c.p("audio", 95)), a, mark(a <= 0.5),
				secs(rx.p("video", 95)), secs(c.p("video", 95)), v, mark(v <= 1.1),
				rx.slotSecs, c.slotSecs, s, mark(s <= 1), rx.lost(), mark(rx.lost() == 0), map[bool]string{true: "**yes**", false: "no"}[all])
		}
		b.WriteString("\n")
	}
	return b.String()
}
