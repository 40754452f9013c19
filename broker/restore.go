package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Keys of kombu's ack emulation (docs/celery-on-redis.md, "Unacked"): the
// message a worker has taken and not acked is in the hash, delivery tag ->
// JSON [message, exchange, routing_key], and in the index, tag -> the unix
// time it was taken.
const (
	unackedKey      = "unacked"
	unackedIndexKey = "unacked_index"
	bindingPrefix   = "_kombu.binding."
)

// Keys of this project, beside the queues, under the same global_keyprefix.
const (
	// HeldPrefix + node name is the hash, delivery tag -> take id, of the
	// messages a worker forked by the app host has taken: written before
	// kombu records the message in unacked (with the take id in the
	// message's properties, TakeField) and deleted in the same transaction
	// as kombu's ack (pool/apphost.py). An unacked entry is that worker's
	// while its take id matches.
	HeldPrefix = "revrx.held."
	// TakeField is the message property holding the take id.
	TakeField = "x_revrx_take"
	// QuarantineSuffix, after a queue's name, is the list where a message
	// in flight at two worker deaths is moved instead of being restored.
	QuarantineSuffix = ".quarantine"
	// deathsPrefix + task id counts the worker deaths a message was in
	// flight at; it expires a day after the last one.
	deathsPrefix = "revrx.deaths."
	deathsTTL    = 24 * time.Hour
	// restoreRetries bounds the optimistic transaction's retries against
	// concurrent acks and restores.
	restoreRetries = 8
)

// Outcome is what Settle did with one message.
type Outcome string

// Settle's outcomes.
const (
	Restored    Outcome = "restored"    // back at the front of its queue, redelivered
	Quarantined Outcome = "quarantined" // moved to its queue's quarantine list
	Unroutable  Outcome = "unroutable"  // no queue bound: left for kombu's own sweep
	// Requeued: the worker had put it back itself (kombu restores what a
	// worker holds when it shuts down, even after a crash); a death was
	// counted.
	Requeued Outcome = "requeued"
	// Retaken: another worker has taken it since, under the same delivery
	// tag; a death was counted, and it is left to that worker.
	Retaken Outcome = "retaken"
	// Gone: no longer anywhere to act on (acked, or a clean stop's).
	Gone Outcome = "gone"
)

// Settled is one message a dead worker held.
type Settled struct {
	Tag     string
	ID      string // task id (headers.id), "" if unknown
	Task    string // task name (headers.task), "" if unknown
	Queue   string // the list it went to (the quarantine list, if quarantined)
	Outcome Outcome
	Deaths  int64 // worker deaths it was in flight at, this one included (0: not counted)
}

// HeldBy returns worker's held hash: delivery tag -> take id.
func (r *Redis) HeldBy(ctx context.Context, worker string) (map[string]string, error) {
	r.roundTrips.Add(1)
	return r.client.HGetAll(ctx, r.cfg.KeyPrefix+HeldPrefix+worker).Result()
}

// ForgetHeld deletes worker's held set, once its messages are settled.
func (r *Redis) ForgetHeld(ctx context.Context, worker string) error {
	r.roundTrips.Add(1)
	return r.client.Del(ctx, r.cfg.KeyPrefix+HeldPrefix+worker).Err()
}

// TagsOf returns the delivery tags of the messages in unacked whose task
// id is in ids and that no forked worker took (no take id): what a worker
// that kept no held set (an exec'd one) had taken, as far as its task
// events announced it. It scans the whole hash (HSCAN), so it is for the
// rare death of such a worker only.
func (r *Redis) TagsOf(ctx context.Context, ids map[string]bool) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var tags []string
	var cursor uint64
	for {
		r.roundTrips.Add(1)
		kv, next, err := r.client.HScan(ctx, r.cfg.KeyPrefix+unackedKey, cursor, "", 500).Result()
		if err != nil {
			return nil, err
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if e, err := parseUnacked(kv[i+1]); err == nil && ids[e.id] && e.take == "" {
				tags = append(tags, kv[i])
			}
		}
		if cursor = next; cursor == 0 {
			return tags, nil
		}
	}
}

