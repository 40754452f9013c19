package main

import (
	"context"
	"syscall"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// unackedWindow is how soon after the later of the last kill and the end of
// the load the unacked hash must be empty (the expectation), and so how long
// the drain waits at least when it is not.
const unackedWindow = 15 * time.Second

// lastKill is when the last SIGKILL went out (zero if none did).
func (r *run) lastKill() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t time.Time
	for _, k := range r.kills {
		if k.at.After(t) {
			t = k.at
		}
	}
	return t
}

// drain waits until every published task has started and the queue holds
// nothing but crash-looping messages, and until unacked is empty or the
// window after the last kill and the end of the load has passed (then also
// when nothing runs and the tasks that never started can only be in
// unacked, or are in no key at all); at most the plan's drain timeout.
func (r *run) drain(ctx context.Context) error {
	deadline := time.Now().Add(r.p.drainTimeout)
	minEnd := r.quietFrom().Add(unackedWindow + 2*time.Second)
	r.logf("load done; draining (at most %s)", r.p.drainTimeout)
	progress, progressAt := -1, time.Now()
	for {
		r.rec.poll()
		starts, ends := r.rec.snapshot()
		if n := len(starts) + len(ends); n != progress {
			progress, progressAt = n, time.Now()
		}
		pub, _ := r.pub.ids()
		notRun := 0
		for id := range pub {
			if len(starts[id]) == 0 {
				notRun++
			}
		}
		s, ok := r.bw.latest()
		queueDone := ok && s.queued <= int64(len(r.poison))
		if queueDone && notRun == 0 && (s.unacked == 0 || time.Now().After(minEnd)) {
			r.logf("drained: all %d published tasks started; %d queued, %d unacked", len(pub), s.queued, s.unacked)
			return nil
		}
		idle := time.Since(progressAt) > 3*time.Second && !r.anyRunning()
		if queueDone && idle && time.Now().After(minEnd) && (int64(notRun) <= s.unacked || s.unacked == 0) {
			// Nothing runs and nothing is queued: only a restore of the
			// unacked hash can run the rest, and with unacked empty
			// nothing can (the summary says where they went).
			r.logf("drain stopped: %d published tasks never started, none queued, %d in unacked", notRun, s.unacked)
			return nil
		}
		if time.Now().After(deadline) {
			r.logf("drain timed out: %d published tasks never started, %d queued, %d unacked", notRun, s.queued, s.unacked)
			return nil
		}
		if err := harness.Sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// anyRunning reports whether a live pool child is running a task.
func (r *run) anyRunning() bool {
	for pid := range r.rec.running() {
		if harness.Alive(pid) {
			return true
		}
	}
	return false
}

// stopLast SIGTERMs the supervisor running now and waits for it (its
// workers × 1.1 s + 30 s, then kills it).
func (r *run) stopLast() {
	sup := r.cur.Load()
	_, _ = sup.metrics()
	n := len(r.samp.aliveMains())
	limit := time.Duration(n)*1100*time.Millisecond + 30*time.Second
	sent := time.Now()
	_ = sup.proc.Signal(syscall.SIGTERM)
	st := &supervisorStop{exitCode: -1}
	if sup.proc.WaitFor(limit) {
		st.exitCode = sup.proc.ExitCode()
	} else {
		sup.proc.KillTree()
	}
	st.took = time.Since(sent)
	r.final = st
	r.samp.sup.Store(0)
	r.logf("final stop: supervisor exited with %d after %.1fs", st.exitCode, st.took.Seconds())
}
