package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/pool"
	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/emf"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// config is everything the flags say, checked once.
type config struct {
	Supervisor supervisor.Config
	Pool       pool.Config
	Broker     broker.Config
	HTTPAddr   string
	LogFormat  string
	LogLevel   string
	Secrets    *secretSet // values that must never be printed
	// Spawn is how workers start: pool.SpawnFork (from the app host) or
	// pool.SpawnExec.
	Spawn string
	// Engine is pool.EnginePool or pool.EngineWorkers, as asked; assemble
	// may fall back to the workers engine (chooseEngine).
	Engine string
	// ImportTimeout bounds how long the app host may take to import the app.
	ImportTimeout time.Duration
	// EMF is the CloudWatch Embedded Metric Format output (off by default).
	EMF emf.Config
	// Groups are the queue groups of -Q, each with its own worker main
	// under the host budget of --autoscale; nil for plain queues (one
	// group, as before groups).
	Groups []queueGroup
	// RebalanceAfter is the host budget's policy.Budget.RebalanceAfter.
	RebalanceAfter time.Duration
	// Sources says where each app-overridable setting given on the command
	// line or in the environment came from ("flag", "env NAME"); a setting
	// missing here takes the app's value (see applyApp).
	Sources map[string]string
}

// usageError is a bad flag or argument: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

var pools = []string{"prefork", "threads", "solo", "eventlet", "gevent", "processes"}

// contextToConfig turns the parsed flags into the program's configuration;
// every error it returns is a usageError naming the flag. The flags are
// checked in a fixed order, so a command line with several mistakes always
// reports the same one.
func contextToConfig(c *cli.Context, extraArgs []string) (config, error) {
	var cfg config
	lo, hi, keepalive, err := boundsFromFlags(c)
	if err != nil {
		return cfg, err
	}
	w, err := workersFromFlags(c)
	if err != nil {
		return cfg, err
	}
	if err := cfg.groupsFromFlags(c, lo, hi, &w); err != nil {
		return cfg, err
	}
	steps, err := parseSteps(c.String(flagPrioritySteps))
	if err != nil {
		return cfg, usageError{err}
	}
	if err := checkProcessFlags(c); err != nil {
		return cfg, err
	}
	if w.command, cfg.Spawn, err = startFromFlags(c); err != nil {
		return cfg, err
	}
	if cfg.Engine = c.String(flagEngine); cfg.Engine != pool.EnginePool && cfg.Engine != pool.EngineWorkers {
		return cfg, usagef("--engine %q: accepted: pool, workers", cfg.Engine)
	}
	cfg.Sources = explicitSources(c, flagBroker, flagQueues, flagKeyPrefix, flagPrioritySteps, flagPrioritySep, flagSentinelMaster, flagSpawn, flagEngine,
		flagConcurrency, flagTasksPerWorker, flagKeepalive, flagPollInterval)
	if cfg.Broker, cfg.Secrets, err = brokerFromFlags(c, steps); err != nil {
		return cfg, err
	}
	if cfg.Pool, err = poolFromFlags(c, w, extraArgs, cfg.Sources[flagBroker] != ""); err != nil {
		return cfg, err
	}
	pol, err := policyFromFlags(c, lo, hi, w.concurrency, keepalive)
	if err != nil {
		return cfg, err
	}
	if err := cfg.fitGroups(c, pol); err != nil {
		return cfg, err
	}
	predict, err := predictFromFlags(c, pol.Location)
	if err != nil {
		return cfg, err
	}
	cfg.Supervisor = supervisor.Config{
		Policy:       pol,
		Queues:       w.queues,
		PollInterval: c.Duration(flagPollInterval),
		StallAfter:   stallAfter(c.Duration(flagStallTimeout)),
		BrokerURL:    broker.Redact(cfg.Broker.URL),
		Predict:      predict,
	}
	if d := c.Duration(flagImportTimeout); d <= 0 {
		return cfg, usagef("--import-timeout %s: accepted: a positive duration like 2m", d)
	}
	cfg.ImportTimeout = c.Duration(flagImportTimeout)
	if cfg.EMF, err = emfFromFlags(c); err != nil {
		return cfg, err
	}
	cfg.HTTPAddr = c.String(flagHTTPAddr)
	cfg.LogFormat = c.String(flagLogFormat)
	cfg.LogLevel = c.String(flagLogLevel)
	return cfg, nil
}

// workers is what the flags say of the worker processes themselves.
type workers struct {
	queues      []string // consumed and measured, at least one
	pool        string   // Celery pool, one of pools
	concurrency int      // per worker, at least 1; 1 for the solo pool
	command     []string // the command prefix that runs Celery, not empty
}

// workersFromFlags reads --queues, --pool and --concurrency (the command is
// left to startFromFlags); every error is a usageError naming the flag.
func workersFromFlags(c *cli.Context) (workers, error) {
	w := workers{queues: splitList(c.String(flagQueues)), pool: c.String(flagPool)}
	if len(w.queues) == 0 {
		return w, usagef("--queues %q: no queue; accepted: comma-separated queue names, e.g. -Q reports,emails", c.String(flagQueues))
	}
	if !slices.Contains(pools, w.pool) {
		return w, usagef("--pool %q: accepted: %s", w.pool, strings.Join(pools, ", "))
	}
	var err error
	if w.concurrency, err = concurrencyFromFlags(c); err != nil {
		return w, err
	}
	if w.pool == "solo" {
		w.concurrency = 1
	}
	return w, nil
}

