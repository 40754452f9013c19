package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"
)

// malformed are queue messages kombu cannot decode: not JSON
// (JSONDecodeError), a JSON object without properties (KeyError
// 'properties'), a JSON array (TypeError). A plain Celery 5.2.6 worker dies
// of each ("Unrecoverable error", exit 0) before kombu records it in
// unacked, so it is consumed by the worker it kills (the workers engine's
// whole workers too). The pool engine's worker main catches the error where
// kombu reads the BRPOP reply, LPUSHes the raw bytes onto chaos.quarantine
// and carries on.
var malformed = []string{"not json {{{", "{}", "[1,2]"}

// loopingPoison is a well-formed tasks.sleep message whose body has two
// elements instead of three: kombu records it in unacked, then Celery's
// Request() raises ValueError (not enough values to unpack) outside its
// error handling. A plain worker dies with "Unrecoverable error" and
// restores its unacked messages on the way out (RPUSH: the next message any
// worker takes), so it crashes worker after worker until something
// quarantines it (the supervisor, counting the deaths, with the workers
// engine). The pool engine's worker main quarantines it at once (the same
// guard as for malformed messages; kombu's unacked entry is acked) and
// carries on.
func loopingPoison(rng *rand.Rand) taskMessage {
	return taskMessage{ID: newUUID(rng), Task: "tasks.sleep", Tag: newUUID(rng),
		Body: []any{[]any{0.1}, map[string]any{}}}
}

// eventChannels are the pub/sub channels of Celery's event exchange on
// Redis db 0 (docs/celery-on-redis.md, "Events"), where the supervisor listens.
var eventChannels = []string{"/0.celeryev/task.multi", "/0.celeryev/worker.heartbeat",
	"/0.celeryev/worker.online", "/0.celeryev/task.started", "/0.celeryev/worker.offline"}

// junkEvent is one garbage message for the event channel: random bytes,
// broken JSON, or kombu envelopes whose body is wrong in type or content.
func junkEvent(rng *rand.Rand) string {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	env := func(body string) string {
		m, _ := json.Marshal(map[string]any{"body": body, "content-encoding": "utf-8",
			"content-type": "application/json", "headers": map[string]any{"hostname": "chaos@nowhere"},
			"properties": map[string]any{"delivery_mode": 1, "body_encoding": "base64",
				"delivery_info": map[string]any{"exchange": "celeryev", "routing_key": "task.multi"},
				"priority":      0, "delivery_tag": newUUID(rng)}})
		return string(m)
	}
	switch rng.IntN(10) {
	case 0, 1:
		raw := make([]byte, 1+rng.IntN(300))
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		return string(raw)
	case 2:
		return `{"body": "` + b64(`[{"type": "task-started"`)
	case 3:
		return `{"body": 12, "properties": []}`
	case 4:
		return env("!!! not base64 !!!")
	case 5:
		return env(b64("not json"))
	case 6:
		return env(b64(`[{"type": "task-started"}, 7, null, "x"]`))
	case 7:
		return env(b64(`{"type": "worker-heartbeat", "hostname": 5, "active": "many", "timestamp": "soon", "freq": -1}`))
	case 8:
		return env(b64(`[{"type": "task-succeeded", "uuid": ["a"], "hostname": {}, "runtime": "fast", "clock": 1e308}]`))
	default:
		return "null"
	}
}

// publishJunk publishes n garbage messages on Celery's event channels
// (the mode's way) and counts them.
func (r *run) publishJunk(ctx context.Context, n int) error {
	r.gate.RLock()
	defer r.gate.RUnlock()
	err := r.b.publishJunk(ctx, n)
	if err == nil {
		r.mu.Lock()
		r.junk += n
		r.mu.Unlock()
	}
	return err
}

// itoa is strconv.Itoa.
func itoa(n int) string { return strconv.Itoa(n) }

// since is t's offset from the start of the load, in seconds.
func (r *run) since(t time.Time) float64 { return t.Sub(r.t0).Seconds() }
