package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/pool"
	"github.com/revrx/revrx-supervise/supervisor"
)

// Where a setting in force came from, for /status.
const (
	sourceApp     = "app"
	sourceDefault = "default"
	sourceAuto    = "auto"
)

// startAppHost starts the app host and waits for its report. It returns a
// nil host when none can run (no Python interpreter in --celery-cmd), and a
// nil AppConfig when the app's configuration is unknown; both are logged.
func startAppHost(cfg config, log *slog.Logger) (*pool.AppHost, *pool.AppConfig) {
	interp, err := pool.Interpreter(cfg.Pool.Command)
	if err != nil {
		log.Warn("no app host: workers are exec'd and the app's own configuration is not read; "+
			"use --celery-cmd 'PYTHON -m celery'", "err", err)
		return nil, nil
	}
	host, err := pool.NewAppHost(pool.HostConfig{
		Interpreter: interp, App: cfg.Pool.App, Env: cfg.Pool.Env, ImportTimeout: cfg.ImportTimeout, Logger: log,
	})
	if err != nil {
		log.Warn("no app host: workers are exec'd", "err", err)
		return nil, nil
	}
	host.Start()
	done := make(chan struct{})
	timer := time.AfterFunc(cfg.ImportTimeout+5*time.Second, func() { close(done) })
	defer timer.Stop()
	app, err := host.Config(done)
	var ie *pool.ImportError
	switch {
	case errors.As(err, &ie):
		log.Error("the app cannot be imported; using the flags and defaults for its settings", "err", err)
		return host, nil
	case err != nil:
		log.Error("the app's configuration is unknown; using the flags and defaults", "err", err)
		return host, nil
	}
	return host, &app
}

// applyApp makes the app's configuration the default of every setting the
// command line and the environment left alone, logs each conflict between
// an explicit setting and the app once, and returns the settings in force
// with their sources. app may be nil (unknown).
func applyApp(cfg config, app *pool.AppConfig, log *slog.Logger) (config, []supervisor.Setting, error) {
	r := resolver{cfg: &cfg, app: app, log: log}
	r.broker()
	if err := r.err; err != nil {
		return cfg, nil, err
	}
	r.transport()
	r.queues()
	r.prefetch()
	r.info()
	return cfg, r.settings, r.err
}

// resolver merges one setting at a time.
type resolver struct {
	cfg      *config
	app      *pool.AppConfig
	log      *slog.Logger
	settings []supervisor.Setting
	err      error
}

// pick chooses between an explicit value (flag or environment), the app's
// and the default, and returns the winner and its source. A conflict between
// an explicit value and the app's is logged, except for the queues (-Q picks
// what to consume; the app's default queue is only where unrouted tasks go).
func (r *resolver) pick(name, flag, explicit, fromApp, def string, appHas bool) (string, string) {
	value, source := def, sourceDefault
	if appHas {
		value, source = fromApp, sourceApp
	}
	if src := r.cfg.Sources[flag]; src != "" {
		if appHas && explicit != fromApp && flag != flagQueues {
			r.log.Warn("a setting given to revrx-supervise differs from the app's; using the one given",
				"setting", name, "from", src, "given", broker.Redact(explicit), "app", broker.Redact(fromApp))
		}
		value, source = explicit, src
	}
	return value, source
}

func (r *resolver) add(name, value, source string) {
	r.settings = append(r.settings, supervisor.Setting{Name: name, Value: value, Source: source})
}

// broker: the URL the workers resolve (the app's, with CELERY_BROKER_URL
// applied by the host as Celery does), and the sentinel master name.
func (r *resolver) broker() {
	b := &r.cfg.Broker
	appURL, appHas := "", r.app != nil && r.app.BrokerURL != ""
	if appHas {
		appURL = r.app.BrokerURL
		if pw, err := broker.CheckURL(appURL, r.app.MasterName); err == nil {
			r.cfg.Secrets.add(pw...) // before anything could print it
		}
	}
	url, src := r.pick("broker_url", flagBroker, b.URL, appURL, b.URL, appHas)
	master := b.SentinelMaster
	if r.app != nil && r.app.MasterName != "" && r.cfg.Sources[flagSentinelMaster] == "" {
		master = r.app.MasterName
	}
	if _, err := broker.CheckURL(url, master); err != nil {
		r.err = fmt.Errorf("broker_url (%s): %w", src, err)
		return
	}
	b.URL, b.SentinelMaster = url, master
	r.cfg.Supervisor.BrokerURL = broker.Redact(url)
	r.add("broker_url", broker.Redact(url), src)
}

