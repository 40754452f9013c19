package broker

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// envelopeFor builds a kombu event envelope as Celery 5.2 publishes it.
func envelopeFor(tb testing.TB, routingKey string, body any) []byte {
	tb.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	env := map[string]any{
		"body":             base64.StdEncoding.EncodeToString(b),
		"content-encoding": "utf-8",
		"content-type":     "application/json",
		"headers":          map[string]any{"hostname": "w2@vm"},
		"properties": map[string]any{
			"delivery_mode": 1,
			"delivery_info": map[string]any{"exchange": "celeryev", "routing_key": routingKey},
			"priority":      0, "body_encoding": "base64", "delivery_tag": "7b1f0c1e-3c5d-4c1b-9b55-7f0f0f1f2a3b",
		},
	}
	out, err := json.Marshal(env)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func receivedEvent(i int) map[string]any {
	return map[string]any{
		"hostname": "w2@vm", "utcoffset": 0, "pid": 4242, "clock": 17 + i, "timestamp": 1795755173.88 + float64(i),
		"type": "task-received", "uuid": fmt.Sprintf("9d6f5a64-7a0e-4c8e-bb1b-%012d", i), "name": "tasks.report",
		"args": "(2, 3)", "kwargs": "{'user': 'alice', 'format': 'pdf'}", "root_id": "9d6f5a64", "parent_id": nil,
		"retries": 0, "eta": nil, "expires": nil,
	}
}

func TestDecodeMessage(t *testing.T) {
	heartbeat := map[string]any{
		"hostname": "w1@vm", "utcoffset": 0, "pid": 101, "clock": 5, "timestamp": 1700000000.5,
		"type": "worker-heartbeat", "freq": 2.0, "active": 3, "processed": 10,
		"loadavg": []float64{0.1, 0.2, 0.3}, "sw_ident": "py-celery", "sw_ver": "5.2.6", "sw_sys": "Linux",
	}
	multi := []any{
		map[string]any{"hostname": "w1@vm", "pid": 101, "timestamp": 1.5, "type": "task-started", "uuid": "u1"},
		map[string]any{"hostname": "w1@vm", "pid": 101, "timestamp": 2.5, "type": "task-succeeded", "uuid": "u1", "result": "5", "runtime": 0.51},
		map[string]any{"hostname": "w1@vm", "pid": 101, "timestamp": 3, "type": "task-received", "uuid": "u2", "name": "t.x", "eta": "2026-03-01T12:00:00+00:00"},
		map[string]any{"hostname": "w1@vm", "no": "type"},
	}
	tests := []struct {
		name    string
		payload []byte
		want    []Event
		wantErr bool
	}{
		{"heartbeat object", envelopeFor(t, "worker.heartbeat", heartbeat),
			[]Event{{Type: "worker-heartbeat", Hostname: "w1@vm", Timestamp: 1700000000.5, PID: 101, Active: 3, Freq: 2}}, false},
		{"task.multi array", envelopeFor(t, "task.multi", multi), []Event{
			{Type: "task-started", Hostname: "w1@vm", UUID: "u1", Timestamp: 1.5, PID: 101},
			{Type: "task-succeeded", Hostname: "w1@vm", UUID: "u1", Timestamp: 2.5, PID: 101, Runtime: 0.51},
			{Type: "task-received", Hostname: "w1@vm", UUID: "u2", Timestamp: 3, PID: 101, Name: "t.x", ETA: "2026-03-01T12:00:00+00:00"},
		}, false},
		{"mistyped field is zero", envelopeFor(t, "task.multi", []any{map[string]any{"type": "task-received", "hostname": "h", "eta": 12, "uuid": "u"}}),
			[]Event{{Type: "task-received", Hostname: "h", UUID: "u"}}, false},
		{"plain string body", []byte(`{"body":"{\"type\":\"worker-online\",\"hostname\":\"h\"}","content-type":"application/json","properties":{}}`),
			[]Event{{Type: "worker-online", Hostname: "h"}}, false},
		{"not json", []byte("nope"), nil, true},
		{"bad base64", []byte(`{"body":"!!!","properties":{"body_encoding":"base64"}}`), nil, true},
		{"pickle", []byte(`{"body":"gAR9","content-type":"application/x-python-serialize","properties":{"body_encoding":"base64"}}`), nil, true},
		{"body scalar", []byte(`{"body":"MTI=","properties":{"body_encoding":"base64"}}`), nil, true},
		{"empty body", []byte(`{"body":"","properties":{"body_encoding":"base64"}}`), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeMessage(tt.payload)
			if (err != nil) != tt.wantErr {
				t.Fatalf("DecodeMessage() error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrUndecodable) {
					t.Errorf("error %v does not wrap ErrUndecodable", err)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DecodeMessage() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// realisticMulti is a task.multi batch of n received events.
func realisticMulti(tb testing.TB, n int) []byte {
	batch := make([]any, n)
	for i := range batch {
		batch[i] = receivedEvent(i)
	}
	return envelopeFor(tb, "task.multi", batch)
}

func BenchmarkDecodeMessage(b *testing.B) {
	for _, n := range []int{1, 2, 24} {
		payload := realisticMulti(b, n)
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				evs, err := DecodeMessage(payload)
				if err != nil || len(evs) != n {
					b.Fatalf("DecodeMessage() = %d events, %v", len(evs), err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(realisticMulti(f, 2))
	f.Add(envelopeFor(f, "worker.heartbeat", map[string]any{"type": "worker-heartbeat", "hostname": "h", "active": 1}))
	f.Add([]byte(`{"body":"W3t9XQ==","properties":{"body_encoding":"base64"}}`))
	f.Add([]byte(`{"body":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		evs, err := DecodeMessage(payload)
		if err != nil && evs != nil {
			t.Fatalf("DecodeMessage() returned events with error %v", err)
		}
	})
}
