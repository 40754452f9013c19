package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/revrx/revrx-supervise/pool"
	"github.com/revrx/revrx-supervise/supervisor"
)

// Flag names, shared by the flag definitions and contextToConfig.
const (
	flagApp             = "app"
	flagBroker          = "broker"
	flagQueues          = "queues"
	flagPool            = "pool"
	flagCeleryCmd       = "celery-cmd"
	flagWorkerName      = "worker-name"
	flagStallTimeout    = "stall-timeout"
	flagShutdownTimeout = "shutdown-timeout"
	flagHTTPAddr        = "http-addr"
	flagLogFormat       = "log-format"
	flagLogLevel        = "log-level"
	flagKeyPrefix       = "key-prefix"
	flagPrioritySteps   = "priority-steps"
	flagSentinelMaster  = "sentinel-master"
	flagPrioritySep     = "priority-sep"
	flagSpawn           = "spawn"
	flagEngine          = "engine"
	flagImportTimeout   = "import-timeout"
	flagRebalanceAfter  = "rebalance-after"
)

// DefaultRebalanceAfter is --rebalance-after when none is given: at once.
// An idle process does nothing for its group, and is forked again in
// ~0.15 s if its group needs it back.
const DefaultRebalanceAfter = 0

// flags are every command-line flag; each can also come from the
// environment variables listed in EnvVars (the first set one wins).
func flags() []cli.Flag {
	return append(append(supervisorFlags(), policyFlags()...), emfFlags()...)
}

// supervisorFlags are the flags of the workers, the broker and the process.
func supervisorFlags() []cli.Flag {
	fs := []cli.Flag{
		&cli.StringFlag{Name: flagApp, Aliases: []string{"A"}, EnvVars: []string{"CELERY_APP"},
			Usage: "Celery app, as celery -A finds it; the app host imports it once and reports its configuration (empty: Celery's default app)"},
		&cli.StringFlag{Name: flagBroker, Aliases: []string{"b"}, EnvVars: []string{"CELERY_BROKER_URL"},
			Value: "redis://localhost:6379/0",
			Usage: "Celery broker URL: redis://, rediss://, unix://, redis+socket:// or sentinel://; passed to workers in their environment, never argv (default: the app's broker_url, else this)"},
		&cli.StringFlag{Name: flagQueues, Aliases: []string{"Q"}, EnvVars: []string{"REVRX_QUEUES"}, Value: "celery",
			Usage: "comma-separated queues the workers consume and the supervisor measures (default: the app's task_default_queue, else this); " +
				"queue groups, each with its own worker main under the --autoscale budget: QUEUE[+QUEUE...][:MIN-MAX], e.g. video:1-4,audio:0-6,default"},
		rebalanceAfterFlag(),
		&cli.StringFlag{Name: flagSpawn, EnvVars: []string{"REVRX_SPAWN"}, Value: pool.SpawnFork,
			Usage: "how workers start: fork (from an app host that imported the app once; exec while it is down) or exec (a fresh interpreter each)"},
		&cli.StringFlag{Name: flagEngine, EnvVars: []string{"REVRX_ENGINE"}, Value: pool.EnginePool,
			Usage: "pool: one Celery worker whose prefork pool is sized between MIN and MAX processes from inside it; " +
				"workers: one whole Celery worker per slot (isolation; also the fallback when the pool engine cannot run)"},
		&cli.DurationFlag{Name: flagImportTimeout, EnvVars: []string{"REVRX_IMPORT_TIMEOUT"}, Value: pool.DefaultImportTimeout,
			Usage: "how long the app host may take to import the app"},
	}
	fs = append(fs, scaleFlags()...)
	return append(fs,
		&cli.StringFlag{Name: flagPool, Aliases: []string{"P"}, EnvVars: []string{"REVRX_POOL"}, Value: "prefork",
			Usage: "Celery pool per worker: prefork, threads, solo, eventlet, gevent (solo workers are stopped only when idle)"},
		&cli.StringFlag{Name: flagCeleryCmd, EnvVars: []string{"REVRX_CELERY_CMD"}, Value: "celery",
			Usage: "command prefix that runs Celery, split on spaces, e.g. '/usr/bin/python3 -m celery'"},
		&cli.StringFlag{Name: flagWorkerName, EnvVars: []string{"REVRX_WORKER_NAME"}, Value: "worker{n}@%h",
			Usage: "worker node name template: {n} is the slot number, %h the hostname, %n its first label, %d its domain"},
		pollIntervalFlag(),
		&cli.DurationFlag{Name: flagStallTimeout, EnvVars: []string{"REVRX_STALL_TIMEOUT"}, Value: supervisor.DefaultStallAfter,
			Usage: "restart a worker that stays idle this long while a message has waited as long in its queues (0: never)"},
		&cli.DurationFlag{Name: flagShutdownTimeout, EnvVars: []string{"REVRX_SHUTDOWN_TIMEOUT"}, Value: 25 * time.Second,
			Usage: "how long a warm-stopped worker may finish its tasks before its process group is killed"},
		&cli.StringFlag{Name: flagHTTPAddr, EnvVars: []string{"REVRX_HTTP_ADDR"}, Value: ":9829",
			Usage: "address for /metrics, /livez, /readyz and /status (empty: no HTTP server)"},
		&cli.StringFlag{Name: flagLogFormat, EnvVars: []string{"REVRX_LOG_FORMAT"}, Value: "text",
			Usage: "log format: text or json"},
		&cli.StringFlag{Name: flagLogLevel, EnvVars: []string{"REVRX_LOG_LEVEL"}, Value: "info",
			Usage: "log level: debug, info, warn or error"},
		&cli.StringFlag{Name: flagKeyPrefix, EnvVars: []string{"REVRX_KEY_PREFIX"},
			Usage: "kombu global_keyprefix of the broker keys, e.g. 'pfx:' (default: the app's broker_transport_options)"},
		&cli.StringFlag{Name: flagPrioritySteps, EnvVars: []string{"REVRX_PRIORITY_STEPS"}, Value: "0,3,6,9",
			Usage: "kombu priority_steps: a queue's depth sums its list and one sub-list per non-zero step (default: the app's)"},
		&cli.StringFlag{Name: flagPrioritySep, EnvVars: []string{"REVRX_PRIORITY_SEP"},
			Usage: "kombu sep between a queue name and its priority step (default: the app's, else kombu's \\x06\\x16)"},
		&cli.StringFlag{Name: flagSentinelMaster, EnvVars: []string{"REVRX_SENTINEL_MASTER"},
			Usage: "Redis Sentinel master name for sentinel:// broker URLs (kombu's master_name transport option)"},
	)
}

// rebalanceAfterFlag is --rebalance-after, shared by the supervisor and
// `simulate`.
func rebalanceAfterFlag() cli.Flag {
	return &cli.DurationFlag{Name: flagRebalanceAfter, EnvVars: []string{"REVRX_REBALANCE_AFTER"}, Value: DefaultRebalanceAfter,
		Usage: "with queue groups: once a group short of its share, with no free room on the host, has waited this long, other groups' idle processes above their shares stop at once instead of after --keepalive, and their busy ones take no new task (0: at once; busy ones are never stopped)"}
}
