package main

import (
	"fmt"
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
	Secrets    []string // values that must never be printed
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

	brokerURL := c.String(flagBroker)
	ep, err := broker.ParseURL(brokerURL, c.String(flagSentinelMaster))
	if err != nil {
		return cfg, usageError{fmt.Errorf("--broker: %w", err)}
	}
	if ep.Password != "" {
		cfg.Secrets = append(cfg.Secrets, ep.Password)
	}
	cfg.Broker = broker.Config{
		URL: brokerURL, SentinelMaster: c.String(flagSentinelMaster),
		KeyPrefix: c.String(flagKeyPrefix), PrioritySteps: steps,
	}
	cfg.Pool = pool.Config{
		Command: celeryCmd, App: c.String(flagApp), Queues: queues, Concurrency: concurrency,
		Pool: poolName, NameTemplate: c.String(flagWorkerName), ExtraArgs: extraArgs,
		Env:             []string{"CELERY_BROKER_URL=" + brokerURL},
		ShutdownTimeout: c.Duration(flagShutdownTimeout),
	}
	if err := cfg.Pool.Validate(); err != nil {
		return cfg, usageError{err}
	}
	policy, err := policyFromFlags(c, lo, hi, concurrency, keepalive)
	if err != nil {
		return cfg, err
	}
	cfg.Supervisor = supervisor.Config{
		Policy:       policy,
		Queues:       queues,
		PollInterval: c.Duration(flagPollInterval),
		BrokerURL:    broker.Redact(brokerURL),
	}
	cfg.HTTPAddr = c.String(flagHTTPAddr)
	cfg.LogFormat = c.String(flagLogFormat)
	cfg.LogLevel = c.String(flagLogLevel)
	return cfg, nil
}

// pollIntervalFloor keeps a typo like --poll-interval=1ns from spinning a core.
const pollIntervalFloor = 50 * time.Millisecond
