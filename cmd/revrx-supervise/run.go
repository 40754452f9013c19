package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/internal/sdnotify"
	"github.com/revrx/revrx-supervise/pool"
	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/emf"
	"github.com/revrx/revrx-supervise/supervisor/web"
)

// run starts the pool, the control loop and the HTTP server, and returns the
// exit code once a signal has stopped them (see the package doc).
func run(cfg config, log *slog.Logger) int {
	var ln net.Listener
	if cfg.HTTPAddr != "" {
		var err error
		if ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			log.Error("cannot serve HTTP; choose another --http-addr", "addr", cfg.HTTPAddr, "err", err)
			return 1
		}
	}
	notify, every, err := sdnotify.FromEnvironment()
	if err != nil {
		log.Warn("no systemd notifications", "err", err)
	}
	defer notify.Close()
	cfg.Supervisor = withNotify(cfg.Supervisor, notify, every)
	prog, err := assemble(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	defer prog.rds.Close()
	sup, wp := prog.sup, prog.pool

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	forced, stopWatch := watchSignals(cancel, sup, wp, log)
	defer stopWatch()

	// The control loop outlives the signal (it stops acting but keeps
	// /status current) until the pool has stopped every worker.
	supCtx, stopSup := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var poolErr error
	wg.Go(func() {
		defer stopSup()
		poolErr = wp.Run(ctx)
		sup.ShuttingDown()
	})
	wg.Go(func() { _ = sup.Run(supCtx) })
	wg.Go(func() { emf.Run(supCtx, cfg.EMF, sup.Snapshot, log) })
	srvDone := serveHTTP(ln, web.Handler(sup, prog.reg, log), log)
	wg.Wait()
	srvDone()
	return exitCode(syscall.Signal(forced.Load()), poolErr, log)
}

// withNotify gives the supervisor's configuration the systemd notifier, if
// there is one.
func withNotify(c supervisor.Config, n *sdnotify.Conn, every time.Duration) supervisor.Config {
	if n != nil { // a nil *sdnotify.Conn in the interface would not be a nil Notifier
		c.Notifier, c.WatchdogInterval = n, every
	}
	return c
}

// program is what run runs: the broker client, the pool and the loop.
type program struct {
	rds  *broker.Redis
	reg  *prometheus.Registry
	pool workerPool
	sup  *supervisor.Supervisor
}