// Settle puts back the message with delivery tag tag, which worker (now
// gone) held, as kombu's restore_by_tag does, in one optimistic transaction
// on the unacked hash (atomic against a concurrent ack or restore; never
// restored twice): it leaves unacked and its index and goes to the front of
// the list it came from (its priority sub-list) with the redelivered flags
// set. The entry must still be the worker's take (take, "" for an exec'd
// worker): one another worker has taken since is only counted. When
// died(task id) is true (the worker died running that task; the id is ""
// for a message the dying worker put back itself, whose id is not read),
// the message's
// deaths are counted, and at the second it is quarantined instead: moved
// to its queue's quarantine list, from unacked or, if the dying worker had
// put it back itself, from the tail of its queue (queues are the ones the
// pool consumes, searched then).
func (r *Redis) Settle(ctx context.Context, worker, tag, take string, died func(taskID string) bool, queues []string) (s Settled, err error) {
	if died == nil {
		died = func(string) bool { return false }
	}
	for range restoreRetries {
		s, err = r.settleOnce(ctx, worker, tag, take, died, queues)
		if !errors.Is(err, redis.TxFailedErr) {
			return s, err
		}
	}
	return s, fmt.Errorf("settle %s: the keys kept changing: %w", tag, err)
}

func (r *Redis) settleOnce(ctx context.Context, worker, tag, take string, died func(string) bool, queues []string) (s Settled, err error) {
	s = Settled{Tag: tag, Outcome: Gone}
	pfx := r.cfg.KeyPrefix
	var requeued, retaken bool
	err = r.client.Watch(ctx, func(tx *redis.Tx) error {
		r.roundTrips.Add(1)
		raw, err := tx.HGet(ctx, pfx+unackedKey, tag).Result()
		if errors.Is(err, redis.Nil) {
			requeued = true
			return nil
		} else if err != nil {
			return err
		}
		e, err := parseUnacked(raw)
		if err != nil {
			return fmt.Errorf("unacked %s: %w", tag, err)
		}
		s.ID, s.Task = e.id, e.task
		if e.take != take {
			retaken = true // another worker's take now: not ours to move
			return nil
		}
		return r.restoreEntry(ctx, tx, worker, e, died(e.id), &s)
	}, pfx+unackedKey)
	if err != nil || !(requeued || retaken) || !died(s.ID) {
		return s, err
	}
	return r.countRequeued(ctx, worker, queues, retaken, s)
}

// restoreEntry restores (or quarantines) the unacked entry e of s.Tag.
func (r *Redis) restoreEntry(ctx context.Context, tx *redis.Tx, worker string, e unackedEntry, death bool, s *Settled) error {
	var err error
	queues, err := r.lookup(ctx, tx, e.exchange, e.route)
	if err != nil {
		return err
	}
	if len(queues) == 0 {
		s.Outcome = Unroutable
		return nil
	}
	if death {
		if s.Deaths, err = r.deaths(ctx, tx, s.Tag); err != nil {
			return err
		}
	}
	body, err := e.redelivered()
	if err != nil {
		return err
	}
	s.Outcome, s.Queue = Restored, r.priorityKey(queues[0], e.priority)
	if s.Deaths >= 2 {
		s.Outcome, s.Queue = Quarantined, queues[0]+QuarantineSuffix
	}
	pfx := r.cfg.KeyPrefix
	r.roundTrips.Add(1)
	_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, pfx+unackedIndexKey, s.Tag)
		p.HDel(ctx, pfx+unackedKey, s.Tag)
		p.HDel(ctx, pfx+HeldPrefix+worker, s.Tag)
		if s.Outcome == Quarantined {
			p.LPush(ctx, pfx+s.Queue, body)
			p.Del(ctx, pfx+deathsPrefix+s.Tag) // requeued by hand, it starts afresh
			return nil
		}
		for _, q := range queues {
			p.RPush(ctx, pfx+r.priorityKey(q, e.priority), body) // the next one consumed
		}
		if s.Deaths > 0 {
			p.Set(ctx, pfx+deathsPrefix+s.Tag, s.Deaths, deathsTTL)
		}
		return nil
	})
	return err
}

// deaths is the count of deaths the message with delivery tag tag was in
// flight at, this one included.
func (r *Redis) deaths(ctx context.Context, tx *redis.Tx, tag string) (int64, error) {
	r.roundTrips.Add(1)
	n, err := tx.Get(ctx, r.cfg.KeyPrefix+deathsPrefix+tag).Int64()
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	return n + 1, err
}

