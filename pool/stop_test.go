//go:build linux

package pool

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// controlLog is a RemoteControl that records the calls; the workers are
// the pool's fake helpers, which take no remote control.
type controlLog struct {
	mu    sync.Mutex
	calls []string
}

func (c *controlLog) add(call string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, call)
	return nil
}

func (c *controlLog) CancelConsumers(_ context.Context, w string, _ []string) error {
	return c.add("cancel " + w)
}

func (c *controlLog) AddConsumers(_ context.Context, w string, _ []string) error {
	return c.add("add " + w)
}

func (c *controlLog) ShutdownWorkers(_ context.Context, ws []string) error {
	return c.add("shutdown " + ws[0])
}

func (c *controlLog) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

func stateOf(name string, st State) func([]Worker) bool {
	return func(ws []Worker) bool {
		return slices.ContainsFunc(ws, func(w Worker) bool { return w.Name == name && w.State == st })
	}
}

// TestReclaimTakesBackADrainingWorker: a stopped worker drains (consumers
// cancelled) and can be taken back until its warm stop is sent; taken
// back, its consumers are re-added and the process keeps running.
func TestReclaimTakesBackADrainingWorker(t *testing.T) {
	ctl := &controlLog{}
	p, rec, _ := testPool(t, "celery-like", func(c *Config) {
		c.Control, c.Queues, c.DrainGrace = ctl, []string{"q"}, 2*time.Second
	})
	run(t, p)
	w, err := p.Add()
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "ready", isOutput(w.Name, "ready"))
	if err := p.Stop(w.Name); err != nil {
		t.Fatal(err)
	}
	waitWorkers(t, p, "draining", stateOf(w.Name, Draining))
	for deadline := time.Now().Add(5 * time.Second); len(ctl.snapshot()) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the drain never cancelled the consumers")
		}
	}
	if err := p.Reclaim(w.Name); err != nil {
		t.Fatalf("Reclaim while draining: %v", err)
	}
	waitWorkers(t, p, "running again", stateOf(w.Name, Running))
	rec.waitFor(t, "taken back", isOutput(w.Name, "worker taken back before its warm stop"))
	if got, want := ctl.snapshot(), []string{"cancel " + w.Name, "add " + w.Name}; !slices.Equal(got, want) {
		t.Fatalf("remote control calls %q, want %q", got, want)
	}
	if now := p.Workers(); len(now) != 1 || now[0].PID != w.PID {
		t.Fatalf("workers %+v, want the same process %d", now, w.PID)
	}
	if rec.count(isOutput(w.Name, "warm shutdown")) != 0 {
		t.Fatal("the worker taken back got its warm stop")
	}
}

// TestReclaimAfterWarmStopFails: once the warm stop is sent the worker is
// Stopping and cannot be taken back.
func TestReclaimAfterWarmStopFails(t *testing.T) {
	ctl := &controlLog{}
	p, rec, _ := testPool(t, "celery-like", func(c *Config) {
		c.Control, c.Queues, c.DrainGrace = ctl, []string{"q"}, 10*time.Millisecond
		c.Env = append(c.Env, "POOL_HELPER_TERM_MS=2000")
	})
	run(t, p)
	w, _ := p.Add()
	rec.waitFor(t, "ready", isOutput(w.Name, "ready"))
	_ = p.Stop(w.Name)
	rec.waitFor(t, "warm shutdown", isOutput(w.Name, "warm shutdown"))
	if err := p.Reclaim(w.Name); !errors.Is(err, ErrNotDraining) {
		t.Fatalf("Reclaim after the warm stop = %v, want ErrNotDraining", err)
	}
}

// TestMaxWorkersCapsSlots: Add fails while MaxWorkers slots exist, a
// stopping one included, and succeeds once it is gone.
func TestMaxWorkersCapsSlots(t *testing.T) {
	p, rec, _ := testPool(t, "celery-like", func(c *Config) {
		c.MaxWorkers = 1
		c.Env = append(c.Env, "POOL_HELPER_TERM_MS=300")
	})
	run(t, p)
	w, _ := p.Add()
	rec.waitFor(t, "ready", isOutput(w.Name, "ready"))
	_ = p.Stop(w.Name)
	if _, err := p.Add(); !errors.Is(err, ErrFull) {
		t.Fatalf("Add beside a stopping worker with MaxWorkers 1 = %v, want ErrFull", err)
	}
	waitWorkers(t, p, "gone", func(ws []Worker) bool { return len(ws) == 0 })
	if _, err := p.Add(); err != nil {
		t.Fatalf("Add once it is gone: %v", err)
	}
}

// TestRetiredWorkerIsNotTakenBack: a worker stopped by Retire (replaced
// because it misbehaves) shows as Stopping and Reclaim refuses it.
func TestRetiredWorkerIsNotTakenBack(t *testing.T) {
	ctl := &controlLog{}
	p, rec, _ := testPool(t, "celery-like", func(c *Config) {
		c.Control, c.Queues, c.DrainGrace = ctl, []string{"q"}, 500*time.Millisecond
	})
	run(t, p)
	w, _ := p.Add()
	rec.waitFor(t, "ready", isOutput(w.Name, "ready"))
	if err := p.Retire(w.Name); err != nil {
		t.Fatal(err)
	}
	if err := p.Reclaim(w.Name); !errors.Is(err, ErrNotDraining) {
		t.Fatalf("Reclaim of a retired worker = %v, want ErrNotDraining", err)
	}
	if ws := p.Workers(); len(ws) != 1 || ws[0].State != Stopping {
		t.Fatalf("workers %+v, want the retired one Stopping", ws)
	}
	rec.waitFor(t, "warm shutdown", isOutput(w.Name, "warm shutdown"))
}

// TestWorkerHungAfterUnrecoverableErrorIsKilled: a worker that logged
// Celery's "Unrecoverable error" and does not exit (its main process waits
// for a busy pool child forever) is SIGKILLed after the grace, reported
// as an unexpected exit that died (so its messages are put back), and
// restarted.
func TestWorkerHungAfterUnrecoverableErrorIsKilled(t *testing.T) {
	p, rec, _ := testPool(t, "fatal-hang", func(c *Config) { c.ShutdownTimeout = 300 * time.Millisecond })
	run(t, p)
	w, _ := p.Add()
	start := time.Now()
	select {
	case <-p.Reported():
		r := p.TakeReports()
		if len(r.Exits) != 1 {
			t.Fatalf("reports %+v, want one exit", r)
		}
		if e := r.Exits[0]; !e.Died || e.Status != "signal: killed" || e.Name != w.Name {
			t.Fatalf("exit %+v, want %s died of signal: killed", e, w.Name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hung worker was never killed")
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("killed after %s, before the grace", el)
	}
	rec.waitFor(t, "the kill logged", isOutput(w.Name, `worker logged Celery's "Unrecoverable error" and did not exit: killed its process group`))
	rec.waitFor(t, "the restart", isOutput(w.Name, "worker exited unexpectedly"))
}
