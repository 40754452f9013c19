package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// pidboxExchange is the fanout exchange Celery workers take remote-control
// commands from; each worker's <node>.celery.pidbox queue is bound to it.
const pidboxExchange = "celery.pidbox"

// ErrControlClosed means the control connection or channel closed while a
// call waited for its reply; the next call dials again.
var ErrControlClosed = errors.New("remote-control connection closed")

// amqpControl is the remote-control side of an AMQP: a connection of its
// own (the backlog reader's 404s close its channel, which must not cost a
// reply), opened on the first call and again on the call after a failure.
type amqpControl struct {
	mu   sync.Mutex
	sess *controlSession

	wg sync.WaitGroup // the sessions' reply routers
}

// controlSession is one control connection: the channel it publishes and
// consumes on, and its exclusive reply queue <id>.reply.celery.pidbox,
// bound to reply.celery.pidbox with routing key id.
type controlSession struct {
	conn    *amqp.Connection
	ch      *amqp.Channel
	id      string
	replies *amqpReplies
}

// ShutdownWorkers broadcasts Celery's remote-control `shutdown` command to
// the named workers, as (*Redis).ShutdownWorkers does on Redis: fire and
// forget, on the fanout exchange celery.pidbox with a destination list. A
// worker handles it on its event loop, between tasks, and shuts down warm.
// It returns an error if the message could not be published; a worker that
// is not listening simply does not stop, so the caller must still bound the
// wait.
func (a *AMQP) ShutdownWorkers(ctx context.Context, names []string) error {
	sess, err := a.controlSession(ctx)
	if err == nil {
		err = a.ctl.publish(ctx, sess, "shutdown", map[string]any{}, names, nil)
	}
	if err != nil {
		return fmt.Errorf("remote shutdown: %w", err)
	}
	return nil
}

// CancelConsumers tells the worker named name to stop consuming from each
// of queues (remote control `cancel_consumer`, one call per queue) and
// returns once the worker has answered each. Celery 5.2 answers first and
// cancels on its event loop's next turn (call_soon), so a message can still
// reach the worker just after the answer; a caller that must know the queue
// is no longer consumed reads its consumers (Queues). What the worker
// already holds unacked stays its own. It returns an error wrapping
// ErrNoReply if an answer did not come before ctx is done (the command may
// still be applied later), or ErrControlClosed.
func (a *AMQP) CancelConsumers(ctx context.Context, name string, queues []string) error {
	return callPerQueue(ctx, a.callControl, "cancel_consumer", name, queues)
}

// AddConsumers tells the worker named name to consume from each of queues
// again (remote control `add_consumer`, one call per queue; a queue it
// already consumes is left alone) and returns once the worker has answered
// each, with CancelConsumers' errors; the worker applies it on its event
// loop's next turn. It takes back a worker whose
// consumers CancelConsumers cancelled.
func (a *AMQP) AddConsumers(ctx context.Context, name string, queues []string) error {
	return callPerQueue(ctx, a.callControl, "add_consumer", name, queues)
}

// callControl sends method to the worker named worker with a fresh ticket
// and our reply queue's id as reply_to, and waits for the answer carrying
// that ticket. An answer of the form {"error": ...} is an error.
func (a *AMQP) callControl(ctx context.Context, method string, args map[string]any, worker string) error {
	sess, err := a.controlSession(ctx)
	if err != nil {
		return err
	}
	ticket, err := uuid4()
	if err != nil {
		return err
	}
	answers, forget := sess.replies.expect(ticket)
	defer forget()
	if err := a.ctl.publish(ctx, sess, method, args, []string{worker}, &replyTo{oid: sess.id, ticket: ticket}); err != nil {
		return err
	}
	select {
	case answer := <-answers:
		return answerError(answer, worker)
	case <-sess.replies.done:
		a.ctl.drop(sess)
		return fmt.Errorf("%s: %w", worker, ErrControlClosed)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", worker, ErrNoReply)
	}
}

// controlSession returns the open control session, dialing a new one
// (the URL's endpoints in order) when there is none or it has closed.
func (a *AMQP) controlSession(ctx context.Context) (*controlSession, error) {
	s, err := a.ctl.session(ctx, a.dial)
	if err != nil {
		return nil, fmt.Errorf("amqp %s: %w", a.redacted, err)
	}
	return s, nil
}

