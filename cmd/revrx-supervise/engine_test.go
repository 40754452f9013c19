package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/pool"
)

// TestForEngine: a pool-engine process has one slot, so it takes one task
// unless --tasks-per-worker says otherwise; the workers engine keeps the
// worker concurrency.
func TestForEngine(t *testing.T) {
	cases := []struct {
		name    string
		engine  string
		sources map[string]string
		tpw     int // tasks per worker before
		want    int
	}{
		{"pool, -c 4", pool.EnginePool, map[string]string{flagConcurrency: "flag"}, 4, 1},
		{"pool, --tasks-per-worker 3", pool.EnginePool, map[string]string{flagTasksPerWorker: "flag"}, 3, 3},
		{"workers, -c 4", pool.EngineWorkers, map[string]string{flagConcurrency: "flag"}, 4, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cfg config
			cfg.Engine, cfg.Sources = c.engine, c.sources
			cfg.Pool.Concurrency, cfg.Supervisor.Policy.TasksPerWorker = c.tpw, c.tpw
			cfg.Supervisor.Policy.Keepalive = 30 * time.Second
			got := forEngine(cfg, slog.New(slog.DiscardHandler)).Supervisor.Policy
			if got.TasksPerWorker != c.want {
				t.Errorf("tasks per worker = %d, want %d", got.TasksPerWorker, c.want)
			}
			wantKeepalive := 30 * time.Second
			if c.engine == pool.EnginePool {
				wantKeepalive = DefaultProcessKeepalive
			}
			if got.Keepalive != wantKeepalive {
				t.Errorf("keepalive = %s, want %s (not given)", got.Keepalive, wantKeepalive)
			}
		})
	}
}

// TestChooseEngineFallsBack: the pool engine needs a prefork pool, forking
// from the app host, an app report and the private fields it checks;
// otherwise the whole-worker engine runs, and the reason is returned.
func TestChooseEngineFallsBack(t *testing.T) {
	host := &pool.AppHost{}
	ok := &pool.AppConfig{}
	cases := []struct {
		name           string
		poolType       string
		spawn          string
		host           *pool.AppHost
		app            *pool.AppConfig
		want, fallback string
	}{
		{"all there", "prefork", pool.SpawnFork, host, ok, pool.EnginePool, ""},
		{"threads pool", "threads", pool.SpawnFork, host, ok, pool.EngineWorkers, "--pool threads"},
		{"exec", "prefork", pool.SpawnExec, host, ok, pool.EngineWorkers, "--spawn exec"},
		{"no app host", "prefork", pool.SpawnFork, nil, nil, pool.EngineWorkers, "no app host"},
		{"version gate", "prefork", pool.SpawnFork, host, &pool.AppConfig{PoolEngineGap: "missing AsynPool._busy_workers"}, pool.EngineWorkers, "_busy_workers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cfg config
			cfg.Engine, cfg.Spawn, cfg.Pool.Pool = pool.EnginePool, c.spawn, c.poolType
			got, why := chooseEngine(cfg, c.host, c.app, slog.New(slog.DiscardHandler))
			if got != c.want || (c.fallback == "") != (why == "") || !strings.Contains(why, c.fallback) {
				t.Errorf("chooseEngine = %q, %q; want %q with a reason naming %q", got, why, c.want, c.fallback)
			}
		})
	}
}
