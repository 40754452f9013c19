package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/revrx/revrx-supervise/supervisor"
)

// Flags of the client commands (status, report, healthcheck).
const (
	flagAddr    = "addr"
	flagJSON    = "json"
	flagLive    = "live"
	flagTimeout = "timeout"
)

// clientFlags are the flags every client command takes.
func clientFlags(timeout time.Duration) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagAddr, EnvVars: []string{"REVRX_HTTP_ADDR"}, Value: ":9829",
			Usage: "the supervisor's --http-addr (a bare :PORT means this host)"},
		&cli.DurationFlag{Name: flagTimeout, Value: timeout, Usage: "how long to wait for the answer"},
	}
}

// statusCommand is `revrx-supervise status`: the running supervisor's
// /status as tables, or as JSON.
func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "print a running supervisor's workers, queues, policy and last decision",
		Flags: append(clientFlags(3*time.Second),
			&cli.BoolFlag{Name: flagJSON, Usage: "print /status as JSON instead of tables"}),
		Action: func(c *cli.Context) error {
			code, body, err := fetch(c, "/status")
			if err != nil || code != http.StatusOK {
				return clientFailure(c, "/status", code, body, err)
			}
			if c.Bool(flagJSON) {
				var out bytes.Buffer
				if json.Indent(&out, body, "", "  ") == nil {
					body = append(out.Bytes(), '\n')
				}
				_, err = c.App.Writer.Write(body)
				return err
			}
			var st supervisor.Status
			if err := json.Unmarshal(body, &st); err != nil {
				return clientFailure(c, "/status", code, body, err)
			}
			return printStatus(c.App.Writer, st)
		},
	}
}

// healthcheckCommand is `revrx-supervise healthcheck`: exit 0 when the
// supervisor answers /readyz (or /livez with --live) with 200, else 1; for
// Docker's HEALTHCHECK and ECS's health check, which have no curl.
func healthcheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "healthcheck",
		Usage: "exit 0 if a running supervisor is ready (/readyz), or live with --live (/livez); else 1",
		Flags: append(clientFlags(2*time.Second),
			&cli.BoolFlag{Name: flagLive, Usage: "check /livez instead of /readyz"}),
		Action: func(c *cli.Context) error {
			path := "/readyz"
			if c.Bool(flagLive) {
				path = "/livez"
			}
			code, body, err := fetch(c, path)
			if err != nil || code != http.StatusOK {
				return clientFailure(c, path, code, body, err)
			}
			return nil
		},
	}
}

// fetch GETs path from the supervisor at --addr.
func fetch(c *cli.Context, path string) (int, []byte, error) {
	addr := c.String(flagAddr)
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration(flagTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, nil, usagef("--addr %q: accepted: HOST:PORT or :PORT (%v)", c.String(flagAddr), err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, body, err
}

// clientFailure reports a failed check on stderr and exits 1 (a usage
// error keeps its exit code 2).
func clientFailure(c *cli.Context, path string, code int, body []byte, err error) error {
	if _, usage := err.(usageError); usage {
		return err
	}
	what := fmt.Sprintf("%d %s", code, strings.TrimSpace(string(body)))
	if err != nil {
		what = err.Error()
	}
	fmt.Fprintf(c.App.ErrWriter, "revrx-supervise: %s: %s\n", path, what)
	return cli.Exit("", 1)
}

// printGroups writes the queue groups table of a host with several.
func printGroups(tw io.Writer, groups []supervisor.Status) {
	if len(groups) == 0 {
		return
	}
	fmt.Fprintln(tw, "GROUP\tQUEUES\tRANGE\tALIVE\tBUSY\tSHARE\tLIMIT\tMAIN")
	for _, g := range groups {
		if g.Group == nil {
			continue
		}
		queues := slices.Sorted(maps.Keys(g.Queues))
		_, busy := g.WorkersUp()
		limit := strconv.Itoa(g.Group.Limit)
		if g.Group.Capped {
			limit += " (capped)"
		}
		main := ""
		if e := g.Engine; e != nil {
			main = fmt.Sprintf("%s pid %d %s", e.Main.Name, e.Main.PID, e.Main.State)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d-%d\t%d\t%d\t%d\t%s\t%s\n", g.Group.Name, strings.Join(queues, ","),
			g.Policy.MinNow, g.Policy.MaxNow, len(g.Workers), busy, g.Group.Share, limit, main)
	}
	fmt.Fprintln(tw)
}

func disabledNote(why string) string {
	if why == "" {
		return ""
	}
	return " (extension disabled: " + why + ")"
}

// forecastLine says what the learned floor knows: the forecast once a
// full period is learned, else since when it learns; and the lead.
func forecastLine(f supervisor.ForecastStatus) string {
	lead := fmt.Sprintf("lead %.2fs", f.LeadSeconds)
	if !f.LeadMeasured {
		lead += " (assumed until a start-up is seen)"
	}
	if !f.Ready {
		return fmt.Sprintf("learning since %s (period %s), nothing forecast yet; %s",
			f.LearningSince.Format(time.RFC3339), time.Duration(f.PeriodSeconds*float64(time.Second)), lead)
	}
	return fmt.Sprintf("%d processes within the lead (period %s); %s", f.Workers, time.Duration(f.PeriodSeconds*float64(time.Second)), lead)
}

// printStatus writes st as a few aligned tables.
func printStatus(w io.Writer, st supervisor.Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	up := map[bool]string{true: "up", false: "DOWN"}
	p := st.Policy
	fmt.Fprintf(tw, "broker\t%s\t%s, events %s\n", st.Broker.URL, up[st.Broker.Up], up[st.Broker.EventsUp])
	fmt.Fprintf(tw, "policy\t%s\tmin %d max %d (now %d..%d), tasks per worker %d, keepalive %gs\n",
		p.Algorithm, p.Min, p.Max, p.MinNow, p.MaxNow, p.TasksPerWorker, p.KeepaliveSecs)
	if e := st.Engine; e != nil {
		m := e.Main
		fmt.Fprintf(tw, "engine\t%s\tmain %s pid %d %s, restarts %d; %d processes, %d reserved, prefetch %d%s\n",
			e.Engine, m.Name, m.PID, m.State, m.Restarts, e.Processes, e.Reserved, e.Prefetch, disabledNote(e.Disabled))
	}
	if f := st.Forecast; f != nil {
		fmt.Fprintf(tw, "forecast\t%s\t%s\n", f.Mode, forecastLine(*f))
	}
	d := st.LastDecision
	fmt.Fprintf(tw, "decision\tdesired %d\tdemand %d, unmet %d: %s\n\n", d.Desired, d.Demand, d.Unmet, d.Reason)
	printGroups(tw, st.Groups)
	fmt.Fprintln(tw, "QUEUE\tMESSAGES\tOLDEST")
	for name, q := range st.Queues {
		fmt.Fprintf(tw, "%s\t%d\t%.1fs\n", name, q.Messages, q.OldestAgeSecs)
	}
	fmt.Fprintln(tw, "\nWORKER\tSLOT\tPID\tSTATE\tRECEIVED\tRUNNING\tIDLE\tRESTARTS\tSPAWN")
	for _, wk := range st.Workers {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%.0fs\t%d\t%s\n", wk.Name, wk.Slot, wk.PID, wk.State,
			wk.Received, wk.Running, wk.IdleSeconds, wk.Restarts, wk.Spawn)
	}
	return tw.Flush()
}
