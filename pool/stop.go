//go:build linux

package pool

import (
	"context"
	"fmt"
	"time"
)

// RemoteControl is what a safe stop asks of the broker (broker.Redis
// implements it). Each call returns once the worker has confirmed, or with
// an error if it did not (the command may still be applied later).
type RemoteControl interface {
	// CancelConsumers makes the worker stop taking messages from queues.
	CancelConsumers(ctx context.Context, worker string, queues []string) error
	// AddConsumers makes it take messages from queues again.
	AddConsumers(ctx context.Context, worker string, queues []string) error
	// ShutdownWorkers asks the workers to shut down warm between tasks.
	ShutdownWorkers(ctx context.Context, workers []string) error
}

// controlTimeout bounds each remote-control call of a stop.
const controlTimeout = 2 * time.Second

// drainResult is how a drain ended.
type drainResult int

const (
	drained   drainResult = iota // committed: the warm stop follows
	takenBack                    // Reclaim took the worker back
	exited                       // the process ended meanwhile
)

// stopLocked requests a warm stop of s. A running worker outside shutdown
// goes Draining (it can be taken back until its warm stop is sent); any
// other goes Stopping. Idempotent. p.mu must be held.
func (p *Pool) stopLocked(s *slot) error {
	if s.stopReq {
		return nil
	}
	s.stopReq = true
	s.state = Stopping
	if s.proc != nil && !p.shutting {
		s.state = Draining
	}
	close(s.stop)
	s.back = make(chan struct{})
	p.notify()
	return nil // the slot's own goroutine (await) carries out the stop
}

// Retire warm-stops the named worker for good: as Stop, but it cannot be
// taken back (a worker replaced because it misbehaves). Idempotent; an
// unknown name returns an error wrapping ErrUnknownWorker.
func (p *Pool) Retire(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.slotNamed(name)
	if s == nil {
		return fmt.Errorf("retire %q: %w", name, ErrUnknownWorker)
	}
	s.retired = true
	return p.stopLocked(s)
}

// Reclaim takes back the named worker while it is Draining: its stop is
// cancelled, its consumers are re-added (by its own goroutine) and it is
// Running again, so a burst during a scale-down reuses it instead of
// starting a process beside it. It returns an error wrapping
// ErrNotDraining once the warm stop was sent (or in shutdown), and
// ErrUnknownWorker for a name the pool does not have.
func (p *Pool) Reclaim(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.slotNamed(name)
	switch {
	case s == nil:
		return fmt.Errorf("reclaim %q: %w", name, ErrUnknownWorker)
	case p.shutting || s.state != Draining || s.retired:
		return fmt.Errorf("reclaim %q (%s): %w", name, s.state, ErrNotDraining)
	}
	s.stopReq, s.state = false, Running
	s.stop = make(chan struct{})
	close(s.back)
	p.notify()
	return nil
}

func (p *Pool) slotNamed(name string) *slot {
	for _, s := range p.slots {
		if s.name == name {
			return s
		}
	}
	return nil
}

func (p *Pool) stopCh(s *slot) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return s.stop
}

// await waits for pr to end. Once s is asked to stop it drains the worker
// (unless taken back meanwhile), sends the warm stop, allows
// ShutdownTimeout, then SIGKILLs the process group.
func (p *Pool) await(s *slot, pr *process) exitInfo {
	for {
		if !p.awaitStop(s, pr) {
			return pr.exit
		}
		r := p.drain(s, pr)
		if r == exited {
			return pr.exit
		}
		if r == drained {
			break
		}
	}
	p.warmStop(s, pr)
	t := time.NewTimer(p.cfg.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-pr.done:
		return pr.exit
	case <-t.C:
	}
	if pr.killGroup() {
		p.mu.Lock()
		s.killed = true
		p.mu.Unlock()
		p.logger(s).Warn("worker did not stop in time: killed its process group",
			keyPID, pr.pid, keyTimeout, p.cfg.ShutdownTimeout)
	}
	<-pr.done
	return pr.exit
}

