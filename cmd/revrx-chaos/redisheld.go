package main

// The Redis mode's SIGKILLed worker mains: the held set a forked worker
// records its messages in, read just before the kill, and how soon those
// messages left unacked (the supervisor restores them: Redis does not).

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// heldKey is the Redis set a forked worker records its messages in (the
// chaos app has no key prefix).
func heldKey(worker string) string { return "revrx.held." + worker }

// heldWatch is how long watchBack looks for a killed worker's messages in
// unacked.
const heldWatch = 30 * time.Second

// beforeKill reads the worker main's held set: what the supervisor will
// have to put back. Read as late as possible, so that only a message
// taken in the last instant (between this read and the kill) can be
// missing from it.
func (m *redisMode) beforeKill(_ context.Context, k *kill) string {
	k.held, k.heldErr = harness.Strings(m.rc.Do("HKEYS", heldKey(k.worker)))
	if k.heldErr != nil {
		return fmt.Sprintf("; %s unreadable: %v", heldKey(k.worker), k.heldErr)
	}
	return fmt.Sprintf("; %d message(s) in %s", len(k.held), heldKey(k.worker))
}

// watchBack polls unacked every 50 ms, on a connection of its own, until
// none of the killed worker's held delivery tags is in it as the dead worker
// left it, and sets k.back. A tag counts as back once it is absent from
// unacked, or present with an unacked_index score after the kill (put back
// and already taken again by a live worker: kombu keeps the tag, and its
// score is when the new taker wrote it). Resolution 50 ms. A failed read, as while Redis restarts, is a miss, not an answer.
func (m *redisMode) watchBack(ctx context.Context, k *kill) {
	r := m.r
	rc := harness.NewClient(m.redis.Addr)
	defer rc.Reset()
	back := time.Duration(-1)
	defer func() {
		r.mu.Lock()
		k.back = back
		r.mu.Unlock()
	}()
	if len(k.held) == 0 {
		if k.heldErr == nil {
			back = 0
		}
		return
	}
	pending := map[string]bool{}
	for _, tag := range k.held {
		pending[tag] = true
	}
	for time.Since(k.at) < heldWatch {
		tags := make([]string, 0, len(pending))
		for tag := range pending {
			tags = append(tags, tag)
		}
		now := time.Now()
		res, err := rc.Pipeline([][]string{append([]string{"HMGET", "unacked"}, tags...),
			append([]string{"ZMSCORE", "unacked_index"}, tags...)})
		if err == nil {
			vals, _ := res[0].([]any)
			scores, _ := res[1].([]any)
			if len(vals) == len(tags) && len(scores) == len(tags) {
				for i, tag := range tags {
					retaken := false
					if s, ok := scores[i].(string); ok {
						f, err := strconv.ParseFloat(s, 64)
						retaken = err == nil && time.Unix(0, int64(f*1e9)).After(k.at)
					}
					if vals[i] == nil || retaken {
						delete(pending, tag)
					}
				}
				if len(pending) == 0 {
					back = now.Sub(k.at)
					return
				}
			}
		}
		if harness.Sleep(ctx, 50*time.Millisecond) != nil {
			return
		}
	}
}

// heldBackLimit is how soon a SIGKILLed worker main's messages must have
// left unacked.
const heldBackLimit = 5 * time.Second

// backRows prints, per worker-main SIGKILL, the held set read just before
// it and how long its tags took to leave unacked, and returns the verdict
// on the slowest.
func (m *redisMode) backRows(t *table) verdict {
	r := m.r
	want := fmt.Sprintf("dead workers' messages back within %.0fs", heldBackLimit.Seconds())
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []string
	slowest, n, ok, any := time.Duration(0), 0, true, false
	for _, k := range r.kills {
		if k.kind != faultKillMain {
			continue
		}
		any = true
		n += len(k.held)
		switch {
		case k.heldErr != nil:
			parts = append(parts, fmt.Sprintf("%s: held set unreadable (%v)", k.worker, k.heldErr))
		case k.back < 0:
			ok = false
			parts = append(parts, fmt.Sprintf("%s: %d held, not all back within %.0fs", k.worker, len(k.held), heldWatch.Seconds()))
		default:
			slowest = max(slowest, k.back)
			parts = append(parts, fmt.Sprintf("%s at t=%.1fs: %d held, back after %.2fs", k.worker, r.since(k.at), len(k.held), k.back.Seconds()))
		}
	}
	if !any {
		t.add("dead workers' messages back", "no worker main killed")
		return verdict{want, "no worker main killed", true}
	}
	t.add("dead workers' messages back", "slowest %.2fs; %d message(s) in the held sets read just before the kills (%s)", slowest.Seconds(), n, strings.Join(parts, "; "))
	if !ok {
		return verdict{want, "some never left unacked", false}
	}
	return verdict{want, fmt.Sprintf("slowest %.2fs", slowest.Seconds()), slowest <= heldBackLimit}
}
