package main

// The RabbitMQ mode's poison messages (the pool engine): what Celery 5.2
// drops on AMQP (a body that is not JSON or UTF-8, JSON that is no task,
// a task in a content type the app refuses) and the body Request() cannot
// unpack, of which a plain worker dies again and again. The pool engine's
// worker main copies each, as it came, to chaos.quarantine and acks it
// (pool/ext revrx_amqp.py); the expectation: each there exactly once,
// with the body published, nothing of it left in the chaos queue, the
// main's PID unchanged, no worker crash.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// chaosIDHeader names each poison message, so that it can be found in the
// quarantine (its copy keeps the headers); Celery ignores it.
const chaosIDHeader = "revrx-chaos-id"

// amqpMalformed are the malformed messages: body, content type and
// whether they carry a task's headers.
var amqpMalformed = []struct {
	body, contentType string
	task              bool
}{
	{"not json {{{", "application/json", false},
	{"\xff\xfe\xfd invalid utf-8", "application/json", false},
	{"[1,2]", "application/json", false},
	{"{}", "application/json", false},
	{"not json", "application/json", true},
	{`[[0.1], {}, {}]`, "application/x-python-serialize", true},
}

// pushPoison publishes the malformed messages (one at random if one) or a
// new crash-looping message (a tasks.sleep whose body has two elements)
// to the chaos queue, confirmed; raw are their bodies, ids their
// revrx-chaos-id (the task id of a crash-looping one).
func (m *rabbitMode) pushPoison(kind faultKind, one bool) (raw, ids []string, err error) {
	var ps []outgoing
	add := func(id, body, ct string, headers amqp.Table) {
		headers[chaosIDHeader] = id
		ps = append(ps, outgoing{key: chaosQueue, msg: amqp.Publishing{Body: []byte(body), ContentType: ct,
			ContentEncoding: "utf-8", Headers: headers, DeliveryMode: amqp.Persistent}})
		raw, ids = append(raw, body), append(ids, id)
	}
	if kind == faultPoisonLoop {
		t := loopingPoison(m.r.rng)
		body := t.publishing().Body
		add(t.ID, string(body), "application/json", amqp.Table(t.headers()))
	} else {
		bad := amqpMalformed
		if one {
			i := m.r.rng.IntN(len(bad))
			bad = bad[i : i+1]
		}
		for _, b := range bad {
			id, headers := newUUID(m.r.rng), amqp.Table{}
			if b.task {
				headers = amqp.Table(sleepMessage(m.r.rng, 0.1).headers())
				headers["id"] = id
			}
			add(id, b.body, b.contentType, headers)
		}
	}
	res, err := m.aux.publish(ps)
	for _, s := range res {
		if err == nil && s != sendTaken {
			err = fmt.Errorf("%d message(s): not all confirmed", len(ps))
		}
	}
	return raw, ids, err
}

func (m *rabbitMode) poisonFaults() bool { return m.r.cfg.poolEngine() }

// watchPoison reads the quarantine queue every 200 ms (its messages taken
// without ack, then put back by closing the channel: nothing consumes it)
// until every message of p is there, and records when.
func (m *rabbitMode) watchPoison(ctx context.Context, p *poisonPush) {
	m.r.watchQuarantine(ctx, p, 200*time.Millisecond, func() (func(i int) bool, error) {
		msgs, err := m.peekAll(quarantineKey)
		return func(i int) bool { return copies(msgs, p.ids[i]) > 0 }, err
	})
}

// copies counts the messages (peekAll's lines) named id.
func copies(msgs []string, id string) int {
	n := 0
	for _, l := range msgs {
		if k, _, _ := strings.Cut(l, " "); k == id {
			n++
		}
	}
	return n
}

// bodyHash is the short hash of a body peekAll shows.
func bodyHash(body []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(body))[:19] }

// quarantineVerdicts: each poison message in chaos.quarantine exactly
// once, with the body published (lo, read at the end), within
// quarantineWatch, the worker main unchanged; and no worker crash.
func (m *rabbitMode) quarantineVerdicts(lo leftovers) []verdict {
	final := strings.Split(lo.where[quarantineKey], "\n")
	check := func(p *poisonPush, i int) (bool, string) {
		n, body := 0, bodyHash([]byte(p.raw[i]))
		for _, l := range final {
			if k, _, _ := strings.Cut(l, " "); k == p.ids[i] {
				n++
				if !strings.HasSuffix(l, " "+body) {
					return false, fmt.Sprintf("%s: quarantined with another body (%s)", p.ids[i], l)
				}
			}
		}
		if n != 1 {
			return false, fmt.Sprintf("%s (%q): %d copies in %s", p.ids[i], short(p.raw[i]), n, quarantineKey)
		}
		return true, ""
	}
	var vs []verdict
	for _, kind := range []faultKind{faultPoisonOnce, faultPoisonLoop} {
		if v, ok := m.r.quarantineVerdict(kind, "as published, each once", check); ok {
			vs = append(vs, v)
		}
	}
	return vs
}
