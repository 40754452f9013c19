package main

import (
	"context"
	"time"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/events"
)

// brokerAdapter is the Redis broker as the supervisor consumes it (Queue,
// Events, QueueWatcher, Restorer): broker's values converted to the
// supervisor's own types. The methods whose signatures need no conversion
// are the embedded client's.
type brokerAdapter struct {
	*broker.Redis
}

// Backlogs is broker.Redis.Backlogs in supervisor.Backlog.
func (a brokerAdapter) Backlogs(ctx context.Context, queues []string, now time.Time) (map[string]supervisor.Backlog, error) {
	bs, err := a.Redis.Backlogs(ctx, queues, now)
	if err != nil {
		return nil, err
	}
	out := make(map[string]supervisor.Backlog, len(bs))
	for q, b := range bs {
		out[q] = supervisor.Backlog{Depth: b.Depth, OldestAge: b.OldestAge, AgeExact: b.AgeExact}
	}
	return out, nil
}

// SubscribeEvents is broker.Redis.SubscribeEvents delivering events.Event
// (a conversion that compiles only while the two have the same fields).
func (a brokerAdapter) SubscribeEvents(ctx context.Context, handle func(events.Event), onState func(up bool)) error {
	return a.Redis.SubscribeEvents(ctx, func(ev broker.Event) { handle(events.Event(ev)) }, onState)
}

// Settle is broker.Redis.Settle in supervisor.Settled; broker.Outcome has
// the supervisor's values (adapt_test.go).
func (a brokerAdapter) Settle(ctx context.Context, worker, tag, take string, died func(taskID string) bool, queues []string) (supervisor.Settled, error) {
	st, err := a.Redis.Settle(ctx, worker, tag, take, died, queues)
	return supervisor.Settled{Tag: st.Tag, ID: st.ID, Task: st.Task, Queue: st.Queue, Outcome: supervisor.SettleOutcome(st.Outcome)}, err
}