// groupsFromFlags reads the queue groups of -Q (nil for plain queues) and
// --rebalance-after into cfg; with groups, w consumes every group's queues.
// It checks that the worker name template can tell the groups' mains apart.
func (cfg *config) groupsFromFlags(c *cli.Context, lo, hi int, w *workers) error {
	groups, err := parseGroups(c.String(flagQueues), lo, hi)
	if err != nil {
		return usageError{err}
	}
	if groups != nil && c.IsSet(flagWorkerName) && !strings.Contains(c.String(flagWorkerName), groupPlaceholder) {
		return usagef("--worker-name %q: with queue groups it must contain %s (the group's name), e.g. %s",
			c.String(flagWorkerName), groupPlaceholder, defaultGroupNameTemplate)
	}
	if cfg.Groups = groups; groups != nil {
		w.queues = allQueues(groups)
	}
	cfg.RebalanceAfter, err = rebalanceAfterFromFlags(c)
	return err
}

// fitGroups checks pol's schedules against the queue groups and gives the
// groups' mains their node name template (unless --worker-name set one).
func (cfg *config) fitGroups(c *cli.Context, pol policy.Config) error {
	if cfg.Groups != nil && !c.IsSet(flagWorkerName) {
		cfg.Pool.NameTemplate = defaultGroupNameTemplate
	}
	return checkGroupSchedules(cfg.Groups, pol.Schedules)
}

// checkProcessFlags checks the flags of the supervisor process that are
// used as they are: --poll-interval (at least pollIntervalFloor),
// --shutdown-timeout (positive), --log-format and --log-level.
func checkProcessFlags(c *cli.Context) error {
	if d := c.Duration(flagPollInterval); d < pollIntervalFloor {
		return usagef("--poll-interval %s: accepted: a duration of at least %s, like 1s", d, pollIntervalFloor)
	}
	if d := c.Duration(flagShutdownTimeout); d <= 0 {
		return usagef("--shutdown-timeout %s: accepted: a positive duration like 25s", d)
	}
	if f := c.String(flagLogFormat); f != "text" && f != "json" {
		return usagef("--log-format %q: accepted: text, json", f)
	}
	if _, err := parseLevel(c.String(flagLogLevel)); err != nil {
		return usageError{err}
	}
	return nil
}

// startFromFlags reads how workers start: the --celery-cmd prefix, split on
// spaces and not empty, and --spawn (pool.SpawnFork or pool.SpawnExec).
func startFromFlags(c *cli.Context) (command []string, spawn string, err error) {
	command = strings.Fields(c.String(flagCeleryCmd))
	if len(command) == 0 {
		return nil, "", usagef("--celery-cmd is empty; accepted: a command prefix like 'celery' or '/usr/bin/python3 -m celery'")
	}
	spawn = c.String(flagSpawn)
	if spawn != pool.SpawnFork && spawn != pool.SpawnExec {
		return nil, "", usagef("--spawn %q: accepted: fork, exec", spawn)
	}
	return command, spawn, nil
}

// brokerFromFlags reads the broker's URL (checked as Celery reads it, with
// --sentinel-master), key prefix and priority sub-lists, and returns the
// URL's password as a secret never to print.
func brokerFromFlags(c *cli.Context, steps []int) (broker.Config, *secretSet, error) {
	url := c.String(flagBroker)
	passwords, err := broker.CheckURL(url, c.String(flagSentinelMaster))
	if err != nil {
		return broker.Config{}, nil, usageError{fmt.Errorf("--broker: %w", err)}
	}
	return broker.Config{
		URL: url, SentinelMaster: c.String(flagSentinelMaster),
		KeyPrefix: c.String(flagKeyPrefix), PrioritySteps: steps, Separator: c.String(flagPrioritySep),
	}, newSecretSet(passwords...), nil
}

// poolFromFlags builds and checks the pool's configuration from w, the
// worker flags and extraArgs (what follows --). With forceBroker (a broker
// the user chose) the workers get --broker in CELERY_BROKER_URL, which wins
// over the app's broker_url; never in argv.
func poolFromFlags(c *cli.Context, w workers, extraArgs []string, forceBroker bool) (pool.Config, error) {
	pc := pool.Config{
		Command: w.command, App: c.String(flagApp), Queues: w.queues, Concurrency: w.concurrency,
		Pool: w.pool, NameTemplate: c.String(flagWorkerName), ExtraArgs: extraArgs,
		ShutdownTimeout: c.Duration(flagShutdownTimeout),
	}
	if forceBroker {
		pc.Env = []string{"CELERY_BROKER_URL=" + c.String(flagBroker)}
	}
	if err := pc.Validate(); err != nil {
		return pc, usageError{err}
	}
	return pc, nil
}

// pollIntervalFloor keeps a typo like --poll-interval=1ns from spinning a core.
const pollIntervalFloor = 50 * time.Millisecond

// explicitSources returns, for each of the named flags that the command line
// or the environment set, where its value came from: "env NAME" when one of
// its environment variables holds the value in force, else "flag".
func explicitSources(c *cli.Context, names ...string) map[string]string {
	out := map[string]string{}
	for _, name := range names {
		if !c.IsSet(name) {
			continue
		}
		out[name] = "flag"
		for _, f := range c.App.Flags {
			ef, ok := f.(interface{ GetEnvVars() []string })
			if !ok || !slices.Contains(f.Names(), name) {
				continue
			}
			for _, env := range ef.GetEnvVars() {
				if v, ok := os.LookupEnv(env); ok && v == c.String(name) {
					out[name] = "env " + env
					break
				}
			}
		}
	}
	return out
}

// stallAfter maps --stall-timeout to supervisor.Config.StallAfter: 0 (or
// negative) turns the check off.
func stallAfter(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
