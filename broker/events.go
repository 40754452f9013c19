package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscription backoff and liveness check.
const (
	minResubscribeBackoff = 100 * time.Millisecond
	maxResubscribeBackoff = 5 * time.Second
	// pubsubCheckInterval is how long the subscriber waits for a message
	// before it PINGs; a second silent interval means the connection is dead.
	pubsubCheckInterval = 5 * time.Second
)

// EventPattern returns the PSUBSCRIBE pattern for Celery events on this
// broker: KeyPrefix + "/{db}.celeryev/*", with glob characters in the prefix
// escaped.
func (r *Redis) EventPattern() string {
	return globEscape(r.cfg.KeyPrefix) + fmt.Sprintf("/%d.celeryev/*", r.db)
}

// UndecodedMessages returns how many event messages could not be decoded
// and were skipped.
func (r *Redis) UndecodedMessages() int64 { return r.undecoded.Load() }

// SubscribeEvents PSUBSCRIBEs KeyPrefix+"/{db}.celeryev/*" and calls handle
// for every decoded event, in order, from one goroutine (the caller's). It
// blocks until ctx is done (then returns nil). On connection loss it
// resubscribes with capped backoff (100ms..5s). onState (may be nil) is
// called with true each time the subscription is confirmed and with false
// when a confirmed subscription is lost, so the caller knows events may have
// been missed between the two. Undecodable messages are counted (see
// UndecodedMessages), logged at debug and skipped. handle and onState must
// not block for long: pub/sub messages are dropped by Redis for slow
// readers.
func (r *Redis) SubscribeEvents(ctx context.Context, handle func(Event), onState func(up bool)) error {
	return subscribeEvents(ctx, r.cfg.Logger.With("pattern", r.EventPattern()), handle, onState, r.subscribeOnce)
}

// subscribeEvents is the SubscribeEvents of every broker: it refuses a nil
// handle, lets onState be nil, and keeps once subscribed (keepSubscribed),
// calling onState(false) after each run that was up and logging each loss.
func subscribeEvents(ctx context.Context, log *slog.Logger, handle func(Event), onState func(up bool),
	once func(ctx context.Context, handle func(Event), onState func(bool)) (up bool, err error)) error {
	if handle == nil {
		return errors.New("subscribe events: nil handler")
	}
	if onState == nil {
		onState = func(bool) {}
	}
	return keepSubscribed(ctx,
		func(ctx context.Context) (bool, error) { return once(ctx, handle, onState) },
		func(up bool, err error, backoff time.Duration) {
			if up {
				onState(false)
			}
			log.Warn("event subscription lost; resubscribing", "err", err, "backoff", backoff)
		})
}

// subscribeOnce runs one subscription until it fails or ctx is done. up
// reports whether the subscription was confirmed (and onState(true) called).
func (r *Redis) subscribeOnce(ctx context.Context, handle func(Event), onState func(bool)) (up bool, err error) {
	err = receive(ctx, r.client.PSubscribe(ctx, r.EventPattern()), "events", func(msg any) {
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "psubscribe" && !up {
				up = true
				onState(true)
			}
		case *redis.Message:
			r.dispatch(m.Payload, handle)
		}
	})
	return up, err
}

// keepSubscribed calls once, one subscription until it fails, until ctx is
// done, waiting a capped doubling backoff (100ms..5s, back to 100ms after a
// run that was up) between calls. After each failed run it calls
// lost(up, err, backoff), up telling whether that run had been confirmed. It
// returns nil when ctx is done, and at once an error of once that wraps
// ErrNoTracking, since retrying cannot help.
func keepSubscribed(ctx context.Context, once func(context.Context) (up bool, err error),
	lost func(up bool, err error, backoff time.Duration)) error {
	backoff := minResubscribeBackoff
	for {
		up, err := once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrNoTracking) {
			return err
		}
		if up {
			backoff = minResubscribeBackoff
		}
		lost(up, err, backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, maxResubscribeBackoff)
	}
}

// receive reads ps until it fails or ctx is done and passes every message
// (subscription confirmations, messages, pongs) to handle, from the caller's
// goroutine. After a silent pubsubCheckInterval it PINGs; a second silent
// interval is a dead connection. It closes ps and always returns an error
// (what names the subscription in it), also when ctx is done.
func receive(ctx context.Context, ps *redis.PubSub, what string, handle func(msg any)) error {
	// Reading does not watch ctx; closing the PubSub unblocks it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer func() {
		if stop() {
			_ = ps.Close()
		}
	}()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, pubsubCheckInterval)
		if err != nil {
			if !isTimeout(err) || pinged {
				return fmt.Errorf("receive %s: %w", what, err)
			}
			if err := ps.Ping(ctx); err != nil {
				return fmt.Errorf("ping %s connection: %w", what, err)
			}
			pinged = true
			continue
		}
		pinged = false
		handle(msg)
	}
}

func (r *Redis) dispatch(payload string, handle func(Event)) {
	events, err := DecodeMessage([]byte(payload))
	if err != nil {
		r.undecoded.Add(1)
		r.cfg.Logger.Debug("skipping undecodable event message", "err", err, "bytes", len(payload))
		return
	}
	for _, ev := range events {
		handle(ev)
	}
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// globEscape escapes Redis glob metacharacters so s matches literally.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