// publish sends one command on the session's channel as kombu's Mailbox
// does: JSON body, persistent, headers clock and expires (unix seconds).
// A failed publish drops the session.
func (c *amqpControl) publish(ctx context.Context, s *controlSession, method string, args map[string]any, destination []string, reply *replyTo) error {
	body, err := controlCommand(method, args, destination, reply)
	if err != nil {
		return err
	}
	msg := amqp.Publishing{
		ContentType:     "application/json",
		ContentEncoding: "utf-8",
		DeliveryMode:    amqp.Persistent,
		Headers: amqp.Table{
			"clock":   int64(1),
			"expires": float64(time.Now().Add(controlExpiry).UnixMilli()) / 1e3,
		},
		Body: body,
	}
	if err := s.ch.PublishWithContext(ctx, pidboxExchange, "", false, false, msg); err != nil {
		c.drop(s)
		return fmt.Errorf("publish %s: %w", method, err)
	}
	return nil
}

// session returns the open session or opens one on a connection from dial,
// within ctx. Its reply router runs until the connection closes.
func (c *amqpControl) session(ctx context.Context, dial func(context.Context, string) (*amqp.Connection, error)) (*controlSession, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sess; s != nil && !s.conn.IsClosed() && !s.ch.IsClosed() {
		return s, nil
	}
	c.closeLocked()
	conn, err := dial(ctx, "revrx-supervise control")
	if err != nil {
		return nil, err
	}
	s, deliveries, err := openControl(ctx, conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		s.replies.route(deliveries)
	}()
	c.sess = s
	return s, nil
}

// openControl declares what a control session needs on a new channel of
// conn (declareControl), bounded by ctx: closing conn unblocks it.
func openControl(ctx context.Context, conn *amqp.Connection) (*controlSession, <-chan amqp.Delivery, error) {
	type result struct {
		s          *controlSession
		deliveries <-chan amqp.Delivery
		err        error
	}
	done := make(chan result, 1)
	go func() {
		s, d, err := declareControl(conn)
		done <- result{s, d, err}
	}()
	select {
	case <-ctx.Done():
		_ = conn.Close()
		<-done
		return nil, nil, ctx.Err()
	case r := <-done:
		return r.s, r.deliveries, r.err
	}
}

// declareControl opens a channel, declares the two pidbox exchanges exactly
// as kombu's Mailbox does (transient, not auto-delete: any other
// declaration makes RabbitMQ close the channel with PRECONDITION_FAILED),
// and an exclusive, auto-delete reply queue bound with a fresh id, and
// consumes it with automatic acks.
func declareControl(conn *amqp.Connection) (*controlSession, <-chan amqp.Delivery, error) {
	id, err := uuid4()
	if err != nil {
		return nil, nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.ExchangeDeclare(pidboxExchange, "fanout", false, false, false, false, nil); err != nil {
		return nil, nil, fmt.Errorf("declare %s: %w", pidboxExchange, err)
	}
	if err := ch.ExchangeDeclare(replyExchange, "direct", false, false, false, false, nil); err != nil {
		return nil, nil, fmt.Errorf("declare %s: %w", replyExchange, err)
	}
	queue := id + "." + replyExchange
	if _, err := ch.QueueDeclare(queue, false, true, true, false, nil); err != nil {
		return nil, nil, fmt.Errorf("declare reply queue: %w", err)
	}
	if err := ch.QueueBind(queue, id, replyExchange, false, nil); err != nil {
		return nil, nil, fmt.Errorf("bind reply queue: %w", err)
	}
	deliveries, err := ch.Consume(queue, "", true, true, false, false, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("consume reply queue: %w", err)
	}
	return &controlSession{conn: conn, ch: ch, id: id, replies: newAMQPReplies()}, deliveries, nil
}

// drop closes s if it is still the current session; the next call dials.
func (c *amqpControl) drop(s *controlSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == s {
		c.closeLocked()
	}
}

// closeLocked closes the current session's connection, which ends its
// reply router.
func (c *amqpControl) closeLocked() {
	if c.sess != nil {
		_ = c.sess.conn.Close()
		c.sess = nil
	}
}

// close closes the session and waits for the reply routers to end.
func (c *amqpControl) close() {
	c.mu.Lock()
	c.closeLocked()
	c.mu.Unlock()
	c.wg.Wait()
}