// countRequeued counts a death of the message s.Tag, which its dying
// worker had put back itself, and at the second death moves it from the
// tail of its queue (kombu pushes a restored message where the next BRPOP
// takes it) to the quarantine list. If another worker has taken it since
// (retaken, or not found at the tail) it is left to that worker: its
// death, if it comes, finds the count at two and quarantines it.
func (r *Redis) countRequeued(ctx context.Context, worker string, queues []string, retaken bool, s Settled) (Settled, error) {
	s.Outcome = Requeued
	if retaken {
		s.Outcome = Retaken
	}
	tag := s.Tag
	pfx := r.cfg.KeyPrefix
	key := pfx + deathsPrefix + tag
	var incr *redis.IntCmd
	r.roundTrips.Add(1)
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, key)
		p.Expire(ctx, key, deathsTTL)
		p.HDel(ctx, pfx+HeldPrefix+worker, tag)
		return nil
	})
	if err != nil {
		return s, err
	}
	if s.Deaths = incr.Val(); s.Deaths < 2 || retaken {
		return s, nil
	}
	for _, q := range queues {
		for _, list := range r.queueKeys(q) {
			found, err := r.quarantineFromList(ctx, list, pfx+q+QuarantineSuffix, &s)
			if err != nil || !found {
				if err != nil {
					return s, err
				}
				continue
			}
			s.Outcome, s.Queue = Quarantined, q+QuarantineSuffix
			r.roundTrips.Add(1)
			return s, r.client.Del(ctx, key).Err()
		}
	}
	return s, nil
}

// requeueSearch is how many messages at the tail of each list
// countRequeued searches.
const requeueSearch = 100

// quarantineFromList moves the message with s.Tag from the tail of list to
// the quarantine list, atomically against consumers (WATCH on list).
func (r *Redis) quarantineFromList(ctx context.Context, list, quarantine string, s *Settled) (found bool, err error) {
	for range restoreRetries {
		err = r.client.Watch(ctx, func(tx *redis.Tx) error {
			r.roundTrips.Add(1)
			items, err := tx.LRange(ctx, list, -requeueSearch, -1).Result()
			if err != nil {
				return err
			}
			for _, it := range items {
				e, err := parseMessage(it)
				if err != nil || e.tag != s.Tag {
					continue
				}
				found, s.ID, s.Task = true, e.id, e.task
				r.roundTrips.Add(1)
				_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.LRem(ctx, list, -1, it)
					p.LPush(ctx, quarantine, it)
					return nil
				})
				return err
			}
			return nil
		}, list)
		if !errors.Is(err, redis.TxFailedErr) {
			return found, err
		}
		found = false
	}
	return false, fmt.Errorf("quarantine %s from %s: the list kept changing: %w", s.Tag, list, err)
}

// lookup finds the queues a message published to exchange with routing key
// route goes to, as kombu's direct exchange does: the anonymous exchange
// routes to the queue named route; a named one to every queue bound to it
// with that routing key (its binding table, "_kombu.binding."+exchange, of
// routing_key, pattern and queue joined by the separator).
func (r *Redis) lookup(ctx context.Context, tx *redis.Tx, exchange, route string) ([]string, error) {
	if exchange == "" {
		return []string{route}, nil
	}
	r.roundTrips.Add(1)
	members, err := tx.SMembers(ctx, r.cfg.KeyPrefix+bindingPrefix+exchange).Result()
	if err != nil {
		return nil, err
	}
	var queues []string
	for _, m := range members {
		parts := strings.Split(m, r.cfg.Separator)
		if len(parts) == 3 && parts[0] == route && parts[2] != "" {
			queues = append(queues, parts[2])
		}
	}
	return queues, nil
}

// priorityKey is the list of queue that holds messages of priority pri:
// kombu's _q_for_pri, the highest step not above pri (clamped to 0..9).
func (r *Redis) priorityKey(queue string, pri int) string {
	pri = min(max(pri, 0), 9)
	step := 0
	for _, s := range r.cfg.PrioritySteps {
		if s <= pri {
			step = s
		}
	}
	if step == 0 {
		return queue
	}
	return fmt.Sprintf("%s%s%d", queue, r.cfg.Separator, step)
}
