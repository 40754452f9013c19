package main

import (
	"fmt"
	"strings"
	"time"
)

// idleTable renders the idle scenario's figures as one markdown table,
// under a heading.
func idleTable(runs []idleRun, polls idlePolls, measure time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### idle — the supervisor's footprint with %d idle workers, and its Redis commands per poll\n\n", idleWorkers)
	b.WriteString("| what | measured | target |\n|---|---|---|\n")
	var hostKB int64
	for _, r := range runs {
		engine := "pool"
		if r.spawn == "exec" {
			engine = "workers (the pool engine forks)"
		}
		fmt.Fprintf(&b, "| supervisor CPU, %d idle pool processes or workers, %s, --spawn %s, engine %s | %s | <= 1 %% |\n",
			idleWorkers, horizonText(measure), r.spawn, engine, idleFigure(r.err, "%.2f %% of one core", r.cpu))
		fmt.Fprintf(&b, "| supervisor RSS, same | %s | <= 30 MB |\n", idleFigure(r.err, "%.1f MB", float64(r.rssKB)/1024))
		fmt.Fprintf(&b, "| PSS per worker tree, same | %s | - |\n",
			idleFigure(r.err, "%.1f MB per tree (%d trees)", r.treeKB/1024, r.trees))
		if r.spawn == "fork" {
			hostKB = r.hostKB
		}
	}
	fmt.Fprintf(&b, "| app host PSS, --spawn fork | %.1f MB | - |\n", float64(hostKB)/1024)
	fmt.Fprintf(&b, "| Redis commands in %s, 3 queues | %s | one pipeline per poll |\n", horizonText(idlePollWindow),
		idleFigure(polls.err, "%d LLEN + %d LINDEX over %d polls", polls.llen, polls.lindex, polls.llen/llenPerPoll))
	fmt.Fprintf(&b, "\nCPU: the supervisor's utime + stime (/proc/PID/stat) over the window, which starts %s after "+
		"all %d workers are idle (/metrics); RSS: its VmRSS at the end; PSS (/proc/PID/smaps_rollup) summed over each "+
		"child tree of the supervisor but the app host's (MB = 2²⁰ bytes). Redis: INFO commandstats %s after "+
		"CONFIG RESETSTAT, with one exec'd worker that never talks to Redis (%d LLEN a poll).\n\n",
		horizonText(idleSettle), idleWorkers, horizonText(idlePollWindow), llenPerPoll)
	return b.String()
}

// idleFigure is the figure, or the error in its place.
func idleFigure(err error, format string, args ...any) string {
	if err != nil {
		return "error: " + strings.ReplaceAll(err.Error(), "|", "/")
	}
	return fmt.Sprintf(format, args...)
}
