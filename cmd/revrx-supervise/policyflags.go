package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// Names of the scaling flags, shared by the supervisor and simulate.
const (
	flagAutoscale         = "autoscale"
	flagKeepalive         = "keepalive"
	flagConcurrency       = "concurrency"
	flagPollInterval      = "poll-interval"
	flagPolicy            = "policy"
	flagTasksPerWorker    = "tasks-per-worker"
	flagTolerance         = "tolerance"
	flagTargetWait        = "target-wait"
	flagMaxCPU            = "max-cpu"
	flagMaxMemory         = "max-memory"
	flagCriticalMemory    = "critical-memory"
	flagMaxWorkerMemory   = "max-worker-memory"
	flagSchedule          = "schedule"
	flagTimezone          = "timezone"
	flagBehaviorFile      = "behavior-file"
	flagUpStabilization   = "scale-up-stabilization"
	flagDownStabilization = "scale-down-stabilization"
	flagUpPolicy          = "scale-up-policy"
	flagDownPolicy        = "scale-down-policy"
	flagUpSelect          = "scale-up-select"
	flagDownSelect        = "scale-down-select"
)

// listValue is a repeatable flag whose environment variable holds several
// values separated by ';' (schedules contain commas).
type listValue struct{ values []string }

func (l *listValue) Set(s string) error {
	for _, v := range strings.Split(s, ";") {
		if v = strings.TrimSpace(v); v != "" {
			l.values = append(l.values, v)
		}
	}
	return nil
}

func (l *listValue) String() string { return strings.Join(l.values, "; ") }

// scaleFlags are the bounds of the scaling (--autoscale, --keepalive,
// --concurrency), shared by the supervisor and `simulate`; read them with
// boundsFromFlags and concurrencyFromFlags.
func scaleFlags() []cli.Flag {
	return []cli.Flag{
		// Not Required: urfave/cli checks Required flags before subcommands
		// (so `version` failed) and without the accepted form; each
		// command's action checks it.
		&cli.StringFlag{Name: flagAutoscale, EnvVars: []string{"REVRX_AUTOSCALE"},
			Usage: "MAX[,MIN] workers, as Celery's --autoscale (required): the larger number is MAX, a missing MIN is 0"},
		&cli.StringFlag{Name: flagKeepalive, EnvVars: []string{"REVRX_KEEPALIVE", "AUTOSCALE_KEEPALIVE"}, Value: "30s",
			Usage: "how long a worker must be idle before it is stopped (a duration, or seconds as Celery's AUTOSCALE_KEEPALIVE); " +
				"with --engine pool the default is 10s: a pool process is forked again in about 0.15 s"},
		&cli.IntFlag{Name: flagConcurrency, Aliases: []string{"c"}, EnvVars: []string{"REVRX_CONCURRENCY"}, Value: 1,
			Usage: "task slots per worker: pool processes (or threads), passed to each worker as --concurrency; also the tasks each worker is sized for"},
	}
}

// pollIntervalFlag is --poll-interval, shared by the supervisor and
// `simulate` (where the decisions run on the virtual clock).
func pollIntervalFlag() cli.Flag {
	return &cli.DurationFlag{Name: flagPollInterval, EnvVars: []string{"REVRX_POLL_INTERVAL"}, Value: supervisor.DefaultPollInterval,
		Usage: "how often the queues are read and the policy applied (on RabbitMQ 250ms unless given: it tells of no new message)"}
}

// boundsFromFlags reads --autoscale and --keepalive; every error is a
// usageError naming the flag.
func boundsFromFlags(c *cli.Context) (lo, hi int, keepalive time.Duration, err error) {
	if lo, hi, err = parseAutoscale(c.String(flagAutoscale)); err != nil {
		return 0, 0, 0, usageError{err}
	}
	if keepalive, err = parseKeepalive(c.String(flagKeepalive)); err != nil {
		return 0, 0, 0, usageError{err}
	}
	return lo, hi, keepalive, nil
}

// concurrencyFromFlags reads --concurrency, at least 1 (a usageError if not).
func concurrencyFromFlags(c *cli.Context) (int, error) {
	n := c.Int(flagConcurrency)
	if n < 1 {
		return 0, usagef("--%s %d: must be at least 1", flagConcurrency, n)
	}
	return n, nil
}

