package supervisor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/revrx/revrx-supervise/supervisor/events"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// flakyRestorer is a queue whose broker fails the first fails HeldBy calls
// (Redis down), then holds two messages for every worker.
type flakyRestorer struct {
	fakeQueue
	alive   bool // every worker answers a ping
	fails   int32
	calls   atomic.Int32
	mu      sync.Mutex
	settled []string
}

func (r *flakyRestorer) HeldBy(context.Context, string) (map[string]string, error) {
	if r.calls.Add(1) <= r.fails {
		return nil, errors.New("dial tcp: connection refused")
	}
	return map[string]string{"t1": "k1", "t2": "k2"}, nil
}

func (r *flakyRestorer) WorkerAlive(context.Context, string) (bool, error)         { return r.alive, nil }
func (r *flakyRestorer) TagsOf(context.Context, map[string]bool) ([]string, error) { return nil, nil }
func (r *flakyRestorer) ForgetHeld(context.Context, string) error                  { return nil }

func (r *flakyRestorer) Settle(_ context.Context, _, tag, _ string, _ func(string) bool, _ []string) (Settled, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settled = append(r.settled, tag)
	return Settled{Tag: tag, ID: "id-" + tag, Task: "tasks.sleep", Outcome: SettleRestored}, nil
}

// TestSettlingRetriesWhileTheBrokerIsDown: a worker's exit while Redis is
// down is settled once it is back, retried once a second (not in a busy
// loop), and counted once.
func TestSettlingRetriesWhileTheBrokerIsDown(t *testing.T) {
	q := &flakyRestorer{fails: 2, fakeQueue: fakeQueue{backlogs: func([]string) (map[string]Backlog, error) {
		return map[string]Backlog{}, nil
	}}}
	reg, p := prometheus.NewRegistry(), newFakePool()
	sup, err := New(Config{Policy: policy.Config{Min: 0, Max: 1, TasksPerWorker: 1, Keepalive: time.Second},
		Queues: []string{"reports"}}, q, fakeEvents{}, p, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sup.Run(ctx) }()
	defer func() { cancel(); <-done }()
	start := time.Now()
	p.report(Reports{Exits: []Exit{{Name: "worker1@h", Forked: true, Status: "signal: killed", Died: true}}})
	for testutil.ToFloat64(sup.m.tasksRestored) < 2 {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("not settled 5 s after the broker came back (HeldBy called %d times)", q.calls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := q.calls.Load(); n != 3 {
		t.Errorf("HeldBy called %d times, want 3 (two failures, one retry a second, then success)", n)
	}
	if el := time.Since(start); el < 1500*time.Millisecond {
		t.Errorf("settled %s after the exit: the retries did not wait", el)
	}
}

// TestPreviousWorkersSettledUnlessAlive: before its first start the
// supervisor puts back what an earlier run's workers (same names) held,
// but never what a live worker answering to one of those names holds.
func TestPreviousWorkersSettledUnlessAlive(t *testing.T) {
	for _, alive := range []bool{false, true} {
		q := &flakyRestorer{alive: alive, fakeQueue: fakeQueue{backlogs: func([]string) (map[string]Backlog, error) {
			return map[string]Backlog{}, nil
		}}}
		sup, err := New(Config{Policy: policy.Config{Min: 0, Max: 2, TasksPerWorker: 1, Keepalive: time.Second},
			Queues: []string{"reports"}, PreviousWorkers: []string{"worker1@h", "worker2@h"}},
			q, fakeEvents{}, newFakePool(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		sup.settlePrevious(context.Background())
		want := 4.0 // two tags held under each name
		if alive {
			want = 0
		}
		if got := testutil.ToFloat64(sup.m.tasksRestored); got != want {
			t.Errorf("alive=%v: %v messages put back, want %v", alive, got, want)
		}
	}
}

// TestDeathCountsOnlyRunningTasks: a pool-engine main's death counts against
// the messages it was running, never against one merely reserved beside them
// (a good task prefetched next to a poison); a whole worker, which has no
// in-worker quarantine, still counts everything it held; a stop counts nothing.
func TestDeathCountsOnlyRunningTasks(t *testing.T) {
	running := []events.TaskRef{{ID: "run", Name: "tasks.sleep"}}
	cases := []struct {
		name  string
		exit  Exit
		ids   map[string]bool // id -> counted
		isNil bool
	}{
		{"pool engine's main died", Exit{Forked: true, Died: true, PoolMain: true}, map[string]bool{"run": true, "reserved": false, "": false}, false},
		{"whole worker died", Exit{Forked: true, Died: true}, map[string]bool{"run": true, "reserved": true, "": true}, false},
		{"stopped", Exit{Forked: true, Died: false}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			died := (&exitJob{exit: c.exit, running: running}).diedRunning()
			if (died == nil) != c.isNil {
				t.Fatalf("diedRunning() nil = %v, want %v", died == nil, c.isNil)
			}
			for id, want := range c.ids {
				if got := died(id); got != want {
					t.Errorf("died(%q) = %v, want %v", id, got, want)
				}
			}
		})
	}
}
