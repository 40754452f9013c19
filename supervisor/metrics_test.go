package supervisor

import (
	"fmt"
	"maps"
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

// families gathers reg: family name -> type.
func families(t *testing.T, reg *prometheus.Registry) map[string]string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather() = %v", err)
	}
	out := map[string]string{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetType().String()
	}
	return out
}

// TestRegisterSampleMetrics wants the sample registry to hold exactly the
// families of a running supervisor with a worker, and a queue group's, with
// the same types.
func TestRegisterSampleMetrics(t *testing.T) {
	h := newHarness(t, policy.Config{Min: 1, Max: 3, TasksPerWorker: 1, Keepalive: time.Minute})
	h.tick(0)
	h.onlineAll()
	h.tick(resourceInterval) // the workers' memory is sampled with them up
	want := families(t, h.reg)
	group := prometheus.NewRegistry()
	if _, err := newBudgetMetrics(group); err != nil {
		t.Fatal(err)
	}
	maps.Copy(want, families(t, group))
	sample := prometheus.NewRegistry()
	if err := RegisterSampleMetrics(sample); err != nil {
		t.Fatalf("RegisterSampleMetrics() = %v", err)
	}
	if got := families(t, sample); !maps.Equal(got, want) {
		t.Errorf("RegisterSampleMetrics() families = %v, want %v (New's, one worker)", got, want)
	}
	for _, name := range []string{"revrx_worker_up", "revrx_worker_memory_bytes", "revrx_host_cpu_ratio"} {
		if want[name] == "" {
			t.Errorf("New's families %v: want %s (one worker, sampled)", want, name)
		}
	}
}
