package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/events"
)

// amqpBroker is the RabbitMQ client. There is no held-hash restore on
// RabbitMQ: the broker requeues a gone worker's unacked messages when its
// connection closes. Nor a list watcher: new messages are seen by polling,
// or sooner through the producers' task-sent events.
type amqpBroker struct{ *broker.AMQP }

func (a amqpBroker) forUnit(p supervisor.Pool) unitBroker {
	return &amqpUnit{AMQP: a.AMQP, pool: p, seen: map[int]bool{}}
}

// amqpDrainGrace is the drain's wait on RabbitMQ. No message is lost
// without it (a message delivered after the cancel stays unacked on the
// worker's connection, and the broker requeues it when the warm-stopped
// worker closes that connection), but a SIGTERM that reaches a worker
// while it takes messages can hang Celery 5.2's warm shutdown with a task
// run and never acked: measured once in four runs of
// TestNoTaskLostStoppingWhileTasksArrive without the drain (the worker
// killed after --shutdown-timeout, its finished task run again). With the
// consumers cancelled first and this much for the worker's loop to settle,
// none in seven.
const amqpDrainGrace = 300 * time.Millisecond

func (amqpBroker) drainGrace() time.Duration { return amqpDrainGrace }

// amqpUnit is RabbitMQ as one control loop reads it. Its backlog is the
// queues' ready messages (the unacked ones are the workers' reserved and
// running tasks, which events tell). A queue that reads 0 consumers while
// this unit's own workers consume it is a failed read, never a reason to
// scale down: a quorum queue whose leader is slow answers 0 messages and
// 0 consumers instead of an error. A worker consumes once its main has
// sent an event (worker-online follows the task consumer's start) and
// while it runs (not draining or stopping) with, for the pool engine, a
// process up that new tasks can go to (its main cancels its consumer at 0
// processes).
type amqpUnit struct {
	*broker.AMQP
	pool supervisor.Pool

	mu      sync.Mutex
	seen    map[int]bool // worker main PIDs that sent an event
	watched map[string]bool
	changed func()        // SubscribeChanges' callback, nil until it runs
	watchUp func(up bool) // its state callback: the events' state
	eventUp bool          // the events subscription is up
}

// Backlogs reads the queues' ready messages. RabbitMQ tells no message's
// age over AMQP without taking it off the queue, so OldestAge stays 0
// (not shown) and the wait comes from the workers' task events.
func (u *amqpUnit) Backlogs(ctx context.Context, queues []string, _ time.Time) (map[string]supervisor.Backlog, error) {
	read, err := u.Queues(ctx, queues)
	if err != nil {
		return nil, err
	}
	out := make(map[string]supervisor.Backlog, len(read))
	for q, r := range read {
		if r.Consumers == 0 && !r.Missing && u.consuming() {
			return nil, fmt.Errorf("queue %q reads 0 consumers while this host's workers consume it: taken as a failed read (a quorum queue answers 0 messages and 0 consumers while its leader is slow)", q)
		}
		out[q] = supervisor.Backlog{Depth: r.Ready}
	}
	return out, nil
}

// SubscribeEvents delivers the workers' events, noting which worker mains
// have sent one, and passes a task-sent event for a watched queue on as a
// queue change (SubscribeChanges).
func (u *amqpUnit) SubscribeEvents(ctx context.Context, handle func(events.Event), onState func(up bool)) error {
	return u.AMQP.SubscribeEvents(ctx, func(ev broker.Event) {
		u.sawEventFrom(ev.PID)
		if ev.Type == "task-sent" {
			u.taskSent(ev.Queue)
		}
		handle(events.Event(ev))
	}, func(up bool) {
		u.eventsState(up)
		onState(up)
	})
}

// SubscribeChanges makes a task-sent event for one of queues a queue
// change: RabbitMQ tells of no new message, but an app that sends
// task-sent events (task_send_sent_event) tells of each one it publishes,
// so the backlog is read at once instead of at the next poll. Its state is
// the events subscription's. It returns when ctx is done.
func (u *amqpUnit) SubscribeChanges(ctx context.Context, queues []string, changed func(), onState func(up bool)) error {
	u.mu.Lock()
	u.watched, u.changed, u.watchUp = map[string]bool{}, changed, onState
	for _, q := range queues {
		u.watched[q] = true
	}
	up := u.eventUp
	u.mu.Unlock()
	onState(up)
	<-ctx.Done()
	return nil
}

func (u *amqpUnit) taskSent(queue string) {
	u.mu.Lock()
	changed := u.changed
	watched := u.watched[queue]
	u.mu.Unlock()
	if changed != nil && watched {
		changed()
	}
}

func (u *amqpUnit) eventsState(up bool) {
	u.mu.Lock()
	u.eventUp = up
	watchUp := u.watchUp
	u.mu.Unlock()
	if watchUp != nil {
		watchUp(up)
	}
}

func (u *amqpUnit) sawEventFrom(pid int) {
	if pid <= 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) > 10000 { // PIDs of long-gone workers
		clear(u.seen)
	}
	u.seen[pid] = true
}

// consuming reports whether one of the unit's workers consumes its queues
// now.
func (u *amqpUnit) consuming() bool {
	workers := u.pool.Workers()
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, w := range workers {
		if w.State != supervisor.WorkerRunning {
			continue // starting, drained or stopping: its consumer may be gone
		}
		if w.Process == nil && u.seen[w.PID] {
			return true
		}
		if w.Process != nil && u.seen[w.NodePID] && (w.Process.Phase == supervisor.ProcessIdle || w.Process.Phase == supervisor.ProcessBusy) {
			return true
		}
	}
	return false
}
