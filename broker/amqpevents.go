package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Celery's event exchange on AMQP and our queue on it.
const (
	// amqpEventExchange is declared as kombu 5.2 declares it for Celery's
	// event dispatcher on AMQP: topic, durable, not auto-delete, no
	// arguments. Any difference and RabbitMQ closes the channel with
	// PRECONDITION_FAILED.
	amqpEventExchange = "celeryev"
	// amqpEventQueuePrefix starts the name of our event queue, followed by
	// random text; rabbitmqctl list_queues shows it.
	amqpEventQueuePrefix = "revrx.ev."
	// amqpEventTTL is the queue's x-message-ttl in milliseconds, as
	// Celery's own receiver sets (event_queue_ttl): events older than
	// that are stale and dropped by the broker.
	amqpEventTTL = int32(5000)
)

// errEventsClosed is the cause when the broker closed the event channel
// without saying why.
var errEventsClosed = errors.New("event channel closed")

// UndecodedMessages returns how many event messages SubscribeEvents could
// not decode and skipped.
func (a *AMQP) UndecodedMessages() int64 { return a.undecoded.Load() }

// SubscribeEvents receives Celery's events from the "celeryev" topic
// exchange and calls handle for every decoded event, in order, from the
// caller's goroutine. It uses a connection of its own (not the one
// Queues reads on), declares the exchange as Celery does and an
// exclusive, auto-delete queue (5 s message TTL) bound with "#", and
// consumes it without acks. It blocks until ctx is done, then returns
// nil. When the connection or channel is lost it dials again with capped
// backoff (100ms..5s) and declares a new queue: amqp091-go's own recovery
// is not used. onState (may be nil) is called with true once the queue
// is consumed and with false when a consumed queue is lost, so the caller
// knows events may have been missed between the two. Undecodable
// messages are counted (see UndecodedMessages), logged at debug and
// skipped. handle and onState must not block for long: deliveries wait
// in memory meanwhile.
func (a *AMQP) SubscribeEvents(ctx context.Context, handle func(Event), onState func(up bool)) error {
	log := a.log.With("broker", a.redacted, "exchange", amqpEventExchange)
	return subscribeEvents(ctx, log, handle, onState, a.consumeEventsOnce)
}

// consumeEventsOnce dials, declares and consumes until the connection or
// channel is lost or ctx is done. up reports whether consuming had begun
// (and onState(true) been called). It always returns an error.
func (a *AMQP) consumeEventsOnce(ctx context.Context, handle func(Event), onState func(bool)) (up bool, err error) {
	conn, err := a.dial(ctx, "revrx-supervise events")
	if err != nil {
		return false, fmt.Errorf("events: %w", err)
	}
	// Closing the connection ends the deliveries below.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() {
		stop()
		_ = conn.Close()
	}()
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("events: open channel: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	deliveries, err := consumeEventQueue(ch)
	if err != nil {
		return false, fmt.Errorf("events: %w", err)
	}
	onState(true)
	for d := range deliveries {
		a.dispatchDelivery(&d, handle)
	}
	if cause := <-closed; cause != nil {
		return true, fmt.Errorf("events: %w", cause)
	}
	return true, fmt.Errorf("events: %w", errEventsClosed)
}

// consumeEventQueue declares the event exchange, a new exclusive queue
// bound to it with "#", and consumes that queue without acks.
func consumeEventQueue(ch *amqp.Channel) (<-chan amqp.Delivery, error) {
	if err := ch.ExchangeDeclare(amqpEventExchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return nil, fmt.Errorf("declare exchange %s: %w", amqpEventExchange, err)
	}
	name := amqpEventQueuePrefix + rand.Text()
	args := amqp.Table{"x-message-ttl": amqpEventTTL}
	if _, err := ch.QueueDeclare(name, false, true, true, false, args); err != nil {
		return nil, fmt.Errorf("declare queue %s: %w", name, err)
	}
	if err := ch.QueueBind(name, "#", amqpEventExchange, false, nil); err != nil {
		return nil, fmt.Errorf("bind queue %s: %w", name, err)
	}
	deliveries, err := ch.Consume(name, "", true, true, false, false, nil)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", name, err)
	}
	return deliveries, nil
}

func (a *AMQP) dispatchDelivery(d *amqp.Delivery, handle func(Event)) {
	events, err := decodeAMQPEvents(d)
	if err != nil {
		a.undecoded.Add(1)
		a.log.Debug("skipping undecodable event message", "err", err,
			"routing_key", d.RoutingKey, "bytes", len(d.Body))
		return
	}
	for _, ev := range events {
		handle(ev)
	}
}

// decodeAMQPEvents decodes one event message as Celery publishes it on
// AMQP: the body is the serialized JSON itself (no kombu envelope, no
// base64), one event object, or a list of them under routing key
// "task.multi". The type comes from each event's "type" field. JSON is
// the only content type accepted; a kombu-compressed body is an error.
// Errors wrap ErrUndecodable.
func decodeAMQPEvents(d *amqp.Delivery) ([]Event, error) {
	switch d.ContentType {
	case "", "application/json":
	default:
		return nil, fmt.Errorf("%w: content type %q (only application/json)", ErrUndecodable, d.ContentType)
	}
	if c, ok := d.Headers["compression"]; ok {
		return nil, fmt.Errorf("%w: compressed body (%v)", ErrUndecodable, c)
	}
	return decodeEvents(d.Body)
}
