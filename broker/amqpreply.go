package broker

import (
	"encoding/json"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// amqpReplies hands the replies that arrive on one control connection's
// reply queue to the calls waiting for them, matched by the `ticket`
// header the worker copies from the call. A reply nobody waits for (a
// call that timed out, a foreign ticket) is dropped. One per connection.
type amqpReplies struct {
	mu      sync.Mutex
	waiting map[string]chan map[string]json.RawMessage

	done chan struct{} // closed once the reply queue's deliveries end
}

func newAMQPReplies() *amqpReplies {
	return &amqpReplies{waiting: map[string]chan map[string]json.RawMessage{}, done: make(chan struct{})}
}

// expect registers a call's ticket before its command is published. The
// channel receives the reply's answers by node name, at most once; forget
// unregisters the ticket and must be called when the call ends.
func (r *amqpReplies) expect(ticket string) (answers <-chan map[string]json.RawMessage, forget func()) {
	ch := make(chan map[string]json.RawMessage, 1)
	r.mu.Lock()
	r.waiting[ticket] = ch
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		delete(r.waiting, ticket)
		r.mu.Unlock()
	}
}

// route reads deliveries until the channel is closed (the broker or we
// closed the channel or connection), then closes done. It never blocks on
// a caller: each waiting channel has room for its one reply.
func (r *amqpReplies) route(deliveries <-chan amqp.Delivery) {
	defer close(r.done)
	for d := range deliveries {
		ticket, _ := d.Headers["ticket"].(string)
		var answers map[string]json.RawMessage
		if ticket == "" || json.Unmarshal(d.Body, &answers) != nil {
			continue
		}
		r.mu.Lock()
		ch, ok := r.waiting[ticket]
		delete(r.waiting, ticket)
		r.mu.Unlock()
		if ok {
			ch <- answers
		}
	}
}
