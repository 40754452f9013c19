package main

import (
	"context"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/supervisor/events"
)

// brokerAdapter is the Redis broker as the supervisor consumes it: broker's
// values converted to the supervisor's own types. The methods whose
// signatures need no conversion are the embedded client's.
type brokerAdapter struct {
	*broker.Redis
}

// SubscribeEvents is broker.Redis.SubscribeEvents delivering events.Event
// (a conversion that compiles only while the two have the same fields).
func (a brokerAdapter) SubscribeEvents(ctx context.Context, handle func(events.Event), onState func(up bool)) error {
	return a.Redis.SubscribeEvents(ctx, func(ev broker.Event) { handle(events.Event(ev)) }, onState)
}
