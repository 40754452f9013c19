package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// AMQPQueue is one queue's reading from RabbitMQ: its ready messages (not
// the unacked ones a consumer holds) and its consumers.
type AMQPQueue struct {
	Ready     int64
	Consumers int
	Missing   bool // no such queue (404): nothing waits in it
}

// AMQP reads queue backlogs from a RabbitMQ broker with passive
// queue.declare, on a connection and channel of its own: a missing queue
// (404) closes that channel, which is then reopened. It dials the URL
// list's endpoints in failover order, keeps one connection, and never
// recovers by itself (amqp091-go's recovery is not used): a failed read is
// an error, and the next read dials again. Safe for concurrent use.
type AMQP struct {
	eps       []AMQPEndpoint
	redacted  string
	log       *slog.Logger
	undecoded atomic.Int64 // event messages skipped (SubscribeEvents)

	mu   sync.Mutex
	conn *amqp.Connection
	ch   *amqp.Channel

	ctl amqpControl // remote control, on a connection of its own
}

// NewAMQP returns a reader for the AMQP broker URL that logs to log (nil
// discards); it does no I/O.
func NewAMQP(rawURL string, log *slog.Logger) (*AMQP, error) {
	eps, err := ParseAMQPURL(rawURL)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &AMQP{eps: eps, redacted: Redact(rawURL), log: log}, nil
}

// Queues reads every queue with one passive declare each, in one
// connection. It fails as a whole when the broker cannot be read (a
// closed connection, a timeout from ctx); a missing queue is not a
// failure.
func (a *AMQP) Queues(ctx context.Context, queues []string) (map[string]AMQPQueue, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]AMQPQueue, len(queues))
	for _, q := range queues {
		if _, done := out[q]; done {
			continue
		}
		r, err := a.declarePassive(ctx, q)
		if err != nil {
			a.closeLocked()
			return nil, fmt.Errorf("amqp %s: queue %q: %w", a.redacted, q, err)
		}
		out[q] = r
	}
	return out, nil
}

// declarePassive is one passive queue.declare on the reading channel,
// opened (and the connection dialed) as needed, bounded by ctx.
func (a *AMQP) declarePassive(ctx context.Context, q string) (AMQPQueue, error) {
	if err := a.openLocked(ctx); err != nil {
		return AMQPQueue{}, err
	}
	type answer struct {
		q   amqp.Queue
		err error
	}
	done := make(chan answer, 1)
	ch := a.ch
	go func() {
		// Never nowait: the broker would answer nothing and we would read 0.
		st, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
		done <- answer{st, err}
	}()
	select {
	case <-ctx.Done():
		a.closeLocked() // unblocks the declare
		return AMQPQueue{}, ctx.Err()
	case ans := <-done:
		var amqpErr *amqp.Error
		if errors.As(ans.err, &amqpErr) && amqpErr.Code == amqp.NotFound {
			a.ch = nil // the broker closed the channel: the next read reopens it
			return AMQPQueue{Missing: true}, nil
		}
		if ans.err != nil {
			return AMQPQueue{}, ans.err
		}
		return AMQPQueue{Ready: int64(ans.q.Messages), Consumers: ans.q.Consumers}, nil
	}
}

// openLocked dials (the endpoints in order) and opens the reading channel
// when either is missing or closed.
func (a *AMQP) openLocked(ctx context.Context) error {
	if a.conn == nil || a.conn.IsClosed() {
		conn, err := a.dial(ctx, "revrx-supervise backlog")
		if err != nil {
			return err
		}
		a.conn, a.ch = conn, nil
	}
	if a.ch == nil || a.ch.IsClosed() {
		ch, err := a.conn.Channel()
		if err != nil {
			a.closeLocked()
			return fmt.Errorf("open channel: %w", err)
		}
		a.ch = ch
	}
	return nil
}

// dial connects to the first endpoint that answers, within ctx, as a
// connection named name (shown by rabbitmqctl list_connections).
func (a *AMQP) dial(ctx context.Context, name string) (*amqp.Connection, error) {
	var errs []error
	for _, ep := range a.eps {
		cfg := amqp.Config{
			SASL:            []amqp.Authentication{&amqp.PlainAuth{Username: ep.Username, Password: ep.Password}},
			Vhost:           ep.VHost,
			TLSClientConfig: ep.TLS,
			Heartbeat:       10 * time.Second,
			Properties:      amqp.Table{"connection_name": name},
			Dial: func(network, addr string) (net.Conn, error) {
				d := net.Dialer{Timeout: DefaultDialTimeout}
				return d.DialContext(ctx, network, addr)
			},
		}
		scheme := "amqp://"
		if ep.TLS != nil {
			scheme = "amqps://"
		}
		conn, err := amqp.DialConfig(scheme+ep.Addr+"/", cfg)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep.Addr, err))
	}
	return nil, errors.Join(errs...)
}

// closeLocked drops the connection (and with it the channel).
func (a *AMQP) closeLocked() {
	if a.conn != nil {
		_ = a.conn.Close()
	}
	a.conn, a.ch = nil, nil
}

// Close closes the connections (backlog and remote control).
func (a *AMQP) Close() error {
	a.mu.Lock()
	a.closeLocked()
	a.mu.Unlock()
	a.ctl.close()
	return nil
}