// transport: global_keyprefix, priority_steps and sep, which decide the keys
// a queue's depth is read from.
func (r *resolver) transport() {
	b, a := &r.cfg.Broker, r.app
	has := a != nil
	var prefix, sep string
	var steps []int
	if has {
		prefix, steps, sep = a.KeyPrefix, a.PrioritySteps, a.Sep
	}
	v, src := r.pick("global_keyprefix", flagKeyPrefix, b.KeyPrefix, prefix, "", has)
	b.KeyPrefix = v
	r.add("global_keyprefix", strconv.Quote(v), src)

	v, src = r.pick("priority_steps", flagPrioritySteps, joinInts(b.PrioritySteps), joinInts(steps),
		joinInts(broker.DefaultPrioritySteps), has && len(steps) > 0)
	b.PrioritySteps, _ = parseSteps(v)
	r.add("priority_steps", v, src)

	v, src = r.pick("sep", flagPrioritySep, b.Separator, sep, broker.DefaultSeparator, has && sep != "")
	b.Separator = v
	r.add("sep", strconv.Quote(v), src)
	if has {
		r.add("visibility_timeout", a.Visibility().String(), sourceApp)
		r.add("queue_order_strategy", a.QueueOrderStrategy, sourceApp)
	}
}

// queues: -Q, else the app's task_default_queue (what a plain celery
// worker consumes), else "celery".
func (r *resolver) queues() {
	def := ""
	if r.app != nil {
		def = r.app.DefaultQueue
	}
	v, src := r.pick("queues", flagQueues, strings.Join(r.cfg.Pool.Queues, ","), def, "celery", def != "")
	q := splitList(v)
	r.cfg.Pool.Queues, r.cfg.Supervisor.Queues = q, q
	r.add("queues", strings.Join(q, ","), src)
}

// prefetch keeps single-slot workers of a late-ack app busy: with acks_late
// a worker cannot fetch its next task before the running one is acked, and
// kombu polls about once a second, so at a multiplier of 1 each task is
// followed by an idle gap of up to a second. A multiplier of 2 lets the
// next task wait in the worker instead. --prefetch-multiplier after --
// still wins (it comes last on the worker's command line).
//
// The pool engine needs no such help (its main hands the next reserved
// message to whichever process frees first): it takes the app's own
// worker_prefetch_multiplier, as a plain celery worker would.
func (r *resolver) prefetch() {
	p := &r.cfg.Pool
	p.PrefetchMultiplier = pool.DefaultPrefetch
	src := sourceDefault
	if r.app != nil && r.app.AcksLate {
		r.cfg.Supervisor.AcksLate, r.cfg.Pool.AcksLate = true, true
	}
	switch {
	case r.cfg.Engine == pool.EnginePool && r.app != nil && r.app.PrefetchMultiplier > 0:
		p.PrefetchMultiplier, src = r.app.PrefetchMultiplier, sourceApp
	case r.cfg.Engine != pool.EnginePool && r.app != nil && r.app.AcksLate:
		p.PrefetchMultiplier, src = 2, sourceAuto+" (task_acks_late)"
	}
	if v, ok := lastOption(p.ExtraArgs, "--prefetch-multiplier"); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			p.PrefetchMultiplier = n // the pool engine's extension sets the prefetch from it
		}
		r.add("worker_prefetch_multiplier", v, "worker arguments after --")
		return
	}
	r.add("worker_prefetch_multiplier", strconv.Itoa(p.PrefetchMultiplier), src)
	if r.app != nil {
		r.add("task_acks_late", strconv.FormatBool(r.app.AcksLate), sourceApp)
	}
}

// info records what the app host found, for /status.
func (r *resolver) info() {
	if r.app == nil {
		r.add("app", "unknown (no app host report)", sourceDefault)
		return
	}
	r.add("app", r.app.App, sourceApp)
	r.add("celery_version", r.app.CeleryVersion, sourceApp)
	r.add("kombu_version", r.app.KombuVersion, sourceApp)
	r.add("python_version", r.app.PythonVersion, sourceApp)
}

// lastOption returns the value of the last "--name=v" or "--name v" in args.
func lastOption(args []string, name string) (string, bool) {
	v, ok := "", false
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, name+"="):
			v, ok = strings.TrimPrefix(a, name+"="), true
		case a == name && i+1 < len(args):
			v, ok = args[i+1], true
		}
	}
	return v, ok
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
