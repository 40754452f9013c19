package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/pool"
)

// printTable prints one row per app × spawn, with a column per N.
func printTable(w io.Writer, cells []*cell, ns []int, reps int) {
	lo, hi := slices.Min(ns), slices.Max(ns)
	head := []string{"app", "spawn"}
	for _, n := range ns {
		if n == 1 {
			head = append(head, "1 worker ready (median/max)")
		} else {
			head = append(head, fmt.Sprintf("%d at once all ready (median/max)", n))
		}
	}
	each := joinInts(ns)
	head = append(head, "host import (N="+each+")", "PSS/worker (N="+each+")", "host PSS (N="+each+")",
		fmt.Sprintf("PSS per additional worker (N=%d→%d)", lo, hi))
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))

	perAdd := map[string]float64{} // "app spawn" -> bytes
	var notes []string
	for _, row := range rows(cells) {
		byN := map[int]*cell{}
		var imports, perWorker, hostPSS []string
		for _, c := range row {
			byN[c.n] = c
			for _, o := range c.odd {
				notes = append(notes, fmt.Sprintf("%s %s N=%d: %s", c.app, c.spawn, c.n, o))
			}
			perWorker = append(perWorker, mb(median(c.workerPSS)/float64(c.n)))
			if c.spawn == pool.SpawnFork {
				imports = append(imports, secs(c.hostImport))
				hostPSS = append(hostPSS, mb(median(c.hostPSS)))
			}
		}
		cols := []string{row[0].app, row[0].spawn}
		for _, n := range ns {
			cols = append(cols, spread(byN[n]))
		}
		add := "—"
		if a, b := byN[lo], byN[hi]; a != nil && b != nil && hi > lo && len(a.workerPSS) > 0 && len(b.workerPSS) > 0 {
			v := (total(b) - total(a)) / float64(hi-lo)
			perAdd[row[0].app+" "+row[0].spawn] = v
			add = mb(v)
		}
		cols = append(cols, orDash(imports), strings.Join(perWorker, " / "), orDash(hostPSS), add)
		fmt.Fprintf(w, "| %s |\n", strings.Join(cols, " | "))
	}
	fmt.Fprintf(w, "\n%d repetitions per cell; ready = request (Add) → the worker's \"<name> ready.\" line; "+
		"PSS in MiB, 1 s after the last ready line, worker trees = main + prefork child; "+
		"per additional worker = Δ(worker trees + host) / Δworkers.\n", reps)
	var bg []string
	for _, c := range cells {
		if c.backgroundOK {
			bg = append(bg, fmt.Sprintf("%s %s N=%d %.0f %%", c.app, c.spawn, c.n, c.background*100))
		}
	}
	fmt.Fprintf(w, "CPU used by other processes during each cell (share of all cores): %s.\n", strings.Join(bg, ", "))
	for _, c := range cells {
		if c.n > 1 && len(c.spawned) > 0 {
			fmt.Fprintf(w, "%s %s N=%d: the last Add returned (its process started) after %s (median).\n",
				c.app, c.spawn, c.n, secs(medianDuration(c.spawned)))
		}
	}
	for _, app := range appsOf(cells) {
		e, f := perAdd[app+" "+pool.SpawnExec], perAdd[app+" "+pool.SpawnFork]
		if e > 0 && f != 0 {
			fmt.Fprintf(w, "%s: fork adds %.0f %% of exec's PSS per additional worker.\n", app, f/e*100)
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// rows groups the cells by app and spawn, in the order they ran.
func rows(cells []*cell) [][]*cell {
	var out [][]*cell
	for _, c := range cells {
		if k := len(out); k > 0 && out[k-1][0].app == c.app && out[k-1][0].spawn == c.spawn {
			out[k-1] = append(out[k-1], c)
			continue
		}
		out = append(out, []*cell{c})
	}
	return out
}

func appsOf(cells []*cell) []string {
	var apps []string
	for _, c := range cells {
		if !slices.Contains(apps, c.app) {
			apps = append(apps, c.app)
		}
	}
	return apps
}

// total is the cell's median PSS of the worker trees plus the host's.
func total(c *cell) float64 { return median(c.workerPSS) + median(c.hostPSS) }

// spread is "median / max" of the cell's ready times.
func spread(c *cell) string {
	if c == nil || len(c.ready) == 0 {
		return "—"
	}
	return secs(medianDuration(c.ready)) + " / " + secs(slices.Max(c.ready))
}

// medianDuration is the middle value (the lower of the two middle ones).
func medianDuration(v []time.Duration) time.Duration {
	d := slices.Clone(v)
	slices.Sort(d)
	return d[(len(d)-1)/2]
}

func median(v []uint64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return float64(s[len(s)/2])
	}
	return (float64(s[len(s)/2-1]) + float64(s[len(s)/2])) / 2
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
func mb(b float64) string         { return fmt.Sprintf("%.1f MB", b/(1<<20)) }

func orDash(v []string) string {
	if len(v) == 0 {
		return "—"
	}
	return strings.Join(v, " / ")
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, " / ")
}
