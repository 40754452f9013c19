package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/urfave/cli/v2"
)

// reportCommand is `revrx-supervise report`: what a running supervisor's
// processes cost since it started, per queue group, from its /metrics.
func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "print what a running supervisor's processes cost since it started: process-seconds, idle share, cost per task, waits, what held idle processes",
		Flags: clientFlags(3 * time.Second),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("report: unexpected argument %q; it takes flags only, e.g. revrx-supervise report --addr :9829", c.Args().First())
			}
			code, body, err := fetch(c, "/metrics")
			if err != nil || code != http.StatusOK {
				return clientFailure(c, "/metrics", code, body, err)
			}
			parser := expfmt.NewTextParser(model.UTF8Validation)
			fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
			if err != nil {
				return clientFailure(c, "/metrics", code, nil, err)
			}
			r, err := readCosts(fams)
			if err != nil {
				return clientFailure(c, "/metrics", code, nil, err)
			}
			return printCosts(c.App.Writer, c.String(flagAddr), r, time.Now())
		},
	}
}

// printCosts writes r as a table (one row per group, no group column
// without groups) and, per group, what held idle processes and, where
// the start-up lead is known, the wait they saved at most; now dates the
// supervisor's start.
func printCosts(w io.Writer, addr string, r costReport, now time.Time) error {
	since := "since it started"
	if !r.Started.IsZero() {
		since += fmt.Sprintf(" at %s (%s ago)", r.Started.Format("2006-01-02 15:04:05 MST"), now.Sub(r.Started).Round(time.Second))
	}
	fmt.Fprintf(w, "revrx-supervise at %s: figures %s; the status page shows the last hour.\n\n", addr, since)
	grouped := len(r.Groups) > 1 || (len(r.Groups) == 1 && r.Groups[0].Group != "")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	cells := func(g groupCost, cs ...string) string {
		if grouped {
			cs = append([]string{g.Group}, cs...)
		}
		return strings.Join(cs, "\t") + "\n"
	}
	fmt.Fprint(tw, cells(groupCost{Group: "GROUP"}, "TASKS", "BUSY s", "IDLE s", "STARTING s", "IDLE SHARE", "s PER TASK", "WAIT p50", "WAIT p95"))
	for _, g := range r.Groups {
		fmt.Fprint(tw, cells(g, count(g.Tasks), num(g.Busy), num(g.Idle), num(g.Starting), percent(g.idleShare()),
			num(g.perTask()), secs(quantile(0.5, g.Wait)), secs(quantile(0.95, g.Wait))))
	}
	fmt.Fprintln(tw, "\nidle process-seconds held above what the demand needed:")
	lead := false
	for _, g := range r.Groups {
		for _, line := range heldLines(g) {
			fmt.Fprint(tw, cells(g, line))
		}
		lead = lead || g.Lead > 0
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\n"+savedNote(lead))
	return err
}

// heldLines are g's held process-seconds by holder ("forecast: held 12
// process-seconds, 2 put to work") and the wait they saved at most.
func heldLines(g groupCost) []string {
	var lines []string
	used := 0.0
	for _, by := range []string{"min", "schedule", "forecast", "keepalive"} {
		line := fmt.Sprintf("%s: held %s process-seconds", by, num(g.Held[by]))
		if n := g.Used[by]; n > 0 {
			line += fmt.Sprintf(", %s put to work by a rise in demand", count(n))
		}
		used += g.Used[by]
		lines = append(lines, line)
	}
	if g.Lead > 0 {
		lines = append(lines, fmt.Sprintf("wait saved: at most %s s (%s put to work x %s s start-up lead)",
			num(used*g.Lead), count(used), num(g.Lead)))
	}
	return lines
}

// savedNote says how the saved wait is estimated, or why it is not.
func savedNote(lead bool) string {
	if !lead {
		return "The wait the held processes saved is not estimated: the supervisor measures no start-up lead\n" +
			"(revrx_startup_lead_seconds comes with --predict forecast or on); only what they cost is shown."
	}
	return "Wait saved: each held process a rise in demand put to work spared one task the wait for a process\n" +
		"to start, at most the start-up lead (revrx_startup_lead_seconds: this host's measured start-up, 90th\n" +
		"percentile, plus one poll interval); less when a busy process would have freed first. An upper bound."
}

// num formats v with one decimal below 10 and none from 10 on (0 as
// "0"); "-" for NaN.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v == 0 || math.Abs(v) >= 9.95:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// count formats a count (of tasks, of processes) as a whole number.
func count(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

// percent formats a ratio as a whole percentage; "-" for NaN.
func percent(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(100*v, 'f', 0, 64) + " %"
}

// secs formats a wait in seconds: two decimals below 1 s, else as num;
// "-" for NaN.
func secs(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v < 1:
		return strconv.FormatFloat(v, 'f', 2, 64) + " s"
	}
	return num(v) + " s"
}
