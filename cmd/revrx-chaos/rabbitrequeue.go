package main

// The RabbitMQ mode's SIGKILLed worker mains. There is no held set and no
// restore: the broker requeues a consumer's unacknowledged messages when
// its channel goes (its connection closed), and the queue process drops
// the consumer and requeues its deliveries in one step. So the moment
// the chaos queue's consumer count drops after the kill (passive
// queue.declare, answered by the queue process itself, every 20 ms on a
// connection of its own) is the moment the dead main's messages are
// ready again; rabbitmqctl list_queues right after confirms the
// unacknowledged count. A pool child that inherited the main's socket
// and kept it open would show here as a late drop.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/internal/harness"
)

// Limits of the requeue watch: the expectation, and how long it looks.
const (
	requeueLimit    = 2 * time.Second
	requeueWatchFor = 30 * time.Second
)

// requeueWatch is one SIGKILLed worker main's requeue.
type requeueWatch struct {
	rd             *broker.AMQP
	consumers      int   // on the chaos queue just before the kill
	ready          int64 // ready then
	consumersAfter int   // when the count dropped
	readyAfter     int64
	ctl            string // rabbitmqctl list_queues for the chaos queue right after
	err            error  // the read before the kill failed
}

// beforeKill reads the chaos queue's consumers and ready messages on a
// connection of the kill's own, just before the SIGKILL.
func (m *rabbitMode) beforeKill(ctx context.Context, k *kill) string {
	w := &requeueWatch{}
	w.rd, w.err = broker.NewAMQP(m.node.URL(), nil)
	if w.err == nil {
		var q broker.AMQPQueue
		q, w.err = m.readQueue(ctx, w.rd)
		w.consumers, w.ready = q.Consumers, q.Ready
	}
	m.mu.Lock()
	m.watches[k] = w
	m.mu.Unlock()
	if w.err != nil {
		return fmt.Sprintf("; chaos queue unreadable: %v", w.err)
	}
	return fmt.Sprintf("; chaos queue: %d consumer(s), %d ready", w.consumers, w.ready)
}

// readQueue is one passive declare of the chaos queue, within 2 s.
func (m *rabbitMode) readQueue(ctx context.Context, rd *broker.AMQP) (broker.AMQPQueue, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	qs, err := rd.Queues(ctx, []string{chaosQueue})
	return qs[chaosQueue], err
}

// watchBack polls the chaos queue every 20 ms until it has fewer
// consumers than at the kill (or than the most seen since: a new main
// may consume first), and sets k.back to the time from the kill to the
// read that showed it (-1: not within requeueWatchFor). A main that
// consumed nothing held nothing: back 0.
func (m *rabbitMode) watchBack(ctx context.Context, k *kill) {
	m.mu.Lock()
	w := m.watches[k]
	m.mu.Unlock()
	back := time.Duration(-1)
	defer func() {
		m.r.mu.Lock()
		k.back = back
		m.r.mu.Unlock()
	}()
	if w == nil || w.err != nil {
		return
	}
	defer w.rd.Close()
	if w.consumers == 0 {
		back = 0
		return
	}
	most := w.consumers
	for time.Since(k.at) < requeueWatchFor {
		q, err := m.readQueue(ctx, w.rd)
		if err == nil && q.Consumers < most {
			back = time.Since(k.at)
			w.consumersAfter, w.readyAfter = q.Consumers, q.Ready
			break
		}
		if err == nil {
			most = max(most, q.Consumers)
		}
		if harness.Sleep(ctx, 20*time.Millisecond) != nil {
			return
		}
	}
	if back >= 0 {
		if qs, err := m.listQueues(ctx); err == nil {
			w.ctl = qs[chaosQueue].String()
		}
	}
}

// backRows prints, per worker-main SIGKILL, when its consumer left the
// chaos queue (its messages ready again), and returns the verdict on the
// slowest.
func (m *rabbitMode) backRows(t *table) verdict {
	r := m.r
	want := fmt.Sprintf("SIGKILLed worker mains' messages ready again (their consumer gone) within %.0fs", requeueLimit.Seconds())
	r.mu.Lock()
	defer r.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	var parts []string
	slowest, ok, any := time.Duration(0), true, false
	for _, k := range r.kills {
		w := m.watches[k]
		if k.kind != faultKillMain || w == nil {
			continue
		}
		any = true
		switch {
		case w.err != nil:
			parts = append(parts, fmt.Sprintf("%s: chaos queue unreadable before the kill (%v)", k.worker, w.err))
		case k.back < 0:
			ok = false
			parts = append(parts, fmt.Sprintf("%s at t=%.1fs: %d consumer(s) before, none gone within %.0fs", k.worker, r.since(k.at), w.consumers, requeueWatchFor.Seconds()))
		default:
			slowest = max(slowest, k.back)
			parts = append(parts, fmt.Sprintf("%s at t=%.1fs: consumers %d -> %d and ready %d -> %d after %.2fs; rabbitmqctl then: %s",
				k.worker, r.since(k.at), w.consumers, w.consumersAfter, w.ready, w.readyAfter, k.back.Seconds(), w.ctl))
		}
	}
	if !any {
		t.add("dead workers' messages back", "no worker main killed")
		return verdict{want, "no worker main killed", true}
	}
	t.add("dead workers' messages back", "slowest %.2fs from the SIGKILL to the dead main's consumer gone (passive declare every 20 ms): %s", slowest.Seconds(), strings.Join(parts, "; "))
	if !ok {
		return verdict{want, "some consumer never went", false}
	}
	return verdict{want, fmt.Sprintf("slowest %.2fs", slowest.Seconds()), slowest <= requeueLimit}
}
