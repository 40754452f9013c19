package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// The idle scenario (`make footprint`): the supervisor's own footprint and
// broker load. Its CPU and RSS with 10 idle real Celery pool processes or
// workers over -measure, once with --spawn exec (the workers engine: the
// pool engine forks) and once with --spawn fork (the pool engine), with
// the PSS of each worker's tree and of the app host; then the Redis
// commands it sends per poll with 3 queues and workers that never talk to
// Redis, so that every command counted is the supervisor's.
const (
	idleWorkers      = 10
	idleQueues       = "a,b,c"
	idleReadyTimeout = 60 * time.Second // all 10 idle
	idleSettle       = 5 * time.Second  // idle -> the CPU window
	idlePollSettle   = 2 * time.Second  // start -> CONFIG RESETSTAT
	idlePollWindow   = 20 * time.Second // RESETSTAT -> INFO commandstats
	llenPerPoll      = 12               // LLEN per poll: 3 queues × 4 priority lists
)

// idleSpawns are the --spawn modes measured, in order.
var idleSpawns = []string{"exec", "fork"}

// idleRun is the supervisor's footprint with one --spawn mode.
type idleRun struct {
	spawn  string
	cpu    float64 // % of one core over the window
	rssKB  int64   // the supervisor's VmRSS at the end of the window
	trees  int     // worker trees (the supervisor's children but the app host)
	treeKB float64 // mean PSS of a worker tree
	hostKB int64   // the app host's tree PSS (fork)
	err    error
}

// idlePolls is the Redis load of one supervisor over idlePollWindow.
type idlePolls struct {
	llen, lindex int64
	err          error
}

// idleScenario runs the idle scenario on one private redis-server and
// returns its markdown section.
func (h *bench) idleScenario(ctx context.Context) (string, bool) {
	dir := filepath.Join(h.out, "runs", "idle")
	if err := os.RemoveAll(dir); err != nil {
		return idleTable(nil, idlePolls{err: err}, h.idleMeasure), true
	}
	rds, err := h.startRedis(ctx, dir)
	if err != nil {
		return idleTable(nil, idlePolls{err: err}, h.idleMeasure), true
	}
	defer rds.Stop()
	var runs []idleRun
	failed := false
	for _, spawn := range idleSpawns {
		r := h.idleFootprint(ctx, rds, dir, spawn)
		if ctx.Err() != nil {
			return "", true
		}
		failed = failed || r.err != nil
		runs = append(runs, r)
	}
	polls := h.idleRedisLoad(ctx, rds, dir)
	failed = failed || polls.err != nil
	return idleTable(runs, polls, h.idleMeasure), failed
}

// startIdleSupervisor starts revrx-supervise with args (and a free HTTP
// address) on rds, its output in dir/name.log.
func (h *bench) startIdleSupervisor(rds *harness.Redis, dir, cwd, name string, args ...string) (*harness.Process, string, error) {
	port, err := harness.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	argv := append([]string{h.bin, "--http-addr", addr}, args...)
	fmt.Fprintf(os.Stderr, "bench: [idle/%s] %s\n", name, command{dir: cwd, argv: argv})
	p, err := harness.StartLogged(name, argv, cwd, cleanEnv([]string{"CELERY_BROKER_URL=" + rds.URL(0)}),
		filepath.Join(dir, name+".log"))
	return p, addr, err
}

// idleFootprint measures the supervisor with idleWorkers idle workers
// started by spawn.
func (h *bench) idleFootprint(ctx context.Context, rds *harness.Redis, dir, spawn string) (r idleRun) {
	r.spawn = spawn
	sup, addr, err := h.startIdleSupervisor(rds, dir, h.appDir, "supervisor-"+spawn,
		fmt.Sprintf("--autoscale=%d,%d", idleWorkers, idleWorkers), "-Q", idleQueues, "-A", "tasks",
		"--spawn", spawn, "--celery-cmd", celeryPython+" -m celery")
	if err != nil {
		r.err = err
		return r
	}
	defer stop(sup, syscall.SIGTERM, stopGrace)
	idle := fmt.Sprintf(`revrx_workers{state="idle"} %d`, idleWorkers)
	if r.err = waitFor(ctx, idleReadyTimeout, func() bool { return hasSeries(addr, idle) }); r.err != nil {
		r.err = fmt.Errorf("%d idle workers: %w (see %s)", idleWorkers, r.err, dir)
		return r
	}
	if r.err = harness.Sleep(ctx, idleSettle); r.err != nil {
		return r
	}
	st0, _ := harness.ReadStat(sup.PID())
	t0 := time.Now()
	if r.err = harness.Sleep(ctx, h.idleMeasure); r.err != nil {
		return r
	}
	st1, ok := harness.ReadStat(sup.PID())
	if !ok {
		r.err = fmt.Errorf("supervisor exited (see %s)", dir)
		return r
	}
	r.cpu = harness.TicksDuration(st1.Ticks-st0.Ticks).Seconds() / time.Since(t0).Seconds() * 100
	r.rssKB, r.err = harness.RssKB(sup.PID())
	r.trees, r.treeKB, r.hostKB = childTreesPSS(sup.PID(), appHostPID(addr))
	return r
}

// childTreesPSS sums PSS over each child tree of sup (a forked worker is
// re-parented to it, like an exec'd one) but the app host's (host, 0 for
// none), and returns their count and mean, and the host tree's.
func childTreesPSS(sup, host int) (trees int, meanKB float64, hostKB int64) {
	table := harness.Table()
	var sum int64
	for _, pid := range harness.Tree(sup, table) {
		if table[pid].PPID != sup {
			continue
		}
		kb, _ := harness.TreePssKB(harness.Tree(pid, table))
		if pid == host {
			hostKB += kb
			continue
		}
		trees++
		sum += kb
	}
	if trees > 0 {
		meanKB = float64(sum) / float64(trees)
	}
	return trees, meanKB, hostKB
}

// idleRedisLoad counts the supervisor's LLEN and LINDEX calls over
// idlePollWindow, with one exec'd worker that never talks to Redis.
func (h *bench) idleRedisLoad(ctx context.Context, rds *harness.Redis, dir string) (r idlePolls) {
	fake := filepath.Join(dir, "fake-worker")
	if r.err = os.WriteFile(fake, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755); r.err != nil {
		return r
	}
	sup, _, err := h.startIdleSupervisor(rds, dir, dir, "supervisor-polls",
		"--autoscale=1,1", "-Q", idleQueues, "--spawn", "exec", "--celery-cmd", fake)
	if err != nil {
		r.err = err
		return r
	}
	defer stop(sup, syscall.SIGTERM, stopGrace)
	c := rds.Client()
	defer c.Reset()
	if r.err = harness.Sleep(ctx, idlePollSettle); r.err != nil {
		return r
	}
	if _, r.err = harness.Text(c.Do("CONFIG", "RESETSTAT")); r.err != nil {
		return r
	}
	if r.err = harness.Sleep(ctx, idlePollWindow); r.err != nil {
		return r
	}
	info, err := harness.Text(c.Do("INFO", "commandstats"))
	if r.err = err; err == nil {
		r.llen, r.lindex = commandCalls(info, "llen"), commandCalls(info, "lindex")
	}
	return r
}

// commandCalls is calls= of cmdstat_<name> in INFO commandstats.
func commandCalls(info, name string) int64 {
	for line := range strings.Lines(info) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+name+":calls=")
		if ok {
			n, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
			return n
		}
	}
	return 0
}
