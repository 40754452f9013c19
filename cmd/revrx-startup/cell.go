package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/pool"
)

// Bounds on every wait, so a run always ends.
const (
	hostImportTimeout = 90 * time.Second
	readyTimeout      = 90 * time.Second
	stopTimeout       = 30 * time.Second
	shutdownTimeout   = 10 * time.Second // a worker's warm stop, then SIGKILL
	settle            = 1 * time.Second  // after the last ready line, before PSS
)

var python = []string{"/usr/bin/python3"}

// cell is one app × spawn × N, measured over reps repetitions.
type cell struct {
	app, spawn string
	n          int

	hostImport time.Duration   // fork: Start → the host's ready report
	ready      []time.Duration // per rep: request → the last of N ready lines
	spawned    []time.Duration // per rep: request → the last of N Add calls returned (process started)
	workerPSS  []uint64        // per rep: sum over the N worker trees, bytes
	hostPSS    []uint64        // per rep (fork): the host process, bytes
	odd        []string        // anything unexpected, for the report

	background   float64 // share of the machine's CPU other processes used meanwhile
	backgroundOK bool
}

func (c *cell) notef(format string, args ...any) { c.odd = append(c.odd, fmt.Sprintf(format, args...)) }

// runCell measures one cell with its own redis-server, pool and (for fork)
// app host.
func runCell(ctx context.Context, c *cell, reps int, rec *recorder, dir string) error {
	// Without Pdeathsig: the pool's starter goroutine retires its locked
	// thread, which may be the one that forked redis-server (see harness.Start).
	srv, err := harness.StartRedis(ctx, harness.RedisConfig{Dir: dir, NoDeathSignal: true})
	if err != nil {
		return err
	}
	defer srv.Kill()
	env := []string{"CELERY_BROKER_URL=" + srv.URL(0)}
	log := rec.logger()
	var host *pool.AppHost
	if c.spawn == pool.SpawnFork {
		if host, err = startHost(ctx, c, env, log); err != nil {
			return err
		}
	}
	p, err := pool.New(pool.Config{
		Command: append(slices.Clone(python), "-m", "celery"), App: c.app, Queues: []string{"bench"},
		Env: env, ExtraArgs: []string{"--loglevel=INFO"}, Host: host, Logger: log,
		ShutdownTimeout: shutdownTimeout, Reap: true, // a child subreaper once a host exists
	})
	if err != nil {
		if host != nil {
			host.Close()
		}
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-runErr; err != nil {
			c.notef("pool run: %v", err)
		}
		for _, w := range rec.takeWarnings() {
			c.notef("pool said: %s", w)
		}
	}()
	for rep := 0; rep < reps && ctx.Err() == nil; rep++ {
		if err := runRep(ctx, c, p, host, rec); err != nil {
			c.notef("rep %d: %v", rep+1, err)
		}
		if err := stopAll(p); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// startHost starts the app host and waits until it has imported the app.
func startHost(ctx context.Context, c *cell, env []string, log *slog.Logger) (*pool.AppHost, error) {
	host, err := pool.NewAppHost(pool.HostConfig{Interpreter: python, App: c.app, Env: env,
		ImportTimeout: hostImportTimeout, Logger: log})
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	host.Start()
	wait, cancel := context.WithTimeout(ctx, hostImportTimeout+5*time.Second)
	defer cancel()
	if _, err := host.Config(wait.Done()); err != nil {
		host.Close()
		return nil, fmt.Errorf("app host: %w", err)
	}
	c.hostImport = time.Since(t0)
	return host, nil
}

// runRep asks for N workers at once, waits for their ready lines, then
// (settle later) measures their PSS.
func runRep(ctx context.Context, c *cell, p *pool.Pool, host *pool.AppHost, rec *recorder) error {
	rec.reset()
	names := make([]string, c.n)
	errs := make([]error, c.n)
	started := make([]time.Time, c.n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range c.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := p.Add()
			names[i], errs[i], started[i] = w.Name, err, time.Now()
			if err == nil && w.Spawn != c.spawn {
				errs[i] = fmt.Errorf("%s started by %q, not %q", w.Name, w.Spawn, c.spawn)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.spawned = append(c.spawned, slices.MaxFunc(started, time.Time.Compare).Sub(t0))
	seen, err := rec.waitReady(ctx, names, t0.Add(readyTimeout))
	if err != nil {
		return fmt.Errorf("%w (last output: %s)", err, lastOutput(p, names, seen))
	}
	var last time.Time
	for _, t := range seen {
		if t.After(last) {
			last = t
		}
	}
	c.ready = append(c.ready, last.Sub(t0))
	select { // let the boot finish (pool child, connections) before sampling
	case <-time.After(settle):
	case <-ctx.Done():
		return ctx.Err()
	}
	return measurePSS(c, p, host)
}

func measurePSS(c *cell, p *pool.Pool, host *pool.AppHost) error {
	var roots []int
	for _, w := range p.Workers() {
		if w.PID > 0 {
			roots = append(roots, w.PID)
		}
	}
	if len(roots) != c.n {
		return fmt.Errorf("%d of %d workers running at the PSS sample", len(roots), c.n)
	}
	table := harness.Table()
	var sum uint64
	for _, root := range roots {
		kb, err := harness.TreePssKB(harness.Tree(root, table))
		if err != nil {
			return fmt.Errorf("worker PSS: pid %d: %w", root, err)
		}
		sum += uint64(kb) << 10
	}
	c.workerPSS = append(c.workerPSS, sum)
	if host != nil {
		kb, err := harness.PssKB(host.State().PID)
		if err != nil {
			return fmt.Errorf("host PSS: %w", err)
		}
		c.hostPSS = append(c.hostPSS, uint64(kb)<<10)
	}
	return nil
}

// lastOutput is the last line of each worker that never printed ready.
func lastOutput(p *pool.Pool, names []string, seen map[string]time.Time) string {
	var out []string
	for _, w := range p.Workers() {
		if _, ok := seen[w.Name]; ok || !slices.Contains(names, w.Name) {
			continue
		}
		line := "(none)"
		if n := len(w.LastOutput); n > 0 {
			line = w.LastOutput[n-1]
		}
		out = append(out, fmt.Sprintf("%s %s: %s", w.Name, w.State, line))
	}
	return fmt.Sprint(out)
}

// stopAll warm-stops every worker and waits until the pool has none.
func stopAll(p *pool.Pool) error {
	for _, w := range p.Workers() {
		if err := p.Stop(w.Name); err != nil {
			return err
		}
	}
	timeout := time.NewTimer(stopTimeout)
	defer timeout.Stop()
	for len(p.Workers()) > 0 {
		select {
		case <-p.Changed():
		case <-timeout.C:
			return fmt.Errorf("workers still present %s after stopping them", stopTimeout)
		}
	}
	return nil
}
