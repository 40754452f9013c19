package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
	defer prog.brk.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	forced, stopWatch := watchSignals(cancel, prog, log)
	defer stopWatch()

	// Each control loop outlives the signal (it stops acting but keeps
	// /status current) until its pool has stopped every worker.
	var wg sync.WaitGroup
	poolErrs := make([]error, len(prog.units))
	emfCtx, stopEMF := context.WithCancel(context.Background())
	for i, u := range prog.units {
		supCtx, stopSup := context.WithCancel(context.Background())
		wg.Go(func() {
			defer stopSup()
			poolErrs[i] = u.pool.Run(ctx)
			u.sup.ShuttingDown()
		})
		wg.Go(func() { _ = u.sup.Run(supCtx) })
	}
	var emfWG sync.WaitGroup
	emfWG.Go(func() { emf.Run(emfCtx, cfg.EMF, prog.view.Snapshot, log) })
	srvDone := serveHTTP(ln, web.Handler(prog.view, prog.reg, log), log)
	wg.Wait()
	stopEMF()
	emfWG.Wait()
	srvDone()
	return exitCode(syscall.Signal(forced.Load()), errors.Join(poolErrs...), log)
}

// withNotify gives the supervisor's configuration the systemd notifier, if
// there is one.
func withNotify(c supervisor.Config, n *sdnotify.Conn, every time.Duration) supervisor.Config {
	if n != nil { // a nil *sdnotify.Conn in the interface would not be a nil Notifier
		c.Notifier, c.WatchdogInterval = n, every
	}
	return c
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
func watchSignals(cancel context.CancelFunc, prog *program, log *slog.Logger) (forced *atomic.Int32, stop func()) {
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
				prog.shuttingDown()
				cancel()
				continue
			}
			forced.Store(int32(sig.(syscall.Signal)))
			log.Warn("second signal received; killing every worker now", "signal", sig.String())
			for _, u := range prog.units {
				u.pool.Kill()
			}
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
func poolConfig(cfg config, host *pool.AppHost, brk brokerClient, log *slog.Logger) pool.Config {
	pcfg := cfg.Pool
	pcfg.Logger = log
	pcfg.Reap = os.Getpid() == 1
	if cfg.Spawn == pool.SpawnFork {
		pcfg.Host = host
	} else if host != nil {
		closeHost(host) // it was started for the app's configuration only
	}
	pcfg.Control = brk
	if pcfg.DrainGrace == 0 {
		pcfg.DrainGrace = brk.drainGrace()
	}
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
