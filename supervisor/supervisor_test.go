package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/revrx/revrx-supervise/supervisor/events"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// fakeQueue answers Backlogs from a func field.
type fakeQueue struct {
	backlogs func(queues []string) (map[string]Backlog, error)
}

func (q *fakeQueue) Backlogs(_ context.Context, queues []string, _ time.Time) (map[string]Backlog, error) {
	return q.backlogs(queues)
}

// fakeResources reports fixed host usage and worker memory.
type fakeResources struct {
	host HostUsage
	rss  uint64
}

func (r *fakeResources) Host() (HostUsage, error) { return r.host, nil }
func (r *fakeResources) TreesRSS(pids []int) (map[int]uint64, error) {
	out := map[int]uint64{}
	for _, p := range pids {
		out[p] = r.rss
	}
	return out, nil
}

// fakeEvents blocks until ctx is done; tests feed events with handleEvent.
type fakeEvents struct{}

func (fakeEvents) SubscribeEvents(ctx context.Context, _ func(events.Event), onState func(bool)) error {
	onState(true)
	<-ctx.Done()
	return nil
}

// The fake pool's errors.
var (
	errUnknownWorker = errors.New("unknown worker")
	errNotDraining   = errors.New("worker is not draining")
)

// fakePool keeps workers in memory; Stop marks them stopping. Its reports
// are what the test passes to report.
type fakePool struct {
	mu       sync.Mutex
	workers  []Worker
	pid      int
	changed  chan struct{}
	reports  Reports
	reported chan struct{}
}

func newFakePool() *fakePool {
	return &fakePool{changed: make(chan struct{}), reported: make(chan struct{}, 1)}
}

// report adds r to the waiting reports and wakes the loop.
func (p *fakePool) report(r Reports) {
	p.mu.Lock()
	p.reports.Exits = append(p.reports.Exits, r.Exits...)
	p.reports.Restarts = append(p.reports.Restarts, r.Restarts...)
	p.reports.Losses = append(p.reports.Losses, r.Losses...)
	p.reports.Quarantines = append(p.reports.Quarantines, r.Quarantines...)
	p.mu.Unlock()
	select {
	case p.reported <- struct{}{}:
	default:
	}
}

func (p *fakePool) Reported() <-chan struct{} { return p.reported }

func (p *fakePool) TakeReports() Reports {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.reports
	p.reports = Reports{}
	return r
}

func (p *fakePool) Add() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	used := map[int]bool{}
	for _, w := range p.workers {
		used[w.Slot] = true
	}
	slot := 1
	for used[slot] {
		slot++
	}
	p.pid++
	p.workers = append(p.workers, Worker{Name: workerName(slot), Slot: slot, PID: 1000 + p.pid, State: WorkerRunning})
	return nil
}

func (p *fakePool) Stop(name string) error   { return p.set(name, WorkerDraining) }
func (p *fakePool) Retire(name string) error { return p.set(name, WorkerStopping) }

// set moves the named worker to state st.
func (p *fakePool) set(name string, st WorkerState) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.workers {
		if p.workers[i].Name == name {
			p.workers[i].State = st
			return nil
		}
	}
	return errUnknownWorker
}

func (p *fakePool) Reclaim(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.workers {
		if p.workers[i].Name == name && p.workers[i].State == WorkerDraining {
			p.workers[i].State = WorkerRunning
			return nil
		}
	}
	return errNotDraining
}

func (p *fakePool) Workers() []Worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Worker(nil), p.workers...)
}

func (p *fakePool) Changed() <-chan struct{} { return p.changed }

// exitStopped removes the workers that were told to stop, as if they exited.
func (p *fakePool) exitStopped() {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.workers[:0]
	for _, w := range p.workers {
		if w.State != WorkerStopping && w.State != WorkerDraining {
			kept = append(kept, w)
		}
	}
	p.workers = kept
}

// t0 is the instant the harness clock starts at.
var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func workerName(slot int) string { return "worker" + string(rune('0'+slot)) + "@h" }

