package main

import (
	"context"
	"syscall"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// termResult is what the supervisor's SIGTERM during a scale-up did.
type termResult struct {
	scalingUp     bool          // a worker was starting when the signal went out
	workers       int           // workers in /status at the signal
	exitCode      int           // -1: killed by the harness
	took          time.Duration // signal -> exit
	limit         time.Duration // workers × 1.1 s + --shutdown-timeout (25 s) + 5 s
	queuedAfter   int64         // the chaos queue's waiting messages once it had exited
	unackedAfter  int64         // and its unacknowledged ones
	survivors     int           // its worker mains and pool processes still alive 2 s after its exit
	publishedHere int
}

// sigtermPhase publishes a burst, SIGTERMs the supervisor as soon as
// /status shows a worker starting (at most 5 s later), waits for it to exit,
// then starts a second supervisor to finish the backlog.
func (r *run) sigtermPhase(ctx context.Context) (termResult, error) {
	res := termResult{exitCode: -1}
	sup := r.cur.Load()
	durations := make([]float64, r.p.sigtermBurst)
	pl := &planner{rng: r.rng}
	for i := range durations {
		durations[i] = pl.duration()
	}
	if err := r.pub.publish(ctx, durations); err != nil {
		return res, err
	}
	res.publishedHere = len(durations)
	r.setLoadEnd()
	st := r.awaitStarting(ctx, sup, &res)
	res.workers = len(st.Workers)
	res.limit = time.Duration(res.workers)*1100*time.Millisecond + 30*time.Second
	var procs []int // its worker mains and their pool processes
	for _, m := range r.samp.aliveMains() {
		procs = append(append(procs, m), harness.Children(m)...)
	}
	sent := time.Now()
	if err := sup.proc.Signal(syscall.SIGTERM); err != nil {
		return res, err
	}
	r.logf("SIGTERM to the supervisor (pid %d) with %d workers, scaling up: %v", sup.proc.PID(), res.workers, res.scalingUp)
	if !sup.proc.WaitFor(res.limit + 30*time.Second) {
		r.logf("supervisor still running %s after SIGTERM: killing it", time.Since(sent).Round(time.Second))
		sup.proc.KillTree()
	} else {
		res.exitCode = sup.proc.ExitCode()
	}
	res.took = time.Since(sent)
	_ = harness.Sleep(ctx, 2*time.Second)
	for _, pid := range procs {
		if harness.Alive(pid) {
			res.survivors++
		}
	}
	if s := r.bw.take(time.Now()); s.ok {
		res.queuedAfter, res.unackedAfter = s.queued, s.unacked
	}
	r.logf("supervisor exited with %d after %.1fs; %d queued, %d unacked", res.exitCode, res.took.Seconds(), res.queuedAfter, res.unackedAfter)
	return res, r.switchSupervisor(ctx)
}

// awaitStarting polls /status every 20 ms for up to 5 s until a worker is
// starting, and returns the last status read.
func (r *run) awaitStarting(ctx context.Context, sup *supervisorProc, res *termResult) status {
	var last status
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := sup.status(); err == nil {
			last = st
			if countState(st, "starting") > 0 {
				res.scalingUp = true
				return st
			}
		}
		if harness.Sleep(ctx, 20*time.Millisecond) != nil {
			break
		}
	}
	return last
}

// switchSupervisor starts the second supervisor and follows it instead.
func (r *run) switchSupervisor(ctx context.Context) error {
	sup, err := r.startSupervisor(2)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.sups = append(r.sups, sup)
	r.mu.Unlock()
	r.cur.Store(sup)
	r.samp.sup.Store(int64(sup.proc.PID()))
	r.logf("second supervisor started (pid %d) to finish the backlog", sup.proc.PID())
	return sup.waitReady(ctx, r.cfg.engine, 0, 60*time.Second)
}
