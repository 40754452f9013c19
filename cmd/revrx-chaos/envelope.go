package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

// chaosQueue is the queue the supervisor's workers consume (-Q chaos).
const chaosQueue = "chaos"

// newUUID returns a random version-4 UUID drawn from rng (seeded: the same
// seed gives the same task ids).
func newUUID(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// taskMessage is one Celery protocol-2 message as kombu 5.2 LPUSHes it onto
// the queue list (docs/celery-on-redis.md, "Task messages"): the same envelope `tasks.sleep.apply_async`
// writes, with the published_at header examples/app/publish_stamp.py adds.
type taskMessage struct {
	ID   string
	Task string
	Body any // [args, kwargs, embed], JSON-encoded then base64
	Tag  string
}

// sleepMessage is tasks.sleep(seconds) with a fresh id and delivery tag.
func sleepMessage(rng *rand.Rand, seconds float64) taskMessage {
	return taskMessage{
		ID: newUUID(rng), Task: "tasks.sleep", Tag: newUUID(rng),
		Body: []any{[]any{seconds}, map[string]any{}, embed()},
	}
}

// embed is the third element of a protocol-2 body.
func embed() map[string]any {
	return map[string]any{"callbacks": nil, "errbacks": nil, "chain": nil, "chord": nil}
}

// headers are the message's Celery protocol-2 headers, as
// tasks.sleep.apply_async writes them (with the published_at stamp).
func (m taskMessage) headers() map[string]any {
	args := "()"
	if b, ok := m.Body.([]any); ok && len(b) > 0 {
		if a, ok := b[0].([]any); ok && len(a) == 1 {
			args = fmt.Sprintf("(%v,)", a[0])
		}
	}
	host, _ := os.Hostname()
	return map[string]any{
		"lang": "py", "task": m.Task, "id": m.ID, "shadow": nil, "eta": nil, "expires": nil,
		"group": nil, "group_index": nil, "retries": 0, "timelimit": []any{nil, nil},
		"root_id": m.ID, "parent_id": nil, "argsrepr": args, "kwargsrepr": "{}",
		"origin": "gen" + strconv.Itoa(os.Getpid()) + "@" + host, "ignore_result": false,
		"published_at": float64(time.Now().UnixNano()) / 1e9,
	}
}

// encode renders the message's JSON envelope, as kombu LPUSHes it on Redis.
func (m taskMessage) encode() string {
	body, _ := json.Marshal(m.Body)
	env := map[string]any{
		"body":             base64.StdEncoding.EncodeToString(body),
		"content-encoding": "utf-8",
		"content-type":     "application/json",
		"headers":          m.headers(),
		"properties": map[string]any{
			"correlation_id": m.ID, "reply_to": m.Tag, "delivery_mode": 2,
			"delivery_info": map[string]any{"exchange": "", "routing_key": chaosQueue},
			"priority":      0, "body_encoding": "base64", "delivery_tag": m.Tag,
		},
	}
	out, _ := json.Marshal(env)
	return string(out)
}

// messageIdent is the task id and name in a kombu unacked entry
// ([message, exchange, routing_key]) or a queue message.
func messageIdent(raw string) (id, name string) {
	var arr []json.RawMessage
	msg := json.RawMessage(raw)
	if json.Unmarshal([]byte(raw), &arr) == nil && len(arr) > 0 {
		msg = arr[0]
	}
	var m struct {
		Headers struct {
			ID   string `json:"id"`
			Task string `json:"task"`
		} `json:"headers"`
	}
	if json.Unmarshal(msg, &m) != nil || m.Headers.ID == "" {
		return "?", "?"
	}
	return m.Headers.ID, m.Headers.Task
}
