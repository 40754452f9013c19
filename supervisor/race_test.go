package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestStatusWhileRunning reads what /status, /readyz and the status page
// read (Snapshot as JSON, Ready, Timeline) over and over while Run ticks,
// samples resources at every tick (its clock jumps past the sampling
// interval each time) and rewrites its host usage. Under -race this fails
// if a snapshot shares any state with the loop (it once held a pointer to
// the loop's host usage).
func TestStatusWhileRunning(t *testing.T) {
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Add(int64(2*resourceInterval))) }
	var cpu atomic.Int64
	res := &changingResources{cpu: &cpu}
	q := &fakeQueue{backlogs: func([]string) (map[string]Backlog, error) {
		return map[string]Backlog{"reports": {Depth: cpu.Load() % 3}}, nil
	}}
	sup, err := New(Config{Policy: policy.Config{Min: 1, Max: 3, TasksPerWorker: 1, Keepalive: time.Second},
		Queues: []string{"reports"}, PollInterval: time.Millisecond, Now: now, Resources: res},
		q, fakeEvents{}, newFakePool(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = sup.Run(ctx) })
	deadline := time.Now().Add(300 * time.Millisecond)
	reads := 0
	for time.Now().Before(deadline) {
		st := sup.Snapshot()
		if _, err := json.Marshal(st); err != nil {
			t.Fatal(err)
		}
		_ = sup.Ready()
		samples, decisions := sup.Timeline(st.Time)
		_ = fmt.Sprint(samples, decisions)
		reads++
	}
	cancel()
	wg.Wait()
	if res.calls.Load() < 10 || reads < 10 {
		t.Fatalf("%d resource samples, %d reads: the test raced nothing", res.calls.Load(), reads)
	}
}

// changingResources reports a different host usage at every call.
type changingResources struct {
	cpu   *atomic.Int64
	calls atomic.Int64
}

func (r *changingResources) Host() (HostUsage, error) {
	r.calls.Add(1)
	n := r.cpu.Add(1)
	return HostUsage{CPU: float64(n%100) / 100, Memory: 0.5}, nil
}

func (r *changingResources) TreesRSS(pids []int) (map[int]uint64, error) {
	out := make(map[int]uint64, len(pids))
	for _, p := range pids {
		out[p] = 1 << 20
	}
	return out, nil
}
