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
	// ImportTimeout bounds how long the app host may take to import the app.
	ImportTimeout time.Duration
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
// every error it returns is a usageError naming the flag.
func contextToConfig(c *cli.Context, extraArgs []string) (config, error) {
	var cfg config
	lo, hi, err := parseAutoscale(c.String(flagAutoscale))
	if err != nil {
		return cfg, usageError{err}
	}
	keepalive, err := parseKeepalive(c.String(flagKeepalive))
	if err != nil {
		return cfg, usageError{err}
	}
	queues := splitList(c.String(flagQueues))
	if len(queues) == 0 {
		return cfg, usagef("--queues %q: no queue; accepted: comma-separated queue names, e.g. -Q reports,emails", c.String(flagQueues))
	}
	poolName := c.String(flagPool)
	if !slices.Contains(pools, poolName) {
		return cfg, usagef("--pool %q: accepted: %s", poolName, strings.Join(pools, ", "))
	}
	concurrency := c.Int(flagConcurrency)
	if concurrency < 1 {
		return cfg, usagef("--concurrency %d: must be at least 1", concurrency)
	}
	if poolName == "solo" {
		concurrency = 1
	}
	steps, err := parseSteps(c.String(flagPrioritySteps))
	if err != nil {
		return cfg, usageError{err}
	}
	if d := c.Duration(flagPollInterval); d < pollIntervalFloor {
		return cfg, usagef("--poll-interval %s: accepted: a duration of at least %s, like 1s", d, pollIntervalFloor)
	}
	if d := c.Duration(flagShutdownTimeout); d <= 0 {
		return cfg, usagef("--shutdown-timeout %s: accepted: a positive duration like 25s", d)
	}
	if f := c.String(flagLogFormat); f != "text" && f != "json" {
		return cfg, usagef("--log-format %q: accepted: text, json", f)
	}
	if _, err := parseLevel(c.String(flagLogLevel)); err != nil {
		return cfg, usageError{err}
	}
	celeryCmd := strings.Fields(c.String(flagCeleryCmd))
	if len(celeryCmd) == 0 {
		return cfg, usagef("--celery-cmd is empty; accepted: a command prefix like 'celery' or '/usr/bin/python3 -m celery'")
	}

	spawn := c.String(flagSpawn)
	if spawn != pool.SpawnFork && spawn != pool.SpawnExec {
		return cfg, usagef("--spawn %q: accepted: fork, exec", spawn)
	}
	cfg.Spawn = spawn
	cfg.Sources = explicitSources(c, flagBroker, flagQueues, flagKeyPrefix, flagPrioritySteps, flagPrioritySep, flagSentinelMaster, flagSpawn)
	brokerURL := c.String(flagBroker)
	ep, err := broker.ParseURL(brokerURL, c.String(flagSentinelMaster))
	if err != nil {
		return cfg, usageError{fmt.Errorf("--broker: %w", err)}
	}
	cfg.Secrets = newSecretSet(ep.Password)
	cfg.Broker = broker.Config{
		URL: brokerURL, SentinelMaster: c.String(flagSentinelMaster),
		KeyPrefix: c.String(flagKeyPrefix), PrioritySteps: steps, Separator: c.String(flagPrioritySep),
	}
	cfg.Pool = pool.Config{
		Command: celeryCmd, App: c.String(flagApp), Queues: queues, Concurrency: concurrency,
		Pool: poolName, NameTemplate: c.String(flagWorkerName), ExtraArgs: extraArgs,
		ShutdownTimeout: c.Duration(flagShutdownTimeout),
	}
	if cfg.Sources[flagBroker] != "" {
		// Celery's CELERY_BROKER_URL wins over the app's broker_url; only a
		// broker the user chose is forced on the workers (never argv).
		cfg.Pool.Env = []string{"CELERY_BROKER_URL=" + brokerURL}
	}
	if err := cfg.Pool.Validate(); err != nil {
		return cfg, usageError{err}
	}
	pol, err := policyFromFlags(c, lo, hi, concurrency, keepalive)
	if err != nil {
		return cfg, err
	}
	cfg.Supervisor = supervisor.Config{
		Policy:       pol,
		Queues:       queues,
		PollInterval: c.Duration(flagPollInterval),
		StallAfter:   stallAfter(c.Duration(flagStallTimeout)),
		BrokerURL:    broker.Redact(brokerURL),
	}
	if d := c.Duration(flagImportTimeout); d <= 0 {
		return cfg, usagef("--import-timeout %s: accepted: a positive duration like 2m", d)
	}
	cfg.ImportTimeout = c.Duration(flagImportTimeout)
	cfg.HTTPAddr = c.String(flagHTTPAddr)
	cfg.LogFormat = c.String(flagLogFormat)
	cfg.LogLevel = c.String(flagLogLevel)
	return cfg, nil
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