// harness is a supervisor on fakes with a hand-moved clock.
type harness struct {
	t      *testing.T
	now    time.Time
	sup    *Supervisor
	pool   *fakePool
	reg    *prometheus.Registry
	depth  int64
	oldest time.Duration
	err    error
	res    *fakeResources
}

func newHarness(t *testing.T, p policy.Config) *harness { return newHarnessWith(t, p, nil) }

// newHarnessWith is newHarness with the Config changed by edit first.
func newHarnessWith(t *testing.T, p policy.Config, edit func(*Config)) *harness {
	h := &harness{t: t, now: t0, pool: newFakePool(), reg: prometheus.NewRegistry(),
		res: &fakeResources{host: HostUsage{CPU: 0.2, Memory: 0.3}, rss: 50 << 20}}
	q := &fakeQueue{backlogs: func([]string) (map[string]Backlog, error) {
		if h.err != nil {
			return nil, h.err
		}
		return map[string]Backlog{"reports": {Depth: h.depth, OldestAge: h.oldest, AgeExact: true}}, nil
	}}
	cfg := Config{Policy: p, Queues: []string{"reports"}, Now: func() time.Time { return h.now }, Resources: h.res}
	if edit != nil {
		edit(&cfg)
	}
	sup, err := New(cfg, q, fakeEvents{}, h.pool, h.reg)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	h.sup = sup
	return h
}

func (h *harness) tick(advance time.Duration) {
	h.now = h.now.Add(advance)
	h.sup.tick(context.Background())
}

// event feeds one Celery event from a worker at the current instant.
func (h *harness) event(typ, worker, uuid string) {
	h.sup.handleEvent(events.Event{Type: typ, Hostname: worker, UUID: uuid, Freq: 2})
}

func (h *harness) onlineAll() {
	for _, w := range h.pool.Workers() {
		h.event("worker-online", w.Name, "")
	}
}

