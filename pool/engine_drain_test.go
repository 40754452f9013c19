//go:build linux

package pool

import (
	"fmt"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// busyWith loads rds's "outage" queue with n tasks of seconds each and
// waits until every process of e is busy.
func busyWith(t *testing.T, e *Engine, rds *harness.Redis, prefix string, n int, seconds float64) {
	t.Helper()
	for i := range n {
		rds.Command(t, "LPUSH", "outage", sleepFor(fmt.Sprintf("%s-%d", prefix, i), seconds))
	}
	waitUntil(t, 10*time.Second, "every process busy", func() bool {
		ws := e.Workers()
		for _, w := range ws {
			if w.Process.Phase != ProcessBusy {
				return false
			}
		}
		return len(ws) > 0
	})
}

// TestEngineDrainRetiresABusyProcessAfterItsTask: two processes busy with
// a backlog; Drain(1) retires one: it runs its current task to its end,
// takes no other, and is then stopped; the backlog goes to the other one
// and every message is acked.
func TestEngineDrainRetiresABusyProcessAfterItsTask(t *testing.T) {
	rds := harness.StartTestRedis(t)
	e := startEngine(t, rds.URL(0), 3, "outage")
	if n, err := e.Grow(2); n != 2 || err != nil {
		t.Fatalf("Grow(2) = %d, %v", n, err)
	}
	waitUntil(t, 10*time.Second, "2 idle processes", func() bool { return len(idleProcesses(e)) == 2 })
	busyWith(t, e, rds, "drain", 6, 1.5)
	if n, err := e.Drain(1); n != 1 || err != nil {
		t.Fatalf("Drain(1) = %d, %v; want 1, nil", n, err)
	}
	var retiring Worker
	for _, w := range e.Workers() {
		if w.Process.Phase == ProcessRetiring {
			retiring = w
		}
	}
	if retiring.PID == 0 || retiring.State != Draining || retiring.Process.TaskID == "" {
		t.Fatalf("no retiring process running a task after Drain(1): %+v", e.Workers())
	}
	if n, err := e.Drain(5); n != 1 || err != nil {
		t.Fatalf("Drain(5) with one busy process left = %d, %v; want 1, nil", n, err)
	}
	// Take the second one back: it keeps taking tasks.
	var back Worker
	for _, w := range e.Workers() {
		if w.Process.Phase == ProcessRetiring && w.PID != retiring.PID {
			back = w
		}
	}
	if err := e.Reclaim(back.Name); err != nil {
		t.Fatalf("Reclaim(%s): %v", back.Name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for stillThere := true; stillThere; {
		stillThere = false
		for _, w := range e.Workers() {
			if w.PID != retiring.PID {
				continue
			}
			stillThere = true
			if w.Process.TaskID != "" && w.Process.TaskID != retiring.Process.TaskID {
				t.Fatalf("the retiring process took task %s after %s", w.Process.TaskID, retiring.Process.TaskID)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retiring process %d is still there after 30 s", retiring.PID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitUntil(t, 30*time.Second, "the backlog done and acked on the process taken back", func() bool {
		return rds.Command(t, "LLEN", "outage") == "0" && rds.Command(t, "HLEN", "unacked") == "0" &&
			len(idleProcesses(e)) == 1
	})
	if ws := e.Workers(); len(ws) != 1 || ws[0].PID != back.PID {
		t.Fatalf("processes %+v, want only the one taken back (%d)", ws, back.PID)
	}
	if st := e.State(); st.Processes != 1 {
		t.Errorf("the pool's target is %d after the retiring one stopped, want 1", st.Processes)
	}
	if r := e.TakeReports(); len(r.Losses) != 0 {
		t.Errorf("pool processes lost with a task: %+v", r.Losses)
	}
}
