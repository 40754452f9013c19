package broker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// unackedValue is what kombu writes to unacked for a message of priority
// pri published to exchange with routing key route.
func unackedValue(t *testing.T, id, tag, exchange, route string, pri int) string {
	t.Helper()
	msg := map[string]any{
		"body": "W1tdLHt9LHt9XQ==", "content-encoding": "utf-8", "content-type": "application/json",
		"headers": map[string]any{"id": id, "task": "tasks.sleep", "argsrepr": "'<b>'"},
		"properties": map[string]any{"delivery_tag": tag, "priority": pri, "body_encoding": "base64",
			"delivery_info": map[string]any{"exchange": exchange, "routing_key": route}},
	}
	b, err := json.Marshal([]any{msg, exchange, route})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSettleRestoresAsKombu: a dead worker's message goes back to the
// front (the tail BRPOP takes next) of its priority sub-list, found through
// the exchange's binding set, under the key prefix, with both redelivered
// flags set and every other field kept; it leaves unacked, its index and
// the held set. A second Settle of the same tag finds nothing: never
// restored twice.
func TestSettleRestoresAsKombu(t *testing.T) {
	srv := harness.StartTestRedis(t)
	r, err := New(Config{URL: srv.URL(0), KeyPrefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	srv.Do(t, "SADD", "p:_kombu.binding.reports", "reports"+DefaultSeparator+DefaultSeparator+"reports")
	srv.Do(t, "RPUSH", "p:reports"+DefaultSeparator+"3", "older")
	srv.Do(t, "HSET", "p:unacked", "t1", unackedValue(t, "id1", "t1", "reports", "reports", 5))
	srv.Do(t, "ZADD", "p:unacked_index", "1", "t1")
	srv.Do(t, "HSET", "p:revrx.held.w1@h", "t1", "")

	s, err := r.Settle(ctx, "w1@h", "t1", "", always, []string{"reports"})
	if err != nil {
		t.Fatal(err)
	}
	want := Settled{Tag: "t1", ID: "id1", Task: "tasks.sleep", Queue: "reports" + DefaultSeparator + "3", Outcome: Restored, Deaths: 1}
	if s != want {
		t.Fatalf("Settle = %+v, want %+v", s, want)
	}
	front := srv.Do(t, "LINDEX", "p:reports"+DefaultSeparator+"3", "-1")
	var got struct {
		Headers    map[string]any `json:"headers"`
		Properties struct {
			DeliveryInfo map[string]any `json:"delivery_info"`
			Tag          string         `json:"delivery_tag"`
		} `json:"properties"`
		Body string `json:"body"`
	}
	if err := json.Unmarshal([]byte(front), &got); err != nil {
		t.Fatalf("restored message %q: %v", front, err)
	}
	if got.Headers["redelivered"] != true || got.Properties.DeliveryInfo["redelivered"] != true ||
		got.Headers["argsrepr"] != "'<b>'" || got.Properties.Tag != "t1" || got.Body != "W1tdLHt9LHt9XQ==" {
		t.Fatalf("restored message %s: want both redelivered flags and every field kept", front)
	}
	for _, k := range []string{"p:unacked", "p:unacked_index", "p:revrx.held.w1@h"} {
		if n := srv.Do(t, "EXISTS", k); n != "0" {
			t.Errorf("%s still exists after the restore", k)
		}
	}
	if s, err := r.Settle(ctx, "w1@h", "t1", "", nil, []string{"reports"}); err != nil || s.Outcome != Gone {
		t.Fatalf("second Settle = %+v, %v; want Gone (never restored twice)", s, err)
	}
	if n := srv.Do(t, "LLEN", "p:reports"+DefaultSeparator+"3"); n != "2" {
		t.Fatalf("priority sub-list holds %s messages, want 2", n)
	}
}

// TestSettleQuarantinesAtTheSecondDeath: the death count follows the
// delivery tag; at the second death the message goes to QUEUE.quarantine,
// from unacked or from the queue's tail if the dying worker put it back
// itself, and the count is reset.
func TestSettleQuarantinesAtTheSecondDeath(t *testing.T) {
	srv := harness.StartTestRedis(t)
	r, err := New(Config{URL: srv.URL(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	put := func(tag string) {
		srv.Do(t, "HSET", "unacked", tag, unackedValue(t, "id-"+tag, tag, "", "q", 0))
		srv.Do(t, "ZADD", "unacked_index", "1", tag)
	}
	put("a")
	if s, _ := r.Settle(ctx, "w1@h", "a", "", always, []string{"q"}); s.Outcome != Restored || s.Deaths != 1 {
		t.Fatalf("first death: %+v, want restored with 1 death", s)
	}
	srv.Do(t, "RPOP", "q") // taken again...
	put("a")               // ...and held at the next death
	if s, _ := r.Settle(ctx, "w2@h", "a", "", always, []string{"q"}); s.Outcome != Quarantined || s.Queue != "q.quarantine" {
		t.Fatalf("second death: %+v, want quarantined to q.quarantine", s)
	}
	if n := srv.Do(t, "LLEN", "q.quarantine"); n != "1" {
		t.Fatalf("q.quarantine holds %s, want 1", n)
	}
	if n := srv.Do(t, "EXISTS", "revrx.deaths.a"); n != "0" {
		t.Fatal("the death count survived the quarantine")
	}

	// A dying worker that put the message back itself: found at the tail.
	msg := unackedValue(t, "id-b", "b", "", "q", 0)
	var parts []json.RawMessage
	_ = json.Unmarshal([]byte(msg), &parts)
	srv.Do(t, "SET", "revrx.deaths.b", "1")
	srv.Do(t, "LPUSH", "q", "other")
	srv.Do(t, "RPUSH", "q", string(parts[0]))
	if s, _ := r.Settle(ctx, "w3@h", "b", "", always, []string{"q"}); s.Outcome != Quarantined || s.ID != "id-b" {
		t.Fatalf("second death, requeued by the worker: %+v, want quarantined", s)
	}
	if n := srv.Do(t, "LLEN", "q"); n != "1" {
		t.Fatalf("q holds %s, want only the other message", n)
	}
	// A clean stop counts nothing.
	if s, _ := r.Settle(ctx, "w4@h", "c", "", nil, []string{"q"}); s.Outcome != Gone || s.Deaths != 0 {
		t.Fatalf("clean stop: %+v, want Gone with no death", s)
	}
}

// TestSettleLeavesAnotherWorkersTake: the dying worker had the message
// (take k1), kombu put it back, and a live worker took it again under the
// same delivery tag (take k2): Settle must not move it (that would copy a
// live worker's message); it only counts the death.
func TestSettleLeavesAnotherWorkersTake(t *testing.T) {
	srv := harness.StartTestRedis(t)
	r, err := New(Config{URL: srv.URL(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v := strings.Replace(unackedValue(t, "id-a", "a", "", "q", 0), `"delivery_tag":"a"`, `"delivery_tag":"a","x_revrx_take":"k2"`, 1)
	if !strings.Contains(v, TakeField) {
		t.Fatalf("no take id in %s", v)
	}
	srv.Do(t, "HSET", "unacked", "a", v)
	s, err := r.Settle(context.Background(), "w1@h", "a", "k1", always, []string{"q"})
	if err != nil || s.Outcome != Retaken || s.Deaths != 1 {
		t.Fatalf("Settle = %+v, %v; want Retaken with 1 death", s, err)
	}
	if n := srv.Do(t, "HLEN", "unacked"); n != "1" {
		t.Fatalf("unacked holds %s, want the live worker's entry left alone", n)
	}
	if n := srv.Do(t, "LLEN", "q"); n != "0" {
		t.Fatalf("q holds %s: a live worker's message was copied back", n)
	}
}

// always counts a death against every message (a worker that died running it).
func always(string) bool { return true }
