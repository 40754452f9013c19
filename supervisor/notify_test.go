package supervisor

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// notifySocket is a real unixgram NOTIFY_SOCKET, as systemd listens on one.
type notifySocket struct {
	name string
	msgs chan string
}

// listenNotify listens on name (a path, or "@x" for the abstract namespace)
// and delivers every datagram on msgs until the test ends.
func listenNotify(t *testing.T, name string) *notifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	ns := &notifySocket{name: name, msgs: make(chan string, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			ns.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return ns
}

// dial opens the supervisor's side of the socket.
func (ns *notifySocket) dial(t *testing.T) *SDNotify {
	t.Helper()
	n, err := DialNotify(ns.name)
	if err != nil {
		t.Fatalf("DialNotify(%q) = %v", ns.name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// next returns the next datagram, failing after d.
func (ns *notifySocket) next(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case m := <-ns.msgs:
		return m
	case <-time.After(d):
		t.Fatalf("no notification within %s", d)
		return ""
	}
}

// quiet fails if a datagram arrives within d.
func (ns *notifySocket) quiet(t *testing.T, d time.Duration, why string) {
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
	ns := listenNotify(t, filepath.Join(t.TempDir(), "notify"))
	h := newHarness(t, policy.Config{Min: 2, Max: 4, TasksPerWorker: 1, Keepalive: 30 * time.Second})
	cfg := h.sup.cfg
	cfg.Notifier = ns.dial(t)
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

// TestNotifyAbstractSocket: a NOTIFY_SOCKET starting with '@' is in the
// abstract namespace; an empty one sends nothing.
func TestNotifyAbstractSocket(t *testing.T) {
	ns := listenNotify(t, "@revrx-test-"+filepath.Base(t.TempDir()))
	if err := ns.dial(t).Notify("READY=1"); err != nil {
		t.Fatalf("Notify() = %v", err)
	}
	if got := ns.next(t, 5*time.Second); got != "READY=1" {
		t.Fatalf("got %q, want READY=1", got)
	}
	n, err := DialNotify("")
	if n != nil || err != nil {
		t.Fatalf("DialNotify(\"\") = %v, %v; want nil, nil", n, err)
	}
	if err := n.Notify("READY=1"); err != nil {
		t.Fatalf("nil Notify() = %v", err)
	}
	if _, err := DialNotify("relative"); err == nil {
		t.Fatal("DialNotify(\"relative\") = nil error, want one")
	}
}

// TestNotifyWatchdog: WATCHDOG=1 comes every interval while the control
// loop ticks, and stops while a tick is stuck (here in the broker read)
// past the liveness limit of /livez; it resumes once the tick completes.
func TestNotifyWatchdog(t *testing.T) {
	ns := listenNotify(t, filepath.Join(t.TempDir(), "notify"))
	var clock atomic.Int64 // the loop's clock, moved by hand
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	var stuck atomic.Bool
	entered, release := make(chan struct{}, 1), make(chan struct{})
	q := &fakeQueue{backlogs: func([]string) (map[string]broker.Backlog, error) {
		if stuck.Load() {
			entered <- struct{}{}
			<-release // ignores ctx, as a wedged call would
		}
		return map[string]broker.Backlog{"reports": {}}, nil
	}}
	const interval = 20 * time.Millisecond
	cfg := Config{Policy: policy.Config{Min: 0, Max: 2, TasksPerWorker: 1, Keepalive: time.Second},
		Queues: []string{"reports"}, PollInterval: 50 * time.Millisecond, Now: now,
		Notifier: ns.dial(t), WatchdogInterval: interval}
	sup, err := New(cfg, q, fakeEvents{}, &fakePool{changed: make(chan struct{})}, prometheus.NewRegistry())
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

// watchdogPings waits for n WATCHDOG=1 datagrams (skipping STATUS ones)
// and returns when each arrived.
func watchdogPings(t *testing.T, ns *notifySocket, n int) []time.Time {
	t.Helper()
	var at []time.Time
	for len(at) < n {
		if m := ns.next(t, 5*time.Second); m == "WATCHDOG=1" {
			at = append(at, time.Now())
		}
	}
	return at
}

func drain(ns *notifySocket) {
	for {
		select {
		case <-ns.msgs:
		default:
			return
		}
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"", "", 0, false},
		{"30000000", "", 15 * time.Second, false},
		{"30000000", "42", 15 * time.Second, false},
		{"30000000", "43", 0, false},
		{"0", "", 0, true},
		{"x", "", 0, true},
		{"30000000", "x", 0, true},
	} {
		got, err := WatchdogInterval(tc.usec, tc.pid, 42)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("WatchdogInterval(%q, %q, 42) = %s, %v; want %s, error %v", tc.usec, tc.pid, got, err, tc.want, tc.err)
		}
	}
}
