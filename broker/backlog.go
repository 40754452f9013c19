package broker

import (
	"context"
	"fmt"
	"time"
)

// Backlog is one queue's waiting messages.
type Backlog struct {
	// Depth counts the messages in the queue list and every priority
	// sub-list, exactly as QueueDepths does (Delayed ones included).
	Depth int64
	// OldestAge is how long the oldest due message at the tail of any of
	// the queue's lists has been waiting, measured from its publish time
	// (or, for a message with an ETA now past, from that ETA). 0 when no
	// tail message is due. Never negative: a producer clock ahead of ours
	// reads as 0.
	OldestAge time.Duration
	// AgeExact is true when OldestAge comes from a published_at header
	// (exact up to clock skew between the producer and this host), and
	// when nothing is waiting (OldestAge 0 is then exact). False means
	// OldestAge is a lower bound: the time since this client first saw
	// that message at a list tail (see Redis.Backlogs).
	AgeExact bool
	// Delayed counts the lists whose tail message has an ETA still in the
	// future. Such a message is not waiting and adds no age. In normal
	// operation kombu keeps ETA tasks in the worker that fetched them, not
	// in the list, so this is non-zero only when nothing consumes.
	Delayed int64
}

// Backlogs returns, for each queue, its depth and the age of its oldest
// waiting message, from ONE pipelined round trip: LLEN and LINDEX key -1
// (the oldest message, docs/celery-on-redis.md, "List order and BRPOP") of the queue list
// and each priority
// sub-list, under KeyPrefix. Duplicate names are read once; no queues means
// no I/O. On error no partial result is returned.
//
// The oldest waiting message is the oldest over all the sub-lists' tails,
// which is not always the next one consumed (that is the tail of the lowest
// non-empty priority step). Only each list's tail is read: a message behind
// a tail with a future ETA is not seen.
//
// Ages are measured at now. A message stamped with headers.published_at
// (float unix seconds; examples/app/publish_stamp.py) gets an exact age.
// Otherwise the age is a lower bound: now minus when this client first saw
// the message at a tail, remembered across calls (keyed by delivery_tag,
// else task id; at most 10k messages, each forgotten 10 minutes after it
// was last seen). A message is first seen when it reaches a tail, or at the
// first call after the supervisor starts, so while a backlog drains each
// new tail starts near 0; the bound is tight only for a stuck queue.
func (r *Redis) Backlogs(ctx context.Context, queues []string, now time.Time) (map[string]Backlog, error) {
	reads, err := r.readLists(ctx, queues, true)
	if err != nil {
		return nil, fmt.Errorf("queue backlog: %w", err)
	}
	out := make(map[string]Backlog, len(reads))
	for _, qr := range reads {
		out[qr.queue] = r.backlog(qr, now)
	}
	r.seen.sweep(now)
	return out, nil
}

// backlog builds one queue's Backlog from its pipelined read.
func (r *Redis) backlog(qr queueRead, now time.Time) Backlog {
	b := Backlog{Depth: qr.depth(), AgeExact: true}
	for i, c := range qr.tails {
		raw, err := c.Result()
		if err != nil { // redis.Nil: the list is empty
			continue
		}
		m := decodeTail(qr.keys[i], raw)
		if m.eta.After(now) {
			b.Delayed++
			continue
		}
		exact := !m.publishedAt.IsZero()
		since := m.publishedAt
		if !exact {
			since = r.seen.observe(m.id, now)
		}
		if m.eta.After(since) {
			since = m.eta // waiting only since it became due
		}
		age := max(now.Sub(since), 0)
		if age > b.OldestAge || (age == b.OldestAge && !exact) {
			b.OldestAge, b.AgeExact = age, exact
		}
	}
	return b
}