// assemble starts the app host, makes the app's configuration the default,
// and builds the broker client, the pool and the supervisor. On error
// nothing is left running.
func assemble(cfg config, log *slog.Logger) (_ *program, err error) {
	host, app := startAppHost(cfg, log)
	defer func() {
		if err != nil {
			closeHost(host)
		}
	}()
	var fallback string
	cfg.Engine, fallback = chooseEngine(cfg, host, app, log)
	cfg = forEngine(cfg, log)
	cfg, settings, err := applyApp(cfg, app, log)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	prog := &program{reg: prometheus.NewRegistry()}
	if prog.rds, err = broker.New(withLogger(cfg.Broker, log)); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	prog.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pcfg := poolConfig(cfg, host, prog.rds, log)
	if prog.pool, err = newWorkerPool(cfg, pcfg); err != nil {
		prog.rds.Close()
		return nil, fmt.Errorf("pool: %w", err)
	}
	scfg := cfg.Supervisor
	scfg.Logger, scfg.Scrub, scfg.Resources, scfg.Version = log, cfg.Secrets.scrub, sampler{pool.NewSampler()}, buildVersion()
	scfg.Settings = append(settings, engineSetting(cfg, fallback), spawnSetting(cfg, pcfg))
	scfg.PreviousWorkers = prog.pool.SlotNames(scfg.Policy.Max)
	if prog.sup, err = supervisor.New(scfg, brokerAdapter{prog.rds}, brokerAdapter{prog.rds}, adaptPool(prog.pool), prog.reg); err != nil {
		prog.rds.Close()
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	p := cfg.Supervisor.Policy
	log.Info("starting", "version", buildVersion(), "broker", cfg.Supervisor.BrokerURL, "queues", cfg.Supervisor.Queues,
		"engine", cfg.Engine, "min", p.Min, "max", p.Max, "keepalive", p.Keepalive, "pool", cfg.Pool.Pool, "concurrency", cfg.Pool.Concurrency,
		"http", cfg.HTTPAddr, "pid1", pcfg.Reap, "spawn", spawnMode(pcfg))
	return prog, nil
}

// exitCode is the process's exit code after the pool stopped with poolErr;
// forced is the second signal that forced the stop, 0 if none did.
func exitCode(forced syscall.Signal, poolErr error, log *slog.Logger) int {
	switch {
	case forced != 0:
		log.Warn("stopped by a second signal; workers were killed", "signal", forced.String())
		return 128 + int(forced)
	case errors.Is(poolErr, pool.ErrKilled):
		log.Error("stopped; some workers had to be killed", "err", poolErr)
		return 1
	case errors.Is(poolErr, pool.ErrUnclean):
		log.Error("stopped; some workers' exit statuses were lost", "err", poolErr)
		return 1
	case poolErr != nil:
		log.Error("stopped", "err", poolErr)
		return 1
	}
	log.Info("stopped; every worker exited cleanly")
	return 0
}

// watchSignals turns the first SIGTERM/SIGINT into a warm shutdown (cancel)
// and a second one into an immediate kill of every worker. forced holds the
// signal that forced the stop, 0 if none did; stop ends the watch.
func watchSignals(cancel context.CancelFunc, sup *supervisor.Supervisor, wp workerPool, log *slog.Logger) (forced *atomic.Int32, stop func()) {
	forced = new(atomic.Int32)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for n := 1; ; n++ {
			var sig os.Signal
			select {
			case <-done:
				return
			case sig = <-sigs:
			}
			if n == 1 {
				log.Info("signal received; warm-stopping every worker (send it again to kill them)", "signal", sig.String())
				sup.ShuttingDown()
				cancel()
				continue
			}
			forced.Store(int32(sig.(syscall.Signal)))
			log.Warn("second signal received; killing every worker now", "signal", sig.String())
			wp.Kill()
			return
		}
	}()
	return forced, func() {
		signal.Stop(sigs)
		close(done)
		<-exited
	}
}

// serveHTTP serves h on ln (if any) and returns a function that shuts the
// server down, waiting at most two seconds for requests in flight.
func serveHTTP(ln net.Listener, h http.Handler, log *slog.Logger) func() {
	if ln == nil {
		return func() {}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}

func withLogger(c broker.Config, log *slog.Logger) broker.Config {
	c.Logger = log
	return c
}

// poolConfig completes the pool's configuration: the app host (forks, unless
// --spawn=exec), the safe stop through the broker's remote control, the cap
// at MAX processes, and reaping as PID 1.
func poolConfig(cfg config, host *pool.AppHost, rds *broker.Redis, log *slog.Logger) pool.Config {
	pcfg := cfg.Pool
	pcfg.Logger = log
	pcfg.Reap = os.Getpid() == 1
	if cfg.Spawn == pool.SpawnFork {
		pcfg.Host = host
	} else if host != nil {
		closeHost(host) // it was started for the app's configuration only
	}
	pcfg.Control = rds
	pcfg.MaxWorkers = cfg.Supervisor.Policy.Max
	return pcfg
}

// closeHost stops a host that no pool owns.
func closeHost(h *pool.AppHost) {
	if h != nil {
		h.Close()
	}
}

func spawnMode(p pool.Config) string {
	if p.Host != nil {
		return pool.SpawnFork
	}
	return pool.SpawnExec
}

// spawnSetting is how workers start, for /status.
func spawnSetting(cfg config, p pool.Config) supervisor.Setting {
	src := cfg.Sources[flagSpawn]
	if src == "" {
		src = sourceDefault
	}
	if cfg.Spawn == pool.SpawnFork && p.Host == nil {
		src = "fallback: no app host"
	}
	return supervisor.Setting{Name: "spawn", Value: spawnMode(p), Source: src}
}
