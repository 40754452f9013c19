package main

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/revrx/revrx-supervise/supervisor/policy"
	"github.com/revrx/revrx-supervise/supervisor/simulate"
)

// Names of the flags only `simulate` has.
const (
	flagSimTrace        = "trace"
	flagSimSpawnTime    = "spawn-time"
	flagSimPrefetch     = "prefetch"
	flagSimStopTime     = "stop-time"
	flagSimPollOffset   = "poll-offset"
	flagSimHorizon      = "horizon"
	flagSimStart        = "start"
	flagSimSVG          = "svg"
	flagSimCompare      = "compare"
	flagSimCelerySpawn  = "celery-spawn-time"
	flagSimCeleryPoll   = "celery-poll-interval"
	flagSimDecisions    = "decisions"
	flagSimQueues       = flagQueues
	flagSimPredictLead  = "predict-lead"
	simulateUsageSuffix = "e.g. revrx-supervise simulate --trace burst.trace --autoscale=10,3 --compare celery"
)

// simulateCommand is `revrx-supervise simulate`: a trace replayed through
// policy.Decide on a virtual clock (package supervisor/simulate).
func simulateCommand() *cli.Command {
	return &cli.Command{
		Name:  "simulate",
		Usage: "replay a load trace through the scaling policy on a virtual clock (no Redis, no workers)",
		UsageText: "revrx-supervise simulate --trace FILE --autoscale=MAX[,MIN] [--engine pool|workers] [policy flags] [--compare celery|nopredict] [--svg FILE]\n" +
			"   revrx-supervise simulate --autoscale=MAX[,MIN] -Q QUEUE[+QUEUE...][:MIN-MAX],... [flags] FILE\n\n" +
			"   revrx-supervise simulate --trace burst.trace --autoscale=10,3 --compare celery --svg burst.svg\n" +
			"   revrx-supervise simulate --autoscale=10,0 -Q video:0-10,audio:0-10 video-audio.trace\n" +
			"   revrx-supervise simulate --autoscale=10,1 --predict on --predict-period 2m --compare nopredict daily-ramp.trace",
		Description: "The trace has one 'at_seconds count task_seconds [queue]' line per batch ('#' starts a comment; no queue: celery).\n" +
			"Tasks queue FIFO; MIN workers are online at the start; policy.Decide runs every --poll-interval, exactly\n" +
			"as in the supervisor. --engine pool (the default): the workers are the pool processes of one worker main,\n" +
			"one slot each; the main holds one task per process and hands it to the lowest-index idle one; a forked\n" +
			"process takes tasks --spawn-time after the decision; a decision also follows a queue change by 0.1 s.\n" +
			"--engine workers: a started worker takes --spawn-time to come online, has --concurrency slots and\n" +
			"reserves --prefetch more tasks. --compare celery adds Celery's own --autoscale on its\n" +
			"pool (its main forks one process at a time, --celery-spawn-time each; its autoscaler runs on every message and\n" +
			"every --celery-poll-interval); both models carry the per-task overheads measured by the bench.\n" +
			"--policy celery runs that model alone. The host guard is not simulated.\n" +
			"--predict on replays the learned floor as the supervisor does: before each decision the forecast of the pattern\n" +
			"learned so far (one per queue group) over the next --spawn-time + --poll-interval (or --predict-lead), after it the processes the\n" +
			"demand needed; nothing is forecast in the first --predict-period. --predict forecast changes no decision, so it\n" +
			"runs as off. --compare nopredict adds the same column without it ('revrx predict off' beside 'revrx predict on')\n" +
			"and the ratios its targets are stated in. '# ramp START-END' lines in the trace (seconds) mark ramp windows:\n" +
			"the tasks arriving in them count for 'wait p95 during ramps'.\n" +
			"-Q with queue groups (video:0-10,audio:0-10) runs one pool per group, each deciding under its part of the\n" +
			"--autoscale MAX host budget as the supervisor's groups do (--rebalance-after); every queue of the trace must be\n" +
			"in a group. The summary adds a line per group and whether the host stayed within MAX and each group its cap.\n" +
			"The same flags give byte-identical output. Exit codes: 0 done; 2 bad usage or an unreadable trace.",
		Flags:           append(simulateFlags(), policyFlags()...),
		HideHelpCommand: true,
		OnUsageError:    func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
		Action:          runSimulate,
	}
}

