package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/revrx/revrx-supervise/pool"
	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/policy"
	"github.com/revrx/revrx-supervise/supervisor/web"
)

// program is what run runs: the broker client, and one unit (a pool and
// its control loop) per queue group, seen as one by view.
type program struct {
	brk   brokerClient
	reg   *prometheus.Registry
	units []unit
	view  interface {
		web.Source
		ShuttingDown()
	}
}

// unit is one queue group's pool (its worker main) and control loop.
type unit struct {
	pool workerPool
	sup  *supervisor.Supervisor
}

// shuttingDown marks every control loop as stopping.
func (p *program) shuttingDown() { p.view.ShuttingDown() }

// assemble starts the app host, makes the app's configuration the default,
// and builds the broker client, the pools and the control loops: one of
// each, or one per queue group under a host budget. On error nothing is
// left running.
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
	cfg = forBroker(cfg)
	prog := &program{reg: prometheus.NewRegistry()}
	if prog.brk, err = openBroker(withLogger(cfg.Broker, log)); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	defer func() {
		if err != nil {
			prog.brk.Close()
		}
	}()
	prog.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pcfg := poolConfig(cfg, host, prog.brk, log)
	scfg := cfg.Supervisor
	scfg.Logger, scfg.Scrub, scfg.Version = log, cfg.Secrets.scrub, buildVersion()
	scfg.Settings = append(settings, engineSetting(cfg, fallback), spawnSetting(cfg, pcfg))
	if cfg.Groups == nil {
		u, err := newUnit(cfg, pcfg, scfg, prog.brk, prog.reg)
		if err != nil {
			return nil, err
		}
		prog.units, prog.view = []unit{u}, u.sup
	} else if err := assembleGroups(prog, cfg, pcfg, scfg, log); err != nil {
		return nil, err
	}
	p := cfg.Supervisor.Policy
	log.Info("starting", "version", buildVersion(), "broker", cfg.Supervisor.BrokerURL, "queues", cfg.Supervisor.Queues,
		"engine", cfg.Engine, "min", p.Min, "max", p.Max, "keepalive", p.Keepalive, "pool", cfg.Pool.Pool, "concurrency", cfg.Pool.Concurrency,
		"poll", cfg.Supervisor.PollInterval, "http", cfg.HTTPAddr, "pid1", pcfg.Reap, "spawn", spawnMode(pcfg), "groups", len(prog.units))
	return prog, nil
}

// newUnit builds one pool over pcfg and its control loop over scfg,
// registering the loop's metrics on reg.
func newUnit(cfg config, pcfg pool.Config, scfg supervisor.Config, brk brokerClient, reg prometheus.Registerer) (unit, error) {
	var u unit
	var err error
	if u.pool, err = newWorkerPool(cfg, pcfg, scfg.Policy.Max); err != nil {
		return u, fmt.Errorf("pool: %w", err)
	}
	scfg.Resources = sampler{pool.NewSampler()}
	scfg.PreviousWorkers = u.pool.SlotNames(scfg.Policy.Max)
	if scfg.Predict.Mode != supervisor.PredictOff {
		scfg.Predict.Store = newPatternStore(brk, scfg.Queues, scfg.Predict.Period.Length)
	}
	sp := adaptPool(u.pool)
	ub := brk.forUnit(sp)
	if u.sup, err = supervisor.New(scfg, ub, ub, sp, reg); err != nil {
		return u, fmt.Errorf("supervisor: %w", err)
	}
	return u, nil
}

// assembleGroups gives each queue group its own worker main (named after
// the group), capped at the group's max, and its own control loop with the
// group's range and schedules, its metrics labelled group="NAME"; the
// loops share one host budget of --autoscale MAX processes, lowered by the
// host's schedules. Only the first group talks to systemd.
func assembleGroups(prog *program, cfg config, pcfg pool.Config, scfg supervisor.Config, log *slog.Logger) error {
	names, mins, caps := make([]string, len(cfg.Groups)), make([]int, len(cfg.Groups)), make([]int, len(cfg.Groups))
	for i, g := range cfg.Groups {
		names[i], mins[i], caps[i] = g.Name, g.Min, g.Max
	}
	hp := scfg.Policy
	budget := supervisor.NewHostBudget(policy.Budget{Max: hp.Max, RebalanceAfter: cfg.RebalanceAfter,
		Schedules: policy.SchedulesFor(hp.Schedules, ""), Location: hp.Location}, names, mins, caps)
	var sups []*supervisor.Supervisor
	for i, g := range cfg.Groups {
		gp, gs := pcfg, scfg
		gp.Queues, gp.NameTemplate, gp.MaxWorkers = g.Queues, g.nameTemplate(pcfg.NameTemplate), g.Max
		gs.Queues, gs.Group, gs.Budget, gs.Logger = g.Queues, g.Name, budget, log.With("group", g.Name)
		gs.Policy.Min, gs.Policy.Max, gs.Policy.Schedules = g.Min, g.Max, policy.SchedulesFor(hp.Schedules, g.Name)
		if i > 0 {
			gs.Notifier, gs.WatchdogInterval = nil, 0
		}
		reg := prometheus.WrapRegistererWith(prometheus.Labels{"group": g.Name}, prog.reg)
		u, err := newUnit(cfg, gp, gs, prog.brk, reg)
		if err != nil {
			return fmt.Errorf("group %s: %w", g.Name, err)
		}
		prog.units = append(prog.units, u)
		sups = append(sups, u.sup)
	}
	prog.view = supervisor.NewHost(budget, sups...)
	return nil
}
