package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// The supervisor's engines (its --engine flag).
const (
	enginePool    = "pool"
	engineWorkers = "workers"
)

// config is the harness's settings after flags and environment.
type config struct {
	bin         string // revrx-supervise binary
	broker      string // brokerRedis (the default) or brokerRabbit
	engine      string // enginePool (the default, as users type it) or engineWorkers
	seed        uint64
	short       bool
	max, min    int
	out         string // kept output directory ("" = a temporary one, removed)
	deadline    time.Duration
	appDir      string // examples/app
	redisServer string // the Redis mode's redis-server
}

// poolEngine reports whether the run is of the pool engine.
func (cfg config) poolEngine() bool { return cfg.engine == enginePool }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// parseConfig reads the flags (each with an environment default).
func parseConfig(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("revrx-chaos", flag.ContinueOnError)
	fs.StringVar(&cfg.bin, "bin", envOr("CHAOS_BIN", "bin/revrx-supervise"), "revrx-supervise binary ($CHAOS_BIN)")
	seed := fs.String("seed", os.Getenv("CHAOS_SEED"), "seed of the plan and the fault targets (default: the clock) ($CHAOS_SEED)")
	fs.BoolVar(&cfg.short, "short", os.Getenv("CHAOS_SHORT") == "1", "short run: ~150 tasks, ~40 s of load, no broker restart nor SIGTERM phase ($CHAOS_SHORT=1)")
	fs.StringVar(&cfg.out, "out", os.Getenv("CHAOS_OUT"), "keep logs, record and broker data in this directory (default: a temporary one, removed) ($CHAOS_OUT)")
	fs.StringVar(&cfg.broker, "broker", envOr("CHAOS_BROKER", brokerRedis), "the broker: redis (a private redis-server) or rabbitmq (a private RabbitMQ node) ($CHAOS_BROKER)")
	fs.StringVar(&cfg.engine, "engine", envOr("CHAOS_ENGINE", enginePool), "the supervisor's engine: pool (its default: one worker main, its pool sized process by process) or workers (one whole worker per slot) ($CHAOS_ENGINE)")
	fs.DurationVar(&cfg.deadline, "deadline", 0, "hard limit on the whole run (default 10m, 4m with -short)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.broker != brokerRedis && cfg.broker != brokerRabbit {
		return cfg, fmt.Errorf("-broker %q: want %s or %s", cfg.broker, brokerRedis, brokerRabbit)
	}
	if cfg.engine != enginePool && cfg.engine != engineWorkers {
		return cfg, fmt.Errorf("-engine %q: want %s or %s", cfg.engine, enginePool, engineWorkers)
	}
	cfg.max, cfg.min = 6, 2
	cfg.seed = uint64(time.Now().UnixNano() % 1_000_000)
	if *seed != "" {
		n, err := strconv.ParseUint(*seed, 10, 64)
		if err != nil {
			return cfg, fmt.Errorf("-seed %q: want a non-negative integer", *seed)
		}
		cfg.seed = n
	}
	return cfg, cfg.locate()
}

// locate finds the binary, the app and the tools the run needs.
func (cfg *config) locate() error {
	var err error
	if cfg.bin, err = filepath.Abs(cfg.bin); err != nil {
		return err
	}
	if _, err := os.Stat(cfg.bin); err != nil {
		return fmt.Errorf("revrx-supervise binary: %w (run make build)", err)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	cfg.appDir = filepath.Join(root, "examples", "app")
	client := "redis"
	if cfg.broker == brokerRabbit {
		client = "amqp"
		if _, err := os.Stat(harness.DefaultRabbitServer); err != nil {
			return fmt.Errorf("rabbitmq-server: %w (make deps installs it)", err)
		}
	} else if cfg.redisServer, err = exec.LookPath("redis-server"); err != nil {
		return fmt.Errorf("%w (make deps installs it)", err)
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import celery, "+client).Run(); err != nil {
		return fmt.Errorf("/usr/bin/python3 cannot import celery and %s (make deps installs them)", client)
	}
	return nil
}