// simulateFlags are the flags of `simulate`: the trace, the scaling bounds
// and --poll-interval it shares with the supervisor, and the model's own.
func simulateFlags() []cli.Flag {
	fs := []cli.Flag{&cli.StringFlag{Name: flagSimTrace, EnvVars: []string{"REVRX_SIM_TRACE"},
		Usage: "load trace file: 'at_seconds count task_seconds [queue]' lines (required; or give it as the argument)"}}
	fs = append(fs, scaleFlags()...)
	return append(fs, pollIntervalFlag(),
		&cli.DurationFlag{Name: flagSimPollOffset, EnvVars: []string{"REVRX_SIM_POLL_OFFSET"},
			Usage: "when the first decision happens after the trace starts, below --poll-interval (the phase of the polls against the arrivals)"},
		&cli.StringFlag{Name: flagEngine, EnvVars: []string{"REVRX_SIM_ENGINE"}, Value: string(simulate.EnginePool),
			Usage: "the revrx column's engine: pool (pool processes of one worker main, sized one by one) or workers (one whole Celery worker per slot)"},
		&cli.DurationFlag{Name: flagSimSpawnTime, EnvVars: []string{"REVRX_SIM_SPAWN_TIME"},
			DefaultText: fmt.Sprintf("%s with --engine pool (+%s per further process of one decision), %s with --engine workers", simulate.DefaultPoolSpawnTime, simulate.DefaultPoolForkEach, simulate.DefaultSpawnTime),
			Usage:       "a new worker's start to its first task (workers: exec, measured with prefork --without-mingle --without-gossip, docs/celery-on-redis.md, \"Start-up times\")"},
		&cli.IntFlag{Name: flagSimPrefetch, EnvVars: []string{"REVRX_SIM_PREFETCH"}, Value: simulate.DefaultPrefetch,
			Usage: "--engine workers: tasks each worker reserves beyond its running ones (--prefetch-multiplier=1 with -c 1: 1; task_acks_late: 0)"},
		&cli.DurationFlag{Name: flagSimStopTime, EnvVars: []string{"REVRX_SIM_STOP_TIME"},
			DefaultText: fmt.Sprintf("%s with --engine pool, %s with --engine workers", simulate.DefaultPoolStopTime, simulate.DefaultStopTime),
			Usage:       "how long a stopped idle worker still counts before it is gone"},
		&cli.DurationFlag{Name: flagSimHorizon, EnvVars: []string{"REVRX_SIM_HORIZON"}, DefaultText: "the last task's end + keepalive, at least 110s",
			Usage: "simulated time measured from the trace's start"},
		&cli.StringFlag{Name: flagSimStart, EnvVars: []string{"REVRX_SIM_START"}, Value: simulate.DefaultStart.Format(time.RFC3339),
			Usage: "RFC 3339 instant the trace starts at (schedules depend on it)"},
		&cli.StringFlag{Name: flagSimSVG, EnvVars: []string{"REVRX_SIM_SVG"},
			Usage: "write a chart of waiting tasks, workers and desired workers over time to this SVG file"},
		&cli.StringFlag{Name: flagSimCompare, EnvVars: []string{"REVRX_SIM_COMPARE"},
			Usage: "also run, side by side: 'celery' (Celery's own --autoscale with the same bounds), 'nopredict' (the revrx column without --predict on), or 'celery,nopredict'"},
		&cli.DurationFlag{Name: flagSimCelerySpawn, EnvVars: []string{"REVRX_SIM_CELERY_SPAWN_TIME"}, DefaultText: simulate.DefaultCeleryForkTime.String(),
			Usage: "Celery's model: one fork of its autoscaler; its main forks one process at a time (measured: 7 in 1.26 s, docs/benchmark.md)"},
		&cli.DurationFlag{Name: flagSimCeleryPoll, EnvVars: []string{"REVRX_SIM_CELERY_POLL_INTERVAL"}, DefaultText: "the keepalive",
			Usage: "Celery's model: its autoscaler's periodic tick (it also runs on every message)"},
		&cli.BoolFlag{Name: flagSimDecisions, EnvVars: []string{"REVRX_SIM_DECISIONS"},
			Usage: "also print every decision that started or stopped workers, with its reason"},
		&cli.StringFlag{Name: flagSimQueues, Aliases: []string{"Q"}, EnvVars: []string{"REVRX_SIM_QUEUES"},
			Usage: "queue groups, QUEUE[+QUEUE...][:MIN-MAX], e.g. video:0-10,audio:0-10: one pool per group under the --autoscale budget, " +
				"as the supervisor's -Q; plain queues (no range, no '+') keep one pool for every queue of the trace"},
		rebalanceAfterFlag(),
		&cli.DurationFlag{Name: flagSimPredictLead, EnvVars: []string{"REVRX_SIM_PREDICT_LEAD"}, DefaultText: "--spawn-time + --poll-interval",
			Usage: "--predict on: how far ahead the forecast looks; give the lead a host's /status shows (forecast.lead_seconds) to replay its measured start-up"},
	)
}

