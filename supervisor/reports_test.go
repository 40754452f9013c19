package supervisor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/revrx/revrx-supervise/supervisor/events"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// newSettlingSupervisor is a supervisor whose queue is a Restorer, on p,
// driven by hand (tick) at a fixed instant.
func newSettlingSupervisor(t *testing.T, p *fakePool) *Supervisor {
	t.Helper()
	q := &flakyRestorer{fakeQueue: fakeQueue{backlogs: func([]string) (map[string]Backlog, error) {
		return map[string]Backlog{}, nil
	}}}
	sup, err := New(Config{Policy: policy.Config{Min: 0, Max: 2, TasksPerWorker: 1, Keepalive: time.Second},
		Queues: []string{"reports"}, Now: func() time.Time { return t0 }}, q, fakeEvents{}, p, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return sup
}

// TestExitTakenBeforeItsNodeIsForgotten: a worker that died running a task
// is gone from the very snapshot that carries its exit; the exit is taken
// before forgetReplaced drops the node's events, so its settling knows what
// it ran (the task a death counts against).
func TestExitTakenBeforeItsNodeIsForgotten(t *testing.T) {
	p := newFakePool()
	p.workers = []Worker{{Name: "worker1@h", Slot: 1, PID: 1001, State: WorkerRunning}}
	sup := newSettlingSupervisor(t, p)
	sup.tick(context.Background())
	for _, typ := range []string{events.WorkerOnline, events.TaskReceived, events.TaskStarted} {
		sup.handleEvent(events.Event{Type: typ, Hostname: "worker1@h", UUID: "t1", Name: "tasks.crash", Freq: 2})
	}

	// It crashes: its exit is reported before its slot changes.
	p.report(Reports{Exits: []Exit{{Name: "worker1@h", Forked: true, Status: "signal: killed", Died: true}},
		Restarts: []Restart{{Name: "worker1@h", Reason: "crashed"}}})
	p.mu.Lock()
	p.workers[0].PID, p.workers[0].State = 0, WorkerBackoff
	p.mu.Unlock()
	sup.tick(context.Background())

	jobs := sup.exits.take()
	if len(jobs) != 1 {
		t.Fatalf("%d exits queued for settling, want 1", len(jobs))
	}
	want := []events.TaskRef{{ID: "t1", Name: "tasks.crash"}}
	if got := jobs[0].running; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the exit's running tasks = %v, want %v", got, want)
	}
	if got := sup.tracker.Running("worker1@h"); len(got) != 0 {
		t.Errorf("tracker still runs %v on the gone node, want it forgotten", got)
	}
	if got := testutil.ToFloat64(sup.m.restarts.WithLabelValues("crashed")); got != 1 {
		t.Errorf("revrx_worker_restarts_total{reason=crashed} = %v, want 1", got)
	}
}

// TestReportsPileUpWithoutLoss: reports the loop has not taken yet (it was
// busy) are all there when it does: none is dropped, however many.
func TestReportsPileUpWithoutLoss(t *testing.T) {
	p := newFakePool()
	sup := newSettlingSupervisor(t, p)
	const n = 1000
	for i := range n {
		name := fmt.Sprintf("worker%d@h", i)
		p.report(Reports{Exits: []Exit{{Name: name, Died: true}}, Restarts: []Restart{{Name: name, Reason: "exited"}},
			Losses: []ProcessLoss{{Node: name}}, Quarantines: []Quarantine{{Node: name}}})
	}
	sup.tick(context.Background())
	if jobs := sup.exits.take(); len(jobs) != n {
		t.Errorf("%d exits queued for settling, want %d", len(jobs), n)
	}
	if got := testutil.ToFloat64(sup.m.restarts.WithLabelValues("exited")); got != n {
		t.Errorf("revrx_worker_restarts_total{reason=exited} = %v, want %d", got, n)
	}
	if got := testutil.ToFloat64(sup.m.processLosses); got != n {
		t.Errorf("revrx_pool_process_losses_total = %v, want %d", got, n)
	}
	if got := testutil.ToFloat64(sup.m.tasksQuarantined); got != n {
		t.Errorf("revrx_tasks_quarantined_total = %v, want %d", got, n)
	}
}
