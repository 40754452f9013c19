package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/revrx/revrx-supervise/pool"
	"github.com/revrx/revrx-supervise/supervisor"
)

// workerPool is what run drives: the pool engine (pool.Engine) or the
// whole-worker engine (pool.Pool); adaptPool makes it a supervisor.Pool.
type workerPool interface {
	poolEngine
	Run(ctx context.Context) error
	Kill()
	SlotNames(n int) []string
}

var (
	_ workerPool = (*pool.Pool)(nil)
	_ workerPool = (*pool.Engine)(nil)
)

// chooseEngine returns the engine to run and, for a fallback from the pool
// engine, why (logged once and shown in /status): the pool engine forks its
// worker main from the app host, runs a prefork pool, and needs the private
// fields its extension checks (the version gate).
func chooseEngine(cfg config, host *pool.AppHost, app *pool.AppConfig, log *slog.Logger) (engine, fallback string) {
	if cfg.Engine != pool.EnginePool {
		return cfg.Engine, ""
	}
	switch {
	case cfg.Pool.Pool != "prefork":
		fallback = "--pool " + cfg.Pool.Pool + " (the pool engine sizes a prefork pool)"
	case cfg.Spawn != pool.SpawnFork:
		fallback = "--spawn exec (the pool engine forks its worker main from the app host)"
	case host == nil || app == nil:
		fallback = "no app host report (the pool engine forks its worker main from the app host)"
	case app.PoolEngineGap != "":
		fallback = "this Celery/billiard/kombu lacks what the pool engine uses: " + app.PoolEngineGap
	}
	if fallback == "" {
		return pool.EnginePool, ""
	}
	log.Warn("the pool engine cannot run here; using the whole-worker engine", "reason", fallback)
	return pool.EngineWorkers, fallback
}

// DefaultProcessKeepalive is the pool engine's --keepalive when none is
// given. Celery's 30 s amortizes a costly start; a pool process is forked
// again from a frozen heap in about 0.15 s, and keeping idle ones for 30 s
// after a burst cost as many process-seconds as Celery's own autoscaler,
// which shrinks 30 s after its last scale-up instead (measured: docs/benchmark.md,
// "Why the pool engine uses fewer worker-seconds").
const DefaultProcessKeepalive = 10 * time.Second

// forEngine adapts cfg to the engine in force: a pool-engine process has
// one slot, so --concurrency does not apply and a process takes one task
// (unless --tasks-per-worker says otherwise); its keepalive defaults to
// DefaultProcessKeepalive.
func forEngine(cfg config, log *slog.Logger) config {
	if cfg.Engine != pool.EnginePool {
		return cfg
	}
	if cfg.Sources[flagKeepalive] == "" {
		cfg.Supervisor.Policy.Keepalive = DefaultProcessKeepalive
	}
	if src := cfg.Sources[flagConcurrency]; src != "" && cfg.Pool.Concurrency != 1 {
		log.Warn("--concurrency applies to --engine workers only; the pool engine sizes processes of one slot each",
			"concurrency", cfg.Pool.Concurrency, "from", src)
	}
	if cfg.Sources[flagTasksPerWorker] == "" {
		cfg.Supervisor.Policy.TasksPerWorker = 1
	}
	return cfg
}

// engineSetting is the engine in force, for /status.
func engineSetting(cfg config, fallback string) supervisor.Setting {
	src := cfg.Sources[flagEngine]
	if src == "" {
		src = sourceDefault
	}
	if fallback != "" {
		src = "fallback: " + fallback
	}
	return supervisor.Setting{Name: "engine", Value: cfg.Engine, Source: src}
}

// newWorkerPool builds the engine cfg.Engine names over pcfg, with at most
// maxProcs processes alive.
func newWorkerPool(cfg config, pcfg pool.Config, maxProcs int) (workerPool, error) {
	if cfg.Engine != pool.EnginePool {
		return pool.New(pcfg)
	}
	return pool.NewEngine(pool.EngineConfig{Main: pcfg, Max: maxProcs})
}