// runSimulate checks the flags, runs the models and writes the results.
func runSimulate(c *cli.Context) error {
	path, err := simulateTracePath(c)
	if err != nil {
		return err
	}
	models, err := simulateModels(c)
	if err != nil {
		return err
	}
	start, err := time.Parse(time.RFC3339, c.String(flagSimStart))
	if err != nil {
		return usagef("--%s %q: accepted: an RFC 3339 instant like 2026-01-05T09:00:00Z", flagSimStart, c.String(flagSimStart))
	}
	horizon := c.Duration(flagSimHorizon)
	if horizon < 0 {
		return usagef("--%s %s: accepted: a positive duration like 110s, or 0 for the default", flagSimHorizon, horizon)
	}
	tr, err := simulate.ReadTrace(path)
	if err != nil {
		return usagef("--%s: %w", flagSimTrace, err)
	}
	if groups := models[0].Groups; groups != nil {
		if _, err := simulate.SplitTrace(tr, groups); err != nil {
			return usagef("--%s: %w", flagSimTrace, err)
		}
	}
	rep, err := simulate.Simulate(tr, models, start, horizon)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	var out bytes.Buffer
	if err := simulate.WriteSummary(&out, rep); err != nil {
		return err
	}
	if c.Bool(flagSimDecisions) {
		if err := simulate.WriteDecisions(&out, rep); err != nil {
			return err
		}
	}
	if svgPath := c.String(flagSimSVG); svgPath != "" {
		var svg bytes.Buffer
		if err := simulate.WriteSVG(&svg, rep); err != nil {
			return err
		}
		if err := os.WriteFile(svgPath, svg.Bytes(), 0o644); err != nil {
			return fmt.Errorf("--%s: %w", flagSimSVG, err)
		}
	}
	_, err = c.App.Writer.Write(out.Bytes())
	return err
}

// simulateModels builds the model of the policy the flags describe and
// the ones --compare adds (simulateContenders).
func simulateModels(c *cli.Context) ([]simulate.Model, error) {
	if !c.IsSet(flagAutoscale) {
		return nil, usagef("simulate: --autoscale is required; accepted: --autoscale=MAX[,MIN], e.g. --autoscale=10,3")
	}
	lo, hi, keepalive, err := boundsFromFlags(c)
	if err != nil {
		return nil, err
	}
	concurrency, err := concurrencyFromFlags(c)
	if err != nil {
		return nil, err
	}
	p, err := policyFromFlags(c, lo, hi, concurrency, keepalive)
	if err != nil {
		return nil, err
	}
	k, err := parseCompare(c)
	if err != nil {
		return nil, err
	}
	revrx, err := revrxModel(c, p, concurrency)
	if err != nil {
		return nil, err
	}
	if err := simulateGroups(c, &revrx, lo, hi); err != nil {
		return nil, err
	}
	if err := simulatePredict(c, &revrx); err != nil {
		return nil, err
	}
	models, err := simulateContenders(c, revrx, k, func() simulate.Model { return celeryModel(c, p) })
	if err != nil {
		return nil, err
	}
	for _, m := range models {
		if err := m.Validate(); err != nil {
			return nil, usagef("simulate: %v (check --engine, --spawn-time, --poll-interval, --poll-offset, --prefetch, --stop-time, --predict-lead and the celery-* flags)", err)
		}
	}
	if g := p.Guard; g.MaxCPU > 0 || g.MaxMemory > 0 || g.CriticalMemory > 0 || g.MaxWorkerMemory > 0 {
		fmt.Fprintln(c.App.ErrWriter, "revrx-supervise simulate: note: host CPU and memory are not simulated; the resource guard never acts")
	}
	return models, nil
}

