package main

import (
	"os"
	"strconv"
	"strings"
)

// The benchmark's fixed settings (traces/README.md's reference table).
const (
	benchQueue   = "bench"
	autoscaleMax = 10
	autoscaleMin = 3
	celeryPython = "/usr/bin/python3"
)

// contender is one way of running the workers.
type contender struct {
	key       string // name in BENCH_CONTENDERS
	app       string // -A: a module of examples/app ("" = tasks)
	minZero   bool   // --autoscale=10,0 instead of the traces' 10,3
	label     string // row label in the tables
	revrx     bool   // revrx-supervise (else a plain celery worker)
	keepalive string // revrx --keepalive / celery AUTOSCALE_KEEPALIVE; "" = default
	autoscale bool   // celery --autoscale (revrx always autoscales)
	conc      int    // celery --concurrency when not autoscaling
	baseline  string // for revrx: the celery --autoscale run it is compared with
	engine    string // for revrx: --engine ("" = the default, the pool engine)
}

// readyLines is how many Celery "ready." lines the contender prints once
// up: one per worker main (the pool engine and a plain celery worker have
// one; the whole-worker engine one per slot).
func (c contender) readyLines() int {
	if c.revrx && c.engine == "workers" {
		return c.readySlots()
	}
	return 1
}

// readySlots is the pool size at which the contender is ready.
func (c contender) readySlots() int {
	if c.revrx || c.autoscale {
		return c.autoscaleMin()
	}
	return c.conc
}

// autoscaleMin is the contender's MIN.
func (c contender) autoscaleMin() int {
	if c.minZero {
		return 0
	}
	return autoscaleMin
}

// module is the Celery app the contender runs (-A).
func (c contender) module() string {
	if c.app == "" {
		return "tasks"
	}
	return c.app
}

// allContenders in run order: the main pass, then the shorter-keepalive pass.
var allContenders = []contender{
	{key: "revrx", label: "revrx-supervise --autoscale=10,3", revrx: true, baseline: "celery-autoscale"},
	{key: "celery-autoscale", label: "celery worker --autoscale=10,3", autoscale: true, keepalive: "30"},
	{key: "celery-c10", label: "celery worker --concurrency=10", conc: 10},
	{key: "celery-c3", label: "celery worker --concurrency=3", conc: 3},
	{key: "revrx-workers", label: "revrx-supervise --engine workers --autoscale=10,3", revrx: true, engine: "workers", baseline: "celery-autoscale"},
	{key: "revrx-ka5", label: "revrx-supervise --autoscale=10,3 --keepalive=5s", revrx: true, keepalive: "5s", baseline: "celery-autoscale-ka5"},
	{key: "celery-autoscale-ka5", label: "AUTOSCALE_KEEPALIVE=5 celery worker --autoscale=10,3", autoscale: true, keepalive: "5"},
}

// command is a contender's exact command line for one run.
type command struct {
	dir  string   // working directory (examples/app)
	env  []string // variables set on top of the cleaned environment
	argv []string
}

// commandFor builds c's command; the broker URL goes in the environment.
func commandFor(c contender, bin, appDir, brokerURL, record, httpAddr string) command {
	env := []string{
		"CELERY_BROKER_URL=" + brokerURL,
		"REVRX_RECORD=" + record,
		"REVRX_ACKS_LATE=1",
	}
	autoscale := "--autoscale=" + strconv.Itoa(autoscaleMax) + "," + strconv.Itoa(c.autoscaleMin())
	if c.revrx {
		argv := []string{bin, "-A", c.module(), autoscale, "-Q", benchQueue,
			"--celery-cmd", celeryPython + " -m celery", "--http-addr", httpAddr}
		if c.keepalive != "" {
			argv = append(argv, "--keepalive="+c.keepalive)
		}
		if c.engine != "" {
			argv = append(argv, "--engine", c.engine)
		}
		// As users type it: nothing for the workers but the log level (the
		// bench reads their "ready." lines; Celery's workers get the same).
		// The supervisor reads task_acks_late and the prefetch multiplier
		// from the app (REVRX_ACKS_LATE=1).
		argv = append(argv, "--", "--loglevel=INFO")
		return command{dir: appDir, env: env, argv: argv}
	}
	// The same worker flags as revrx-supervise's workers, minus -E (task
	// events are what revrx-supervise needs; a plain worker does without).
	argv := []string{celeryPython, "-m", "celery", "-A", c.module(), "worker", "-Q", benchQueue,
		"-n", c.key + "@%h", "--pool", "prefork"}
	if c.autoscale {
		argv = append(argv, autoscale)
		env = append(env, "AUTOSCALE_KEEPALIVE="+c.keepalive)
	} else {
		argv = append(argv, "--concurrency="+strconv.Itoa(c.conc))
	}
	argv = append(argv, "--without-mingle", "--without-gossip", "--prefetch-multiplier=1", "--loglevel=INFO")
	return command{dir: appDir, env: env, argv: argv}
}

// String renders the command as a shell line (cd and variables included).
func (c command) String() string {
	parts := []string{"cd", shellQuote(c.dir), "&&"}
	for _, e := range c.env {
		k, v, _ := strings.Cut(e, "=")
		parts = append(parts, k+"="+shellQuote(v))
	}
	for _, a := range c.argv {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-_./:=,@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cleanEnv is the harness's environment without anything that would change
// how Celery, the producer or revrx-supervise behave, with /usr/bin first in
// PATH (docs/celery-on-redis.md, "The celery command": /usr/bin/celery runs
// the first python3 on PATH).
func cleanEnv(extra []string) []string {
	var env []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		switch {
		case strings.HasPrefix(k, "CELERY_"), strings.HasPrefix(k, "REVRX_"),
			k == "AUTOSCALE_KEEPALIVE", k == "PYTHONPATH", k == "PATH":
			continue
		}
		env = append(env, e)
	}
	env = append(env, "PATH=/usr/bin:/bin:/usr/sbin:/sbin")
	return append(env, extra...)
}