// policyFlags are the flags of the scaling policy (strategies, guard,
// schedules, HPA behavior, the learned floor), shared by the supervisor
// and `simulate`.
func policyFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: flagPolicy, EnvVars: []string{"REVRX_POLICY"}, Value: string(policy.AlgorithmRevrx),
			Usage: "scaling algorithm: revrx (the strategies below) or celery (Celery's own --autoscale, for comparison)"},
		&cli.IntFlag{Name: flagTasksPerWorker, EnvVars: []string{"REVRX_TASKS_PER_WORKER"},
			Usage: "target demand (waiting + reserved + running tasks) per worker (default: --concurrency)"},
		&cli.Float64Flag{Name: flagTolerance, EnvVars: []string{"REVRX_TOLERANCE"},
			Usage: "HPA tolerance: no change while demand / capacity is within 1 ± this (e.g. 0.1); 0 = off"},
		&cli.DurationFlag{Name: flagTargetWait, EnvVars: []string{"REVRX_TARGET_WAIT"},
			Usage: "queue-wait target: scale up while the oldest waiting message is older than this (e.g. 5s); 0 = off"},
		&cli.Float64Flag{Name: flagMaxCPU, EnvVars: []string{"REVRX_MAX_CPU"},
			Usage: "no scale-up while host CPU use is above this ratio (e.g. 0.85); 0 = off"},
		&cli.Float64Flag{Name: flagMaxMemory, EnvVars: []string{"REVRX_MAX_MEMORY"},
			Usage: "no scale-up while host (or cgroup) memory use is above this ratio (e.g. 0.85); 0 = off"},
		&cli.Float64Flag{Name: flagCriticalMemory, EnvVars: []string{"REVRX_CRITICAL_MEMORY"},
			Usage: "above this memory ratio idle workers are stopped without waiting for the keepalive (e.g. 0.95); 0 = off"},
		&cli.StringFlag{Name: flagMaxWorkerMemory, EnvVars: []string{"REVRX_MAX_WORKER_MEMORY"},
			Usage: "a worker whose process tree RSS exceeds this (e.g. 512MiB) is replaced once idle; empty = off"},
		&cli.GenericFlag{Name: flagSchedule, EnvVars: []string{"REVRX_SCHEDULE"}, Value: &listValue{},
			Usage: "time-of-day bounds, repeatable: '[DAYS] HH:MM-HH:MM min=N [max=N] [group=NAME]', e.g. 'Mon-Fri 08:00-18:00 min=6'; with queue groups, group=NAME sets a group's bounds and a host one lowers the host budget by max= (env: ';'-separated)"},
		&cli.StringFlag{Name: flagTimezone, EnvVars: []string{"REVRX_TIMEZONE"}, Value: "Local",
			Usage: "time zone of --schedule, e.g. Europe/Berlin (daylight saving time is followed)"},
		&cli.StringFlag{Name: flagBehaviorFile, EnvVars: []string{"REVRX_BEHAVIOR_FILE"},
			Usage: "YAML/JSON Kubernetes HPA behavior block (or a whole HPA manifest) to apply to workers"},
		&cli.DurationFlag{Name: flagUpStabilization, EnvVars: []string{"REVRX_SCALE_UP_STABILIZATION"},
			Usage: "HPA scale-up stabilization window (HPA default 0s); setting any scale-* flag enables the behavior"},
		&cli.DurationFlag{Name: flagDownStabilization, EnvVars: []string{"REVRX_SCALE_DOWN_STABILIZATION"},
			Usage: "HPA scale-down stabilization window (HPA default 300s)"},
		&cli.GenericFlag{Name: flagUpPolicy, EnvVars: []string{"REVRX_SCALE_UP_POLICY"}, Value: &listValue{},
			Usage: "HPA scale-up step policy, repeatable: pods=N/PERIOD or percent=N/PERIOD, e.g. pods=4/15s (HPA default percent=100/15s and pods=4/15s)"},
		&cli.GenericFlag{Name: flagDownPolicy, EnvVars: []string{"REVRX_SCALE_DOWN_POLICY"}, Value: &listValue{},
			Usage: "HPA scale-down step policy, repeatable, e.g. pods=1/60s (HPA default percent=100/15s)"},
		&cli.StringFlag{Name: flagUpSelect, EnvVars: []string{"REVRX_SCALE_UP_SELECT"},
			Usage: "which scale-up policy wins: Max (default), Min or Disabled"},
		&cli.StringFlag{Name: flagDownSelect, EnvVars: []string{"REVRX_SCALE_DOWN_SELECT"},
			Usage: "which scale-down policy wins: Max (default), Min or Disabled"},
	}, predictFlags()...)
}