// celeryModel is Celery's own --autoscale with p's bounds and the celery-*
// and --stop-time flags that were set.
func celeryModel(c *cli.Context, p policy.Config) simulate.Model {
	m := simulate.CeleryModel(p)
	if c.IsSet(flagSimCelerySpawn) {
		m.SpawnTime = c.Duration(flagSimCelerySpawn)
	}
	if c.IsSet(flagSimCeleryPoll) {
		m.PollInterval, m.PollOffset = c.Duration(flagSimCeleryPoll), 0
	}
	if c.IsSet(flagSimStopTime) {
		m.StopTime = c.Duration(flagSimStopTime)
	}
	return m
}

// revrxModel builds the model of the revrx column for --engine, with the
// model flags that were set; every error is a usageError naming the flag.
func revrxModel(c *cli.Context, p policy.Config, concurrency int) (simulate.Model, error) {
	var m simulate.Model
	switch engine := simulate.Engine(c.String(flagEngine)); engine {
	case simulate.EnginePool:
		if c.IsSet(flagSimPrefetch) {
			return m, usagef("--%s is for --%s workers: a pool process reserves nothing (its worker main holds one task per process)", flagSimPrefetch, flagEngine)
		}
		if !c.IsSet(flagKeepalive) {
			p.Keepalive = DefaultProcessKeepalive // as the supervisor's pool engine (Celery's column keeps 30 s)
		}
		m = simulate.PoolModel(p)
	case simulate.EngineWorkers:
		m = simulate.RevrxModel(p, concurrency)
		m.Prefetch = c.Int(flagSimPrefetch)
	default:
		return m, usagef("--%s %q: accepted: %s, %s", flagEngine, engine, simulate.EnginePool, simulate.EngineWorkers)
	}
	m.PollInterval, m.PollOffset = c.Duration(flagPollInterval), c.Duration(flagSimPollOffset)
	if c.IsSet(flagSimSpawnTime) {
		m.SpawnTime = c.Duration(flagSimSpawnTime)
	}
	if c.IsSet(flagSimStopTime) {
		m.StopTime = c.Duration(flagSimStopTime)
	}
	return m, nil
}

// simulateTracePath is --trace, or the one argument when --trace is not
// given; every error is a usageError.
func simulateTracePath(c *cli.Context) (string, error) {
	path := c.String(flagSimTrace)
	switch args := c.Args(); {
	case path == "" && args.Len() == 1:
		return args.First(), nil
	case args.Present() && (path != "" || args.Len() > 1):
		return "", usagef("simulate: unexpected argument %q; %s", args.Get(args.Len()-1), simulateUsageSuffix)
	case path == "":
		return "", usagef("simulate: --trace is required; %s", simulateUsageSuffix)
	}
	return path, nil
}

// simulateGroups reads -Q as queue groups within the host bounds lo..hi,
// as the supervisor does (parseGroups), and --rebalance-after, into m;
// plain queues leave m as it is. A bad -Q is a usageError (Celery's
// --autoscale, which has no host budget to share, is refused with groups
// by simulateContenders).
func simulateGroups(c *cli.Context, m *simulate.Model, lo, hi int) error {
	groups, err := parseGroups(c.String(flagSimQueues), lo, hi)
	if err != nil || groups == nil {
		return usageErrorOrNil(err)
	}
	if err := checkGroupSchedules(groups, m.Policy.Schedules); err != nil {
		return err
	}
	for _, g := range groups {
		m.Groups = append(m.Groups, simulate.Group{Name: g.Name, Queues: g.Queues, Min: g.Min, Max: g.Max})
	}
	m.RebalanceAfter, err = rebalanceAfterFromFlags(c)
	return err
}

func usageErrorOrNil(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}
