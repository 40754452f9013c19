package main

// Publishing on the RabbitMQ node: task messages as Celery 5.2 publishes
// them on AMQP, garbage on the celeryev exchange, each confirmed by the
// broker (publisher confirms) before it counts as published.

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// confirmWait bounds the wait for a batch's publisher confirms.
const confirmWait = 10 * time.Second

// outgoing is one message to publish.
type outgoing struct {
	exchange, key string
	msg           amqp.Publishing
}

// amqpSender publishes through one connection and one channel in confirm
// mode, dialed when needed and dropped on any error (the next send dials
// again: a restarted node is found that way). Safe for concurrent use.
type amqpSender struct {
	url, name string

	mu   sync.Mutex
	conn *amqp.Connection
	ch   *amqp.Channel
}

// channel is the open confirm-mode channel, dialed if needed. s.mu held.
func (s *amqpSender) channel() (*amqp.Channel, error) {
	if s.ch != nil && !s.ch.IsClosed() {
		return s.ch, nil
	}
	s.closeLocked()
	conn, err := amqp.DialConfig(s.url, amqp.Config{Heartbeat: 10 * time.Second,
		Properties: amqp.Table{"connection_name": s.name}, Dial: amqp.DefaultDial(2 * time.Second)})
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	s.conn, s.ch = conn, ch
	return ch, nil
}

// closeLocked drops the connection. s.mu held.
func (s *amqpSender) closeLocked() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.conn, s.ch = nil, nil
}

// close drops the connection.
func (s *amqpSender) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

// publish sends ps in order and waits for their confirms: each is taken
// (acked), refused (nacked, or not sent after a failed one: send it
// again) or unknown (sent, and the connection went before its confirm).
// An error means none was sent.
func (s *amqpSender) publish(ps []outgoing) ([]sendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, err := s.channel()
	if err != nil {
		return nil, err
	}
	res := make([]sendResult, len(ps))
	confs := make([]*amqp.DeferredConfirmation, len(ps))
	for i, p := range ps {
		c, err := ch.PublishWithDeferredConfirm(p.exchange, p.key, false, false, p.msg)
		if err != nil {
			res[i] = sendUnknown // its frames may have gone out
			for j := i + 1; j < len(ps); j++ {
				res[j] = sendRefused
			}
			break
		}
		confs[i] = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), confirmWait)
	defer cancel()
	for i, c := range confs {
		if c == nil {
			continue
		}
		if ok, err := c.WaitContext(ctx); ok {
			res[i] = sendTaken
		} else if err != nil || ch.IsClosed() {
			res[i] = sendUnknown
		} else {
			res[i] = sendRefused
		}
	}
	if ch.IsClosed() || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		s.closeLocked()
	}
	return res, nil
}

// tasks is the publisher's taskSender: task messages to the chaos queue.
type tasks struct{ s *amqpSender }

func (t tasks) send(msgs []taskMessage) ([]sendResult, error) {
	ps := make([]outgoing, len(msgs))
	for i, m := range msgs {
		ps[i] = outgoing{key: chaosQueue, msg: m.publishing()}
	}
	return t.s.publish(ps)
}

// publishing is the message as Celery 5.2 publishes a task on AMQP
// (docs/rabbitmq.md): the protocol-2 headers as AMQP headers, the body
// [args, kwargs, embed] as plain JSON (no kombu envelope, no base64),
// persistent, through the default exchange to the queue.
func (m taskMessage) publishing() amqp.Publishing {
	body, _ := json.Marshal(m.Body)
	return amqp.Publishing{
		ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent,
		CorrelationId: m.ID, ReplyTo: m.Tag, Headers: amqp.Table(m.headers()), Body: body,
	}
}

// amqpEventKeys are routing keys of Celery's events on the celeryev topic
// exchange (an event type with "-" turned to ".").
var amqpEventKeys = []string{"task.multi", "worker.heartbeat", "worker.online", "task.started", "worker.offline"}

// amqpJunk is one garbage body for the celeryev exchange, never JSON:
// random bytes behind a byte no JSON starts with, truncated or broken
// JSON, invalid UTF-8, nothing at all.
func amqpJunk(rng *rand.Rand) []byte {
	switch rng.IntN(6) {
	case 0, 1:
		raw := make([]byte, 1+rng.IntN(300))
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		return append([]byte{0xff}, raw...)
	case 2:
		return []byte(`[{"type": "task-started", "uuid": "`)
	case 3:
		return []byte(`{"type": "worker-heartbeat", "hostname": `)
	case 4:
		return []byte("not json {{{")
	default:
		return nil
	}
}

// junk is n garbage messages for the celeryev exchange, as JSON by their
// content type (the supervisor takes application/json and none).
func junk(rng *rand.Rand, n int) []outgoing {
	ps := make([]outgoing, n)
	for i := range ps {
		ct := "application/json"
		if rng.IntN(4) == 0 {
			ct = ""
		}
		ps[i] = outgoing{exchange: "celeryev", key: amqpEventKeys[rng.IntN(len(amqpEventKeys))],
			msg: amqp.Publishing{ContentType: ct, ContentEncoding: "utf-8", Body: amqpJunk(rng)}}
	}
	return ps
}
