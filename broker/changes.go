package broker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoTracking means the server refused what change notifications need
// (CLIENT ID, CLIENT TRACKING): Redis before 6, a proxy that does not pass
// CLIENT through, or an ACL that forbids it. Retrying will not help; read
// the queues on a timer instead.
var ErrNoTracking = errors.New("broker does not support CLIENT TRACKING")

// invalidateChannel is where Redis delivers tracking invalidations to a
// RESP2 connection that tracking is redirected to.
const invalidateChannel = "__redis__:invalidate"

// SubscribeChanges calls changed soon (milliseconds) after any list of the
// given queues (KeyPrefix+queue and its priority sub-lists, as QueueDepths
// reads them) is written: a producer's LPUSH, a worker's BRPOP, an
// expiry or a delete. It blocks until ctx is done (then returns nil) and uses
// its own connection, in RESP2:
//
//	CLIENT ID                                    -> id
//	CLIENT TRACKING ON REDIRECT id BCAST PREFIX p [PREFIX p ...]
//	SUBSCRIBE __redis__:invalidate
//
// that is, server-assisted client-side caching in broadcasting mode,
// redirected to the connection itself, with one prefix per queue list
// family (overlapping prefixes merged, as Redis requires). Invalidations
// naming other keys under a prefix (another queue "reports2" for
// "reports") are dropped here. Redis tracks key names across all
// databases, so a write to the same key name in another DB also counts,
// and a FLUSHDB or FLUSHALL on the server ends the subscription (go-redis
// cannot decode that message); both are only extra calls to changed.
//
// changed is called from one goroutine (the caller's) and must not block.
// While changes come faster than one per changeMute (50ms), as every push
// and pop does under load, the watch stops listening for changeMute at a
// time and then calls changed once: a few calls per 50ms at most, the last
// change always reported. It is also called each time the subscription is
// (re)confirmed, since changes may have been missed while it was down. onState (may be nil) is called
// with true when the subscription is confirmed and with false when a
// confirmed one is lost. On connection loss it resubscribes with capped
// backoff (100ms..5s). If the server refuses tracking it returns an error
// wrapping ErrNoTracking at once. No error or log line carries a password.
func (r *Redis) SubscribeChanges(ctx context.Context, queues []string, changed func(), onState func(up bool)) error {
	if changed == nil {
		return errors.New("subscribe changes: nil callback")
	}
	if len(queues) == 0 {
		return errors.New("subscribe changes: no queues")
	}
	if onState == nil {
		onState = func(bool) {}
	}
	w := r.newChangeWatch(queues)
	client := newClient(r.ep, connSetup{protocol: 2, onConnect: w.track})
	defer client.Close()
	log := r.cfg.Logger.With("broker", r.redacted, "queues", queues)
	err := keepSubscribed(ctx,
		func(ctx context.Context) (bool, error) { return w.watchOnce(ctx, client, changed, onState) },
		func(up bool, err error, backoff time.Duration) {
			if up {
				onState(false)
				log.Info("queue change notifications lost; resubscribing", "err", err, "backoff", backoff)
				return
			}
			log.Debug("queue change subscription failed; retrying", "err", err, "backoff", backoff)
		})
	if err != nil {
		return fmt.Errorf("subscribe changes: %w", err)
	}
	return nil
}

// changeWatch is one SubscribeChanges: the keys it reports and the
// tracking prefixes that cover them.
type changeWatch struct {
	keys     map[string]bool
	prefixes []string
	sentinel bool // the client also runs track on its sentinel connections
}

func (r *Redis) newChangeWatch(queues []string) *changeWatch {
	w := &changeWatch{keys: map[string]bool{}, sentinel: r.ep.Sentinel}
	for _, q := range queues {
		for _, k := range r.queueKeys(q) {
			w.keys[k] = true
		}
		w.prefixes = append(w.prefixes, r.cfg.KeyPrefix+q)
	}
	w.prefixes = disjointPrefixes(w.prefixes)
	return w
}

// disjointPrefixes returns the shortest set of prefixes covering every
// string that one of ps covers, none a prefix of another (Redis rejects
// overlapping BCAST prefixes), sorted.
func disjointPrefixes(ps []string) []string {
	sorted := append([]string(nil), ps...)
	sort.Strings(sorted) // a prefix sorts right before the strings it covers
	var out []string
	for _, p := range sorted {
		if len(out) > 0 && strings.HasPrefix(p, out[len(out)-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// track is the OnConnect hook of the watch connection: it turns on
// broadcast tracking redirected to the connection itself, so the
// invalidations arrive as pub/sub messages once it subscribes. A command
// the server refuses gives an error wrapping ErrNoTracking. With Sentinel,
// go-redis runs the hook on its connections to the sentinels too; those
// are left alone.
func (w *changeWatch) track(ctx context.Context, cn *redis.Conn) error {
	if w.sentinel {
		if role, err := cn.Do(ctx, "role").Slice(); err == nil && len(role) > 0 && role[0] == "sentinel" {
			return nil
		}
	}
	id, err := cn.ClientID(ctx).Result()
	if err != nil {
		return trackingErr("client id", err)
	}
	args := make([]any, 0, 6+2*len(w.prefixes))
	args = append(args, "client", "tracking", "on", "redirect", id, "bcast")
	for _, p := range w.prefixes {
		args = append(args, "prefix", p)
	}
	if err := cn.Do(ctx, args...).Err(); err != nil {
		return trackingErr("client tracking", err)
	}
	return nil
}

// trackingErr marks a server's refusal (an error reply, not a network
// failure) as ErrNoTracking.
func trackingErr(cmd string, err error) error {
	var reply redis.Error
	if errors.As(err, &reply) {
		return fmt.Errorf("%s: %w: %w", cmd, ErrNoTracking, err)
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// changeMute is how long the watch stops listening when changes come
// faster than one per changeMute, as every push and pop does under load:
// it UNSUBSCRIBEs (Redis then drops the invalidations), SUBSCRIBEs again
// after changeMute and calls changed once the subscription is confirmed.
// That bounds the messages to a few per changeMute whatever the load,
// while a lone change is still reported at once.
const changeMute = 50 * time.Millisecond

// watchOnce runs one subscription until it fails or ctx is done. up reports
// whether it was confirmed (and onState(true) called).
func (w *changeWatch) watchOnce(ctx context.Context, client redis.UniversalClient, changed func(), onState func(bool)) (up bool, err error) {
	ps := client.Subscribe(ctx, invalidateChannel)
	// Subscribing does not wait for the reply; the reader below sees it.
	unmute := time.AfterFunc(time.Hour, func() { _ = ps.Subscribe(ctx, invalidateChannel) })
	unmute.Stop()
	defer unmute.Stop()
	var muted bool
	var last time.Time // the last call to changed
	report := func() {
		changed()
		last = time.Now()
	}
	err = receive(ctx, ps, "queue changes", func(msg any) {
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				return
			}
			if !up {
				up = true
				onState(true)
			}
			muted = false
			report() // the first confirmation, or the end of a mute: changes may have been missed
		case *redis.Message:
			if muted || !w.concerns(m.PayloadSlice) {
				return
			}
			busy := time.Since(last) < changeMute
			report()
			if busy && ps.Unsubscribe(ctx, invalidateChannel) == nil {
				muted = true
				unmute.Reset(changeMute)
			}
		}
	})
	return up, err
}

// concerns reports whether an invalidation names one of the watched keys.
func (w *changeWatch) concerns(keys []string) bool {
	for _, k := range keys {
		if w.keys[k] {
			return true
		}
	}
	return false
}
