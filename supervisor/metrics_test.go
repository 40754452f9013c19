package supervisor

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// undecodingEvents is fakeEvents that has skipped n undecodable messages.
type undecodingEvents struct {
	fakeEvents
	n atomic.Int64
}

func (e *undecodingEvents) UndecodedMessages() int64 { return e.n.Load() }

// TestUndecodedMessagesMetric: revrx_events_undecoded_total is what the
// Events count, read at each scrape; 0 for Events that count nothing.
func TestUndecodedMessagesMetric(t *testing.T) {
	q := &fakeQueue{backlogs: func([]string) (map[string]Backlog, error) { return map[string]Backlog{}, nil }}
	cfg := Config{Policy: policy.Config{Min: 0, Max: 1, TasksPerWorker: 1, Keepalive: time.Second}, Queues: []string{"reports"}}
	ev := &undecodingEvents{}
	reg := prometheus.NewRegistry()
	if _, err := New(cfg, q, ev, newFakePool(), reg); err != nil {
		t.Fatal(err)
	}
	const name = "revrx_events_undecoded_total"
	for _, n := range []int64{0, 3} {
		ev.n.Store(n)
		want := fmt.Sprintf("# HELP %s Task event messages that could not be decoded (not JSON, another serializer) and were skipped.\n# TYPE %s counter\n%s %d\n", name, name, name, n)
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), name); err != nil {
			t.Errorf("with %d undecoded: %v", n, err)
		}
	}
	plain := prometheus.NewRegistry()
	if _, err := New(cfg, q, fakeEvents{}, newFakePool(), plain); err != nil {
		t.Fatal(err)
	}
	if got, err := testutil.GatherAndCount(plain, name); err != nil || got != 1 {
		t.Errorf("%s series without a counter = %d, %v; want 1 (at 0)", name, got, err)
	}
}
