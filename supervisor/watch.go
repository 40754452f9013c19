package supervisor

import (
	"context"
	"sync"
	"time"
)

// QueueWatcher is implemented by a Queue that can tell when the queues'
// lists change (the Redis broker does, with Redis client tracking). Run uses it
// when the Queue has it: a change makes the loop tick at once instead of at
// the next PollInterval, which then only bounds how stale a reading gets.
type QueueWatcher interface {
	// SubscribeChanges calls changed soon after any of the queues' lists
	// is written, and onState when the subscription is confirmed (true) or
	// lost (false), until ctx is done (then it returns nil). An error
	// means it has given up: the loop goes on polling.
	SubscribeChanges(ctx context.Context, queues []string, changed func(), onState func(up bool)) error
}

// MinChangeGap is the least time between the start of a tick and a tick
// that follows a queue change. Under load every push and every pop is a
// change; this bounds the ticks they cause to 1/MinChangeGap a second (20)
// while a burst is still seen within MinChangeGap.
const MinChangeGap = 50 * time.Millisecond

// ChangeSettle is how long a queue change is left to settle before the tick
// it causes. An idle worker takes a new message within milliseconds, so a
// read at once would see, for an instant, a backlog that is not there, and
// scale up for it (each such worker then idles a keepalive). A message still
// waiting after ChangeSettle is one no free worker took: a burst is seen
// within ChangeSettle (+ one read), and bursts the pool absorbs are not.
const ChangeSettle = 100 * time.Millisecond

// watchQueues starts the Queue's change subscription on wg, if it has one,
// and returns a gate that lets its notifications through at most once per
// MinChangeGap. Without a watcher, or once it gives up, the gate never
// opens and the loop ticks every PollInterval only.
func (s *Supervisor) watchQueues(ctx context.Context, wg *sync.WaitGroup) *changeGate {
	g := &changeGate{timer: time.NewTimer(time.Hour), last: time.Now()}
	g.timer.Stop()
	w, ok := s.queue.(QueueWatcher)
	if !ok {
		s.log.Debug("queue reader has no change notifications; polling", "poll_interval", s.cfg.PollInterval)
		return g
	}
	changed := make(chan struct{}, 1)
	g.changed = changed
	notify := func() {
		select {
		case changed <- struct{}{}:
		default: // a tick is already due
		}
	}
	wg.Go(func() {
		err := w.SubscribeChanges(ctx, s.cfg.Queues, notify, s.onWatchState)
		s.m.queueWatchUp.Set(0)
		if err != nil && ctx.Err() == nil {
			s.log.Info("queue change notifications unavailable; polling", "poll_interval", s.cfg.PollInterval, "err", err)
		}
	})
	return g
}

func (s *Supervisor) onWatchState(up bool) {
	s.m.queueWatchUp.Set(boolFloat(up))
	s.log.Debug("queue change notifications", "up", up)
}

// changeGate spaces the ticks that queue changes cause. It belongs to Run's
// goroutine.
type changeGate struct {
	changed <-chan struct{}  // notifications (cap 1); nil without a watcher
	timer   *time.Timer      // armed while a change waits for the gap
	held    <-chan time.Time // timer.C while armed, else nil
	last    time.Time        // start of the last tick
}

// notified is ready when a change arrived; nil while one is already held.
func (g *changeGate) notified() <-chan struct{} {
	if g.held != nil {
		return nil
	}
	return g.changed
}

// holdUntilGap arms the gate for a change that just arrived: its expired
// channel is ready once the change has settled (ChangeSettle) and
// MinChangeGap has passed since the last tick. It reports whether the tick
// must wait, which it always does while ChangeSettle is positive.
func (g *changeGate) holdUntilGap() bool {
	wait := max(ChangeSettle, MinChangeGap-time.Since(g.last))
	if wait <= 0 {
		return false
	}
	g.timer.Reset(wait)
	g.held = g.timer.C
	return true
}

// expired is ready when a held change may tick; nil when none is held.
func (g *changeGate) expired() <-chan time.Time { return g.held }

// ticked records the start of a tick, whatever caused it: it covers any
// held change.
func (g *changeGate) ticked() {
	if g.held != nil {
		g.timer.Stop()
		g.held = nil
	}
	g.last = time.Now()
}
