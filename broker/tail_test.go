package broker

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// taskEnvelope returns a kombu task envelope (docs/celery-on-redis.md, "Task messages")
// with the given
// delivery tag (omitted if "") and extra headers, and a body of bodySize
// base64 bytes.
func taskEnvelope(tag string, headers map[string]any, bodySize int) string {
	h := map[string]any{"lang": "py", "task": "tasks.sleep", "id": "task-" + tag, "eta": nil, "retries": 0}
	for k, v := range headers {
		h[k] = v
	}
	props := map[string]any{"delivery_mode": 2, "priority": 0, "body_encoding": "base64",
		"delivery_info": map[string]any{"exchange": "", "routing_key": "reports"}}
	if tag != "" {
		props["delivery_tag"] = tag
	}
	body := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", bodySize*3/4)))
	b, err := json.Marshal(map[string]any{"body": body, "content-encoding": "utf-8",
		"content-type": "application/json", "headers": h, "properties": props})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestDecodeTail(t *testing.T) {
	pub := time.Unix(1795755173, 880000000)
	eta := time.Date(2026, 11, 27, 5, 20, 0, 123456000, time.UTC)
	tests := []struct {
		name string
		raw  string
		want tailMessage
	}{
		{"stamped", taskEnvelope("t1", map[string]any{"published_at": 1795755173.88}, 100),
			tailMessage{id: "tag:t1", publishedAt: pub}},
		{"published_at as string", taskEnvelope("t1", map[string]any{"published_at": "1795755173.88"}, 10),
			tailMessage{id: "tag:t1", publishedAt: pub}},
		{"no stamp", taskEnvelope("t2", nil, 10), tailMessage{id: "tag:t2"}},
		{"eta with offset", taskEnvelope("t3", map[string]any{"eta": "2026-11-27T06:20:00.123456+01:00"}, 10),
			tailMessage{id: "tag:t3", eta: eta}},
		{"eta naive is UTC", taskEnvelope("t3", map[string]any{"eta": "2026-11-27T05:20:00.123456"}, 10),
			tailMessage{id: "tag:t3", eta: eta}},
		{"eta unparsable", taskEnvelope("t3", map[string]any{"eta": "tomorrow"}, 10), tailMessage{id: "tag:t3"}},
		{"bad published_at", taskEnvelope("t4", map[string]any{"published_at": -1}, 10), tailMessage{id: "tag:t4"}},
		{"odd published_at", taskEnvelope("t4", map[string]any{"published_at": []int{1}}, 10), tailMessage{id: "tag:t4"}},
		{"no delivery tag", taskEnvelope("", nil, 10), tailMessage{id: "task:task-"}},
		{"numeric tag", `{"properties":{"delivery_tag":7}}`, tailMessage{id: "tag:7"}},
		{"escaped body", `{"body": "\"}{", "headers": {"published_at": 1795755173.88}, "properties": {"delivery_tag": "t5"}}`,
			tailMessage{id: "tag:t5", publishedAt: pub}},
		{"body last", `{"headers": {"published_at": 1795755173.88}, "properties": {"delivery_tag": "t6"}, "body": "QUJD"}`,
			tailMessage{id: "tag:t6", publishedAt: pub}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeTail("reports", tt.raw)
			if got.id != tt.want.id || !got.publishedAt.Equal(tt.want.publishedAt) || !got.eta.Equal(tt.want.eta) {
				t.Errorf("decodeTail() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWithoutBody(t *testing.T) {
	tests := []struct{ raw, want string }{
		{`{"body": "QUJD", "headers": {"id": "x"}}`, `{"body":"", "headers": {"id": "x"}}`},
		{`{"body":"QUJD","headers":{}}`, `{"body":"","headers":{}}`},
		{" {\n\t\"body\" :\t\"QUJD\"}", `{"body":""}`},
		// Anything else is left to the full decoder.
		{`{"body": "a\"b", "headers": {}}`, `{"body": "a\"b", "headers": {}}`},
		{`{"headers": {}, "body": "QUJD"}`, `{"headers": {}, "body": "QUJD"}`},
		{`{"body": {"a": 1}}`, `{"body": {"a": 1}}`},
		{`{"body": "unterminated`, `{"body": "unterminated`},
		{`[]`, `[]`},
	}
	for _, tt := range tests {
		if got := string(withoutBody(tt.raw)); got != tt.want {
			t.Errorf("withoutBody(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestDecodeTailGarbage(t *testing.T) {
	a := decodeTail("reports", "not json")
	if !strings.HasPrefix(a.id, "raw:") || !a.publishedAt.IsZero() || !a.eta.IsZero() {
		t.Fatalf("decodeTail(garbage) = %+v, want a raw id and zero times", a)
	}
	if b := decodeTail("reports", "not json"); b.id != a.id {
		t.Errorf("same bytes: id %q then %q, want stable", a.id, b.id)
	}
	if c := decodeTail("other", "not json"); c.id == a.id {
		t.Errorf("same bytes in another list: same id %q, want different", c.id)
	}
	if d := decodeTail("reports", "not json either"); d.id == a.id {
		t.Errorf("different bytes: same id %q", d.id)
	}
}

func TestFirstSeen(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFirstSeen()
	if got := f.observe("a", t0); !got.Equal(t0) {
		t.Fatalf("observe(new) = %v, want %v", got, t0)
	}
	if got := f.observe("a", t0.Add(time.Minute)); !got.Equal(t0) {
		t.Fatalf("observe(again) = %v, want first sighting %v", got, t0)
	}
	f.observe("b", t0.Add(time.Minute))

	// "a" and "b" were last seen at t0+1m: still fresh at t0+TTL.
	f.observe("c", t0.Add(firstSeenTTL))
	f.sweep(t0.Add(firstSeenTTL))
	if f.len() != 3 {
		t.Fatalf("after sweep within TTL: %d entries, want 3", f.len())
	}
	// Sweeps scan the map at most every TTL/4.
	late := t0.Add(time.Minute + firstSeenTTL + firstSeenTTL/4)
	f.sweep(late)
	if f.len() != 1 {
		t.Fatalf("after sweep past TTL: %d entries, want 1 (c)", f.len())
	}
	if got := f.observe("a", late); !got.Equal(late) {
		t.Errorf("evicted a came back with first sighting %v, want %v", got, late)
	}
}

func TestFirstSeenCap(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFirstSeen()
	for i := range firstSeenCap + 5 {
		f.observe(string(rune('a'+i%26))+time.Duration(i).String(), t0.Add(time.Duration(i)*time.Millisecond))
	}
	now := t0.Add(20 * time.Second)   // all within the TTL
	keep := f.observe("current", now) // the most recent tail
	f.sweep(now)
	if f.len() != firstSeenCap {
		t.Fatalf("len() = %d, want the cap %d", f.len(), firstSeenCap)
	}
	if got := f.observe("current", now.Add(time.Second)); !got.Equal(keep) {
		t.Errorf("the most recently seen entry was evicted")
	}
}
