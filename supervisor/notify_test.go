package supervisor

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// fakeNotifier stands for the service manager: it delivers every message
// on msgs.
type fakeNotifier struct {
	msgs chan string
}

func newFakeNotifier() *fakeNotifier { return &fakeNotifier{msgs: make(chan string, 1024)} }

func (f *fakeNotifier) Notify(state string) error {
	f.msgs <- state
	return nil
}

// next returns the next message, failing after d.
func (ns *fakeNotifier) next(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case m := <-ns.msgs:
		return m
	case <-time.After(d):
		t.Fatalf("no notification within %s", d)
		return ""
	}
}

// quiet fails if a message arrives within d.
func (ns *fakeNotifier) quiet(t *testing.T, d time.Duration, why string) {
	t.Helper()
	select {
	case m := <-ns.msgs:
		t.Fatalf("%s: got %q", why, m)
	case <-time.After(d):
	}
}

// TestNotifyReadyAfterMinWorkers: READY=1 is sent once, only when MIN
// workers are idle or busy; STATUS follows the pool.
func TestNotifyReadyAfterMinWorkers(t *testing.T) {
	ns := newFakeNotifier()
	h := newHarness(t, policy.Config{Min: 2, Max: 4, TasksPerWorker: 1, Keepalive: 30 * time.Second})
	cfg := h.sup.cfg
	cfg.Notifier = ns
	h.sup.sd = newSDState(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { h.sup.sd.run(ctx, h.sup.Live) })
	defer wg.Wait()
	defer cancel()

	h.depth = 3
	h.tick(0) // starts 3 workers; the snapshot is from before
	if got, want := ns.next(t, 5*time.Second), "STATUS=0 workers (0 busy), 3 waiting, desired 3"; got != want {
		t.Fatalf("first tick: %q, want %q", got, want)
	}
	h.tick(time.Second)
	if got, want := ns.next(t, 5*time.Second), "STATUS=0 workers (0 busy), 3 waiting, desired 3, 3 starting or stopping"; got != want {
		t.Fatalf("before any worker is up: %q, want %q", got, want)
	}
	h.event("worker-online", workerName(1), "")
	h.tick(time.Second)
	if got, want := ns.next(t, 5*time.Second), "STATUS=1 worker (0 busy), 3 waiting, desired 3, 2 starting or stopping"; got != want {
		t.Fatalf("1 of MIN 2 workers up: %q, want %q (no READY=1)", got, want)
	}
	h.event("worker-online", workerName(2), "")
	h.event("task-received", workerName(2), "a")
	h.event("task-started", workerName(2), "a")
	h.depth = 2 // the task left the queue
	h.tick(time.Second)
	if got, want := ns.next(t, 5*time.Second), "READY=1\nSTATUS=2 workers (1 busy), 2 waiting, desired 3, 1 starting or stopping"; got != want {
		t.Fatalf("MIN workers up: %q, want %q", got, want)
	}
	h.event("worker-online", workerName(3), "")
	h.tick(time.Second)
	if got := ns.next(t, 5*time.Second); got != "STATUS=3 workers (1 busy), 2 waiting, desired 3" {
		t.Fatalf("READY=1 again or a wrong status: %q", got)
	}
	h.tick(time.Second)
	ns.quiet(t, 100*time.Millisecond, "nothing changed")

	h.sup.ShuttingDown()
	if got := ns.next(t, 5*time.Second); got != "STOPPING=1\nSTATUS=shutting down: warm-stopping every worker" {
		t.Fatalf("at shutdown: %q, want STOPPING=1", got)
	}
	h.sup.ShuttingDown()
	h.tick(time.Second)
	if got := ns.next(t, 5*time.Second); strings.Contains(got, "STOPPING") || !strings.HasSuffix(got, "; shutting down") {
		t.Fatalf("after the second ShuttingDown: %q, want one STATUS and no second STOPPING=1", got)
	}
}

// TestNotifyWatchdog: WATCHDOG=1 comes every interval while the control
// loop ticks, and stops while a tick is stuck (here in the broker read)
// past the liveness limit of /livez; it resumes once the tick completes.
func TestNotifyWatchdog(t *testing.T) {
	ns := newFakeNotifier()
	var clock atomic.Int64 // the loop's clock, moved by hand
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	var stuck atomic.Bool
	entered, release := make(chan struct{}, 1), make(chan struct{})
	q := &fakeQueue{backlogs: func([]string) (map[string]Backlog, error) {
		if stuck.Load() {
			entered <- struct{}{}
			<-release // ignores ctx, as a wedged call would
		}
		return map[string]Backlog{"reports": {}}, nil
	}}
	const interval = 20 * time.Millisecond
	cfg := Config{Policy: policy.Config{Min: 0, Max: 2, TasksPerWorker: 1, Keepalive: time.Second},
		Queues: []string{"reports"}, PollInterval: 50 * time.Millisecond, Now: now,
		Notifier: ns, WatchdogInterval: interval}
	sup, err := New(cfg, q, fakeEvents{}, newFakePool(), prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sup.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var once sync.Once
	unblock := func() { once.Do(func() { stuck.Store(false); close(release) }) }
	defer unblock()

	pings := watchdogPings(t, ns, 5)
	for i := 1; i < len(pings); i++ {
		if gap := pings[i].Sub(pings[i-1]); gap < interval/2 || gap > 10*interval {
			t.Errorf("ping %d came %s after the previous one, want about %s", i, gap, interval)
		}
	}

	stuck.Store(true)
	<-entered // the loop is now inside a tick that does not return
	clock.Add(int64(11 * time.Second))
	time.Sleep(2 * interval) // a ping already on its way may still land
	drain(ns)
	ns.quiet(t, 15*interval, "the loop is stuck")

	unblock()
	watchdogPings(t, ns, 2)
}

// watchdogPings waits for n WATCHDOG=1 messages (skipping STATUS ones)
// and returns when each arrived.
func watchdogPings(t *testing.T, ns *fakeNotifier, n int) []time.Time {
	t.Helper()
	var at []time.Time
	for len(at) < n {
		if m := ns.next(t, 5*time.Second); m == "WATCHDOG=1" {
			at = append(at, time.Now())
		}
	}
	return at
}

func drain(ns *fakeNotifier) {
	for {
		select {
		case <-ns.msgs:
		default:
			return
		}
	}
}