// awaitStop waits until s is asked to stop (true) or its process ends
// (false). Once the process has stayed up for FailedStartWindow its start
// counts as a success: the failed-start streak ends at once, so readiness
// recovers without waiting for the worker's next exit.
func (p *Pool) awaitStop(s *slot, pr *process) bool {
	stop := p.stopCh(s)
	stable := time.NewTimer(p.cfg.FailedStartWindow)
	defer stable.Stop()
	fatal := pr.fatal.closed()
	for {
		select {
		case <-pr.done:
			return false
		case <-stop:
			return true
		case <-fatal:
			fatal = nil
			go p.killIfStuck(s, pr)
		case <-stable.C:
			p.mu.Lock()
			if s.bo.FailedStarts > 0 {
				s.bo.FailedStarts = 0
				p.notify()
			}
			p.mu.Unlock()
		}
	}
}

// drain makes s's worker stop consuming, waits DrainGrace for its last poll
// to return, and commits the stop (Stopping), holding the pool's drain slot
// throughout: one worker drains at a time. With two draining at once kombu
// 5.2 can lose a message that arrives meanwhile: the first worker's last
// poll returns it, and with no consumer left it is restored (pushed back)
// and then acked; the second worker's last poll takes it in between, and
// that ack deletes the second worker's record of it, so the second worker's
// own restore finds nothing and the message is gone (measured: 2 of 104 in
// a 5 s-keepalive scale-down of 7 at once). A message restored by the one
// draining worker goes to a consuming one. Taken back meanwhile, the
// worker's consumers are re-added.
func (p *Pool) drain(s *slot, pr *process) drainResult {
	p.mu.Lock()
	back := s.back
	p.mu.Unlock()
	if p.cfg.Control == nil {
		return p.commit(s)
	}
	select {
	case p.drainSlot <- struct{}{}:
	case <-pr.done:
		return exited
	case <-back:
		return takenBack // nothing was cancelled yet
	}
	defer func() { <-p.drainSlot }()
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	err := p.cfg.Control.CancelConsumers(ctx, s.name, p.cfg.Queues)
	cancel()
	if err != nil {
		// Sent, not confirmed (a solo worker answers between tasks and
		// handles the stop that follows after it, in order), or not sent.
		p.logger(s).Debug("the worker did not confirm its drain", keyErr, err)
	}
	t := time.NewTimer(p.cfg.DrainGrace)
	defer t.Stop()
	select {
	case <-pr.done:
		return exited
	case <-back:
	case <-t.C:
		if p.commit(s) == drained {
			return drained
		}
	}
	p.undrain(s)
	return takenBack
}

// commit turns a requested stop into a committed one (Stopping, no longer
// reclaimable), unless Reclaim came first.
func (p *Pool) commit(s *slot) drainResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !s.stopReq {
		return takenBack
	}
	s.state = Stopping
	p.notify()
	return drained
}

// undrain re-adds the consumers of a worker taken back. If the worker does
// not confirm, it is stopped after all: a worker left without consumers
// would sit idle.
func (p *Pool) undrain(s *slot) {
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	err := p.cfg.Control.AddConsumers(ctx, s.name, p.cfg.Queues)
	if err == nil {
		p.logger(s).Info("worker taken back before its warm stop")
		return
	}
	p.logger(s).Warn("could not take the worker back; stopping it", keyErr, err)
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.stopLocked(s)
}

// warmStop sends the warm stop: SIGTERM to the main PID only, or, for the
// solo pool (where SIGTERM is not warm: the running task is lost), Celery's
// remote-control shutdown, handled between tasks. If the request fails
// nothing else is sent: the group is SIGKILLed after ShutdownTimeout.
func (p *Pool) warmStop(s *slot, pr *process) {
	log := p.logger(s)
	if p.cfg.Pool == "solo" && p.cfg.Control != nil {
		ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
		defer cancel()
		if err := p.cfg.Control.ShutdownWorkers(ctx, []string{s.name}); err != nil {
			log.Warn("warm stop request failed; the worker is killed after the shutdown timeout",
				keyErr, err, keyTimeout, p.cfg.ShutdownTimeout)
		}
		return
	}
	if err := pr.term(); err != nil {
		log.Warn("warm stop failed", keyErr, err)
	}
}
