package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// On RabbitMQ a pattern (PatternPrefix + name) is the one message of a
// durable queue of that name that keeps only its newest message
// (x-max-length 1) and is deleted PatternTTL periods (at least a day)
// after its last use (x-expires). It is read with basic.get and put back
// at once (nack with requeue), so every reader finds it; a read that
// coincides with another host's read finds nothing that instant, as on a
// fresh broker.

// Pattern returns the stored pattern document of name; found is false
// when there is none (a fresh broker, or one that lost it).
func (a *AMQP) Pattern(ctx context.Context, name string) (doc []byte, found bool, err error) {
	err = a.onChannel(ctx, func(ch *amqp.Channel) error {
		if _, err := ch.QueueDeclarePassive(PatternPrefix+name, true, false, false, false, nil); err != nil {
			var amqpErr *amqp.Error
			if errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotFound {
				return nil
			}
			return err
		}
		d, ok, err := ch.Get(PatternPrefix+name, false)
		if err != nil || !ok {
			return err
		}
		doc, found = d.Body, true
		return d.Nack(false, true)
	})
	return doc, found, err
}

// SavePattern stores the pattern document of name, learned over periods
// of length period, as its queue's only message. The last writer wins, as
// on Redis. A queue declared with another expiry (another period) is
// deleted and declared again.
func (a *AMQP) SavePattern(ctx context.Context, name string, doc []byte, period time.Duration) error {
	args := amqp.Table{
		"x-max-length": int32(1),
		"x-expires":    max(PatternTTL*period, 24*time.Hour).Milliseconds(),
	}
	queue := PatternPrefix + name
	return a.onChannel(ctx, func(ch *amqp.Channel) error {
		if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
			var amqpErr *amqp.Error
			if !errors.As(err, &amqpErr) || amqpErr.Code != amqp.PreconditionFailed {
				return err
			}
			if ch, err = a.reopenChannel(); err != nil {
				return err
			}
			defer ch.Close()
			if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
				return err
			}
			if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
				return err
			}
		}
		return ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: doc,
		})
	})
}

// onChannel runs fn on a channel of its own over the backlog connection
// (dialed as needed) and closes the channel after; a broker error that
// closed the channel ends only that channel.
func (a *AMQP) onChannel(ctx context.Context, fn func(ch *amqp.Channel) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.openLocked(ctx); err != nil {
		return fmt.Errorf("amqp %s: %w", a.redacted, err)
	}
	ch, err := a.conn.Channel()
	if err != nil {
		a.closeLocked()
		return fmt.Errorf("amqp %s: open channel: %w", a.redacted, err)
	}
	defer ch.Close()
	if err := fn(ch); err != nil {
		return fmt.Errorf("amqp %s: %w", a.redacted, err)
	}
	return nil
}

// reopenChannel is a new channel on the backlog connection, for onChannel's
// fn after the broker closed its channel; a.mu is held by onChannel.
func (a *AMQP) reopenChannel() (*amqp.Channel, error) {
	return a.conn.Channel()
}