func (h *harness) metric(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

func (h *harness) running() int {
	n := 0
	for _, w := range h.pool.Workers() {
		if w.State == WorkerRunning {
			n++
		}
	}
	return n
}

func TestSupervisorScalesUpAndIdleDown(t *testing.T) {
	h := newHarness(t, policy.Config{Min: 2, Max: 5, TasksPerWorker: 1, Keepalive: 30 * time.Second})
	h.tick(0)
	if got := h.running(); got != 2 {
		t.Fatalf("after the first tick %d workers, want MIN 2", got)
	}
	h.onlineAll()

	h.depth = 10
	h.tick(time.Second)
	if got := h.running(); got != 5 {
		t.Fatalf("with 10 waiting: %d workers, want MAX 5", got)
	}
	if got := h.metric(h.sup.m.unmet); got != 5 {
		t.Errorf("revrx_unmet_demand_workers = %v, want 5", got)
	}
	h.onlineAll()
	// Workers 1 and 2 take long tasks; the backlog drains.
	h.event("task-received", workerName(1), "a")
	h.event("task-started", workerName(1), "a")
	h.event("task-received", workerName(2), "b")
	h.event("task-started", workerName(2), "b")
	h.depth = 0
	h.tick(10 * time.Second)
	if got := len(h.pool.Workers()); got != 5 {
		t.Fatalf("before the keepalive: %d workers, want 5 (none idle long enough)", got)
	}
	h.tick(25 * time.Second)
	// Demand 2 (running) -> desired 2, but both running workers are busy:
	// only the three idle ones go.
	var stopped []string
	for _, w := range h.pool.Workers() {
		if w.State == WorkerDraining {
			stopped = append(stopped, w.Name)
		}
	}
	want := []string{workerName(3), workerName(4), workerName(5)}
	if strings.Join(stopped, ",") != strings.Join(want, ",") {
		t.Fatalf("stopped %v, want the idle %v", stopped, want)
	}
	if got := h.metric(h.sup.m.scalingEvents.WithLabelValues("down", "idle")); got != 3 {
		t.Errorf("scaling_events_total{down,idle} = %v, want 3", got)
	}
	h.pool.exitStopped()
	h.event("task-succeeded", workerName(1), "a")
	h.tick(time.Second)
	if got := h.metric(h.sup.m.tasksCompleted.WithLabelValues("succeeded")); got != 1 {
		t.Errorf("tasks_completed_total{succeeded} = %v, want 1", got)
	}
	if got := len(h.pool.Workers()); got != 2 {
		t.Errorf("after the tasks: %d workers, want MIN 2", got)
	}
}

// TestBurstDuringScaleDownTakesBackDraining: a burst while idle workers
// drain takes them back instead of starting processes beside them, so the
// pool never holds more than MAX.
func TestBurstDuringScaleDownTakesBackDraining(t *testing.T) {
	h := newHarness(t, policy.Config{Min: 1, Max: 3, TasksPerWorker: 1, Keepalive: time.Second})
	h.depth = 3
	h.tick(0)
	h.onlineAll()
	h.depth = 0
	h.tick(5 * time.Second) // every worker idle past the keepalive: two drain
	draining := 0
	for _, w := range h.pool.Workers() {
		if w.State == WorkerDraining {
			draining++
		}
	}
	if draining != 2 {
		t.Fatalf("%d draining after the backlog went, want 2", draining)
	}
	h.depth = 10
	h.tick(100 * time.Millisecond)
	if n := len(h.pool.Workers()); n != 3 || h.running() != 3 {
		t.Fatalf("after the burst: %d workers, %d running; want the 3 taken back, none added", n, h.running())
	}
	if got := h.metric(h.sup.m.scalingEvents.WithLabelValues("up", "queue")); got != 3+2 {
		t.Errorf("scaling_events_total{up,queue} = %v, want 5 (3 starts, 2 take-backs)", got)
	}
}

func TestSupervisorHoldsWhileBrokerDown(t *testing.T) {
	h := newHarness(t, policy.Config{Min: 1, Max: 4, TasksPerWorker: 1, Keepalive: time.Second})
	h.depth = 4
	h.tick(0)
	h.onlineAll()
	if got := h.running(); got != 4 {
		t.Fatalf("%d workers, want 4", got)
	}
	h.err = errors.New("dial tcp: connection refused")
	for range 5 {
		h.tick(10 * time.Second)
	}
	if got := h.running(); got != 4 {
		t.Errorf("broker down: %d workers running, want all 4 kept", got)
	}
	if got := h.metric(h.sup.m.brokerUp); got != 0 {
		t.Errorf("revrx_broker_up = %v while down, want 0", got)
	}
	if got := h.metric(h.sup.m.brokerErrors); got != 5 {
		t.Errorf("revrx_broker_errors_total = %v, want 5", got)
	}
	if err := h.sup.Ready(); err == nil {
		t.Errorf("Ready() = nil while the broker is down, want an error")
	}
	if err := h.sup.Live(); err != nil {
		t.Errorf("Live() = %v while the broker is down, want nil (liveness never depends on Redis)", err)
	}
	h.err, h.depth = nil, 0
	h.tick(time.Second)
	if got := h.metric(h.sup.m.brokerUp); got != 1 {
		t.Errorf("revrx_broker_up = %v after recovery, want 1", got)
	}
	if got := h.running(); got != 1 {
		t.Errorf("after recovery with no backlog: %d workers running, want MIN 1", got)
	}
}

func TestSupervisorForgetsRestartedWorker(t *testing.T) {
	h := newHarness(t, policy.Config{Min: 1, Max: 1, TasksPerWorker: 1, Keepalive: time.Second})
	h.tick(0)
	h.onlineAll()
	h.event("task-received", workerName(1), "a")
	h.event("task-started", workerName(1), "a")
	h.tick(time.Second)
	// The process dies and is replaced under the same name.
	h.pool.mu.Lock()
	h.pool.workers[0].PID = 4242
	h.pool.mu.Unlock()
	h.tick(time.Second)
	st := h.sup.Snapshot()
	if w := st.Workers[0]; w.Running != 0 || w.State != policy.PhaseStarting {
		t.Errorf("replaced worker = %+v, want no running task and state starting", w)
	}
}

// TestChecksStatusAndMetrics: what /livez, /readyz, /status and /metrics
// serve (package web) through a tick and a shutdown.
func TestChecksStatusAndMetrics(t *testing.T) {
	h := newHarness(t, policy.Config{Min: 1, Max: 3, TasksPerWorker: 1, Keepalive: time.Second})
	h.sup.cfg.BrokerURL = "redis://:****@redis:6379/0"
	if err := h.sup.Live(); err == nil {
		t.Errorf("Live() = nil before the first tick, want an error")
	}
	h.tick(0)
	if err := h.sup.Ready(); err == nil || !strings.Contains(err.Error(), "0 of min 1") {
		t.Errorf("Ready() with the worker still starting = %v, want an error naming the count", err)
	}
	h.onlineAll()
	h.tick(time.Second)
	if err := h.sup.Live(); err != nil {
		t.Errorf("Live() = %v, want nil", err)
	}
	if err := h.sup.Ready(); err != nil {
		t.Errorf("Ready() = %v, want nil", err)
	}
	b, err := json.Marshal(h.sup.Snapshot())
	var st Status
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		t.Fatalf("Snapshot() as JSON: %v", err)
	}
	if len(st.Workers) != 1 || st.Workers[0].State != policy.PhaseIdle || st.Broker.URL != "redis://:****@redis:6379/0" {
		t.Errorf("Snapshot() = %+v", st)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(h.reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(body)
	for _, name := range []string{
		"revrx_queue_messages{queue=\"reports\"}", "revrx_workers{state=\"idle\"} 1", "revrx_workers_desired 1",
		"revrx_workers_min 1", "revrx_workers_max 3", "revrx_tasks_per_worker_target 1", "revrx_unmet_demand_workers 0",
		`revrx_scaling_events_total{direction="up",reason="queue"} 0`, `revrx_scaling_events_total{direction="down",reason="idle"} 0`,
		`revrx_tasks_completed_total{outcome="revoked"} 0`, "revrx_tasks_reserved 0", "revrx_tasks_running 0",
		`revrx_queue_wait_seconds_count{queue="reports"} 0`, `revrx_worker_up{worker="worker1@h"} 1`,
		`revrx_worker_busy{worker="worker1@h"} 0`, `revrx_build_info{goversion="go`,
		"revrx_scaling_events_total{direction=\"up\",reason=\"min\"} 1", "revrx_worker_restarts_total{reason=\"crashed\"} 0",
		"revrx_broker_up 1", "revrx_broker_errors_total 0", "revrx_tasks_completed_total{outcome=\"succeeded\"} 0",
		"revrx_task_runtime_seconds_bucket",
	} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	problems, err := testutil.GatherAndLint(h.reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", err, problems)
	}
	h.sup.ShuttingDown()
	if err := h.sup.Ready(); err == nil {
		t.Errorf("Ready() = nil while shutting down, want an error")
	}
}

func TestSupervisorGuardAndWaitMetrics(t *testing.T) {
	h := newHarness(t, policy.Config{Min: 1, Max: 4, TasksPerWorker: 4, Keepalive: time.Second,
		TargetWait: 5 * time.Second, Guard: policy.Guard{MaxCPU: 0.8, MaxWorkerMemory: 100 << 20}})
	h.tick(0)
	h.onlineAll()
	// One waiting task, 20 s old: depth alone keeps 1 worker, the wait target adds one.
	h.depth, h.oldest = 1, 20*time.Second
	h.tick(time.Second)
	if got := h.running(); got != 2 {
		t.Fatalf("with a 20 s wait over a 5 s target: %d workers, want 2", got)
	}
	if got := h.metric(h.sup.m.oldestAge.WithLabelValues("reports")); got != 20 {
		t.Errorf("revrx_queue_oldest_message_age_seconds = %v, want 20", got)
	}
	if got := h.metric(h.sup.m.scalingEvents.WithLabelValues("up", "wait")); got != 1 {
		t.Errorf("scaling_events_total{up,wait} = %v, want 1", got)
	}
	// Host CPU over the guard: no scale-up, counted.
	// (resources are sampled every 5 s)
	h.res.host.CPU = 0.95
	h.onlineAll()
	h.tick(resourceInterval)
	if got := h.running(); got != 2 {
		t.Errorf("CPU above max: %d workers, want 2 (blocked)", got)
	}
	if got := h.metric(h.sup.m.scalingBlocked.WithLabelValues("cpu")); got != 1 {
		t.Errorf("revrx_scaling_blocked_total{cpu} = %v, want 1", got)
	}
	if got := h.metric(h.sup.m.hostCPU); got != 0.95 {
		t.Errorf("revrx_host_cpu_ratio = %v, want 0.95", got)
	}
	if got := h.metric(h.sup.m.workerMemory.WithLabelValues(workerName(1))); got != 50<<20 {
		t.Errorf("revrx_worker_memory_bytes = %v, want %d", got, 50<<20)
	}
	// A worker over its memory limit is replaced once idle.
	h.depth, h.oldest, h.res.host.CPU = 0, 0, 0.1
	h.res.rss = 200 << 20
	h.tick(resourceInterval)
	if got := h.metric(h.sup.m.scalingEvents.WithLabelValues("down", "worker_memory")); got < 1 {
		t.Errorf("scaling_events_total{down,worker_memory} = %v, want >= 1", got)
	}
}

// TestNoSpawnAfterShutdown: once shutdown begins the loop keeps observing
// but starts and stops nothing, whatever the backlog.
func TestNoSpawnAfterShutdown(t *testing.T) {
	h := newHarness(t, policy.Config{Min: 1, Max: 5, TasksPerWorker: 1, Keepalive: time.Second})
	h.tick(0)
	h.onlineAll()
	h.sup.ShuttingDown()
	h.depth = 20
	h.tick(time.Second)
	if got := len(h.pool.Workers()); got != 1 {
		t.Errorf("after shutdown began with 20 waiting: %d workers, want 1 (no new spawns)", got)
	}
	if st := h.sup.Snapshot(); !st.ShuttingDown || !strings.Contains(st.LastDecision.Reason, "shutting down") {
		t.Errorf("status = %+v, want shutting down", st.LastDecision)
	}
}

// TestForeignEventsIgnored: events from workers outside the pool (other
// hosts share the Redis) are neither tracked (memory stays bounded by the
// pool) nor counted as completions of supervised workers.
func TestForeignEventsIgnored(t *testing.T) {
	h := newHarness(t, policy.Config{Min: 1, Max: 2, TasksPerWorker: 1, Keepalive: 30 * time.Second})
	h.tick(0)
	h.onlineAll()
	for i := range 5000 {
		host := "spoof" + strconv.Itoa(i) + "@elsewhere"
		h.event("task-received", host, "u"+strconv.Itoa(i))
		h.event("task-succeeded", host, "u"+strconv.Itoa(i))
	}
	if n := len(h.sup.tracker.Snapshot(h.now)); n != 1 {
		t.Fatalf("the tracker holds %d workers after 5000 foreign ones, want the pool's 1", n)
	}
	if got := h.metric(h.sup.m.tasksCompleted.WithLabelValues("succeeded")); got != 0 {
		t.Fatalf("tasks completed = %v, want 0 (none ran on the pool)", got)
	}
	w := h.pool.Workers()[0].Name
	h.event("task-received", w, "mine")
	h.event("task-succeeded", w, "mine")
	if got := h.metric(h.sup.m.tasksCompleted.WithLabelValues("succeeded")); got != 1 {
		t.Fatalf("tasks completed = %v, want 1", got)
	}
}
