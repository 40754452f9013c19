//go:build linux

package pool

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// slot is one worker position. Its fields are guarded by Pool.mu, except
// out (own lock) and the constant num and name.
type slot struct {
	num     int
	name    string
	state   State
	proc    *process // nil while starting or in backoff
	bo      backoffState
	restart int
	stopReq bool
	stop    chan struct{} // closed on a stop request; replaced when taken back
	back    chan struct{} // closed when taken back (Reclaim) after a stop request
	killed  bool
	retired bool // stopped by Retire: never taken back
	out     ring
}

func (s *slot) snapshot() Worker {
	w := Worker{
		Name: s.name, Node: s.name, Slot: s.num, State: s.state,
		Restarts: s.restart, FailedStarts: s.bo.FailedStarts,
		LastOutput: s.out.snapshot(),
	}
	if s.proc != nil {
		w.PID, w.StartedAt, w.Spawn = s.proc.pid, s.proc.startedAt, s.proc.spawn
		w.NodePID = w.PID
	}
	if s.retired && w.State == Draining {
		w.State = Stopping // not to be taken back
	}
	return w
}

// supervise runs slot s until it is stopped: start, wait, back off, restart.
// first is closed after the first start attempt. It frees the slot on return.
func (p *Pool) supervise(s *slot, first chan struct{}) {
	defer p.slotsWG.Done()
	defer p.remove(s)
	for {
		pr, err := p.launch(s)
		var exit exitInfo
		if err == nil {
			release(&first) // Add returns with the worker running
			exit = p.await(s, pr)
			p.reportExit(s, pr, exit)
		} else {
			if !errors.Is(err, ErrShuttingDown) {
				s.out.add("start failed: " + err.Error())
			}
			exit = exitInfo{Err: err}
		}
		d, ok := p.afterExit(s, exit)
		release(&first) // or in backoff, or stopped
		if !ok {
			return
		}
		p.reports.add(func(r *Reports) {
			r.Restarts = append(r.Restarts, Restart{Name: s.name, Reason: d.Reason, At: time.Now()})
		})
		if !p.sleep(s, d.Delay) {
			return
		}
	}
}

// reportExit reports that s's process has ended (reaped, its
// group killed: nothing of it runs any more), before the slot changes.
func (p *Pool) reportExit(s *slot, pr *process, exit exitInfo) {
	p.mu.Lock()
	stopped := s.stopReq && !s.killed
	p.mu.Unlock()
	e := Exit{
		Name: s.name, PID: pr.pid, Spawn: pr.spawn, Status: exit.String(),
		Died: !stopped || exit.crashed(), PoolMain: p.cfg.attach != nil, Fatal: pr.fatal.error(),
	}
	p.reports.add(func(r *Reports) { r.Exits = append(r.Exits, e) })
}

// release closes *first once.
func release(first *chan struct{}) {
	if *first != nil {
		close(*first)
		*first = nil
	}
}

// launch starts s's process, unless s was stopped meanwhile. A process that
// starts after a stop request (a race with Stop or shutdown) is warm-stopped
// (or killed, after Kill) at once.
func (p *Pool) launch(s *slot) (*process, error) {
	p.mu.Lock()
	stopped := s.stopReq
	p.mu.Unlock()
	if stopped {
		return nil, ErrShuttingDown
	}
	pr, err := p.start(s)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s.proc, s.state = pr, Running
	if s.stopReq {
		s.state = Stopping // await, next, sends the warm stop at once
		if p.killAll && pr.killGroup() {
			s.killed = true
		}
	}
	p.notify()
	p.logger(s).Debug("worker started", keyPID, pr.pid, keySpawn, pr.spawn)
	return pr, nil
}

// start forks s's worker from the app host when it is ready, and execs it
// otherwise, or when the host fails during the request. A pool-engine main
// is forked only (the app host installs its extension): without a ready
// host its start fails, and is retried after the backoff.
func (p *Pool) start(s *slot) (*process, error) {
	sp := spawn{cfg: p.cfg, name: s.name, svc: p.svc, ring: &s.out}
	if p.cfg.attach != nil {
		if h := p.cfg.Host; h == nil || !h.forks(p.cfg.Pool) {
			return nil, fmt.Errorf("the pool engine's worker main is forked from the app host, which is not ready: %w", ErrHostDown)
		}
		sp.forking = p.cfg.Host
		return startProcess(sp)
	}
	if h := p.cfg.Host; h != nil && h.forks(p.cfg.Pool) {
		sp.forking = h
		pr, err := startProcess(sp)
		if !errors.Is(err, ErrHostDown) {
			return pr, err
		}
		p.logger(s).Warn("the app host failed; starting the worker with exec", keyErr, err)
		sp.forking = nil
	}
	return startProcess(sp)
}

// afterExit records an exit and decides whether and when to restart.
// ok is false when s was asked to stop (or the pool is shutting down).
func (p *Pool) afterExit(s *slot, exit exitInfo) (d restartDecision, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	log := p.logger(s)
	s.proc = nil
	if s.stopReq || p.shutting {
		s.state = Stopping
		if !p.logStopped(log, exit) && p.shutting && !s.killed {
			p.unclean++
		}
		return d, false
	}
	d = nextRestart(s.bo, exit.Uptime, exit.crashed(), p.backoff)
	s.bo, s.state = d.State, Backoff
	s.restart++
	p.notify()
	log.Warn("worker exited unexpectedly", keyStatus, exit.String(), keyUptime, exit.Uptime,
		keyReason, d.Reason, keyDelay, d.Delay)
	if d.Report {
		log.Error("worker keeps failing to start", keyStarts, s.bo.FailedStarts,
			keyStatus, exit.String(), keyLines, s.out.snapshot())
	}
	return d, true
}

// logStopped logs the end of a stopped worker and reports whether its exit
// status arrived (or it never started).
func (p *Pool) logStopped(log *slog.Logger, exit exitInfo) bool {
	switch {
	case errors.Is(exit.Err, ErrShuttingDown):
		return true
	case exit.Status == nil:
		log.Error("worker exit status lost", keyErr, exit.Err)
		return false
	}
	log.Info("worker stopped", keyStatus, exit.String(), keyUptime, exit.Uptime)
	return true
}

// sleep waits d before a restart; it returns false if s is stopped first.
func (p *Pool) sleep(s *slot, d time.Duration) bool {
	stop := p.stopCh(s)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// remove frees s's slot; killed slots during shutdown are counted for Run.
func (p *Pool) remove(s *slot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.slots, s.num)
	if s.killed && p.shutting {
		p.killed++
	}
	p.notify()
}