// policyFromFlags builds the scaling policy; every error is a usageError
// naming the flag.
func policyFromFlags(c *cli.Context, lo, hi, concurrency int, keepalive time.Duration) (policy.Config, error) {
	p := policy.Config{
		Algorithm: policy.Algorithm(c.String(flagPolicy)), Min: lo, Max: hi, TasksPerWorker: concurrency, Keepalive: keepalive,
		Tolerance: c.Float64(flagTolerance), TargetWait: c.Duration(flagTargetWait), PrefetchMultiplier: 1,
		Guard: policy.Guard{MaxCPU: c.Float64(flagMaxCPU), MaxMemory: c.Float64(flagMaxMemory),
			CriticalMemory: c.Float64(flagCriticalMemory)},
	}
	if c.IsSet(flagTasksPerWorker) {
		p.TasksPerWorker = c.Int(flagTasksPerWorker)
	}
	if s := c.String(flagMaxWorkerMemory); s != "" {
		n, err := parseBytes(s)
		if err != nil {
			return p, usagef("--%s %q: %v; accepted: a size like 512MiB, 1GiB, 800MB or bytes", flagMaxWorkerMemory, s, err)
		}
		p.Guard.MaxWorkerMemory = n
	}
	loc, err := time.LoadLocation(c.String(flagTimezone))
	if err != nil {
		return p, usagef("--%s %q: unknown time zone; accepted: an IANA name like Europe/Berlin, UTC or Local", flagTimezone, c.String(flagTimezone))
	}
	p.Location = loc
	for _, spec := range c.Generic(flagSchedule).(*listValue).values {
		s, err := policy.ParseSchedule(spec)
		if err != nil {
			return p, usagef("--%s: %v", flagSchedule, err)
		}
		p.Schedules = append(p.Schedules, s)
	}
	if p.Behavior, err = behaviorFromFlags(c); err != nil {
		return p, err
	}
	if err := p.Validate(); err != nil {
		return p, usagef("%v", err)
	}
	return p, nil
}

// behaviorFromFlags reads --behavior-file and overrides it with the scale-*
// flags; nil when none is given (up at once, down per keepalive).
func behaviorFromFlags(c *cli.Context) (*policy.Behavior, error) {
	var b policy.Behavior
	enabled := false
	if path := c.String(flagBehaviorFile); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, usagef("--%s: %v", flagBehaviorFile, err)
		}
		if b, err = parseBehavior(data); err != nil {
			return nil, usagef("--%s %s: %v", flagBehaviorFile, path, err)
		}
		enabled = true
	}
	for _, d := range []struct {
		rules              *policy.Rules
		win, pols, selects string
	}{
		{&b.ScaleUp, flagUpStabilization, flagUpPolicy, flagUpSelect},
		{&b.ScaleDown, flagDownStabilization, flagDownPolicy, flagDownSelect},
	} {
		if c.IsSet(d.win) {
			secs := int32(c.Duration(d.win) / time.Second)
			d.rules.StabilizationWindowSeconds, enabled = &secs, true
		}
		if c.IsSet(d.selects) {
			d.rules.SelectPolicy, enabled = c.String(d.selects), true
		}
		if vals := c.Generic(d.pols).(*listValue).values; len(vals) > 0 {
			d.rules.Policies, enabled = nil, true
			for _, v := range vals {
				sp, err := parseStepPolicy(v)
				if err != nil {
					return nil, usagef("--%s %q: %v; accepted: pods=N/PERIOD or percent=N/PERIOD, e.g. pods=4/15s", d.pols, v, err)
				}
				d.rules.Policies = append(d.rules.Policies, sp)
			}
		}
	}
	if !enabled {
		return nil, nil
	}
	b = b.WithDefaults()
	if err := b.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	return &b, nil
}

// parseStepPolicy reads "pods=4/15s" or "percent=100/1m".
func parseStepPolicy(s string) (policy.StepPolicy, error) {
	typ, rest, ok1 := strings.Cut(s, "=")
	val, per, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 {
		return policy.StepPolicy{}, fmt.Errorf("not TYPE=N/PERIOD")
	}
	var sp policy.StepPolicy
	switch strings.ToLower(typ) {
	case "pods":
		sp.Type = policy.StepPods
	case "percent":
		sp.Type = policy.StepPercent
	default:
		return sp, fmt.Errorf("type %q is neither pods nor percent", typ)
	}
	n, err := strconv.Atoi(val)
	if err != nil || n <= 0 {
		return sp, fmt.Errorf("value %q is not a positive whole number", val)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Second {
		return sp, fmt.Errorf("period %q is not a duration of at least 1s", per)
	}
	sp.Value, sp.PeriodSeconds = int32(n), int32(d/time.Second)
	return sp, nil
}

// parseBytes reads a size: bytes, or a number with KB/MB/GB (powers of 1000)
// or KiB/MiB/GiB (powers of 1024).
func parseBytes(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}, {"", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(strings.TrimSpace(s), u.suffix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || f <= 0 {
				return 0, fmt.Errorf("not a positive size")
			}
			return uint64(f * u.mult), nil
		}
	}
	return 0, fmt.Errorf("not a size")
}
