package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/testredis"
	sv "github.com/revrx/revrx-supervise/supervisor"
)

// TestNoTaskLostStoppingWhileTasksArrive: tasks keep arriving while the
// supervisor warm-stops its workers. kombu 5.2 drops the message of a BRPOP
// in flight when a worker closes its connection, so without cancelling the
// workers' consumers before the SIGTERM some of these tasks vanish (neither
// run nor left in Redis); a second supervisor then finds fewer than were
// published. With the drain, every task runs exactly once.
func TestNoTaskLostStoppingWhileTasksArrive(t *testing.T) {
	needCelery(t)
	rds := testredis.Start(t)
	url := rds.URL(0)
	const n = 120 // one task every 25 ms for 3 s
	var trace strings.Builder
	for i := range n {
		fmt.Fprintf(&trace, "%.3f 1 0.02\n", float64(i)*0.025)
	}
	tracePath := filepath.Join(t.TempDir(), "steady.trace")
	if err := os.WriteFile(tracePath, []byte(trace.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	first := startSupervisor(t, url, "--autoscale=3,3", "-Q", "steady")
	waitFor(t, 20*time.Second, "3 idle workers", func() bool { return first.workersIn(sv.PhaseIdle) == 3 })
	prod := exec.Command("/usr/bin/python3", producer, "--trace", tracePath, "--queue", "steady")
	prod.Env = append(os.Environ(), "CELERY_BROKER_URL="+url)
	if err := prod.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // let the stream start: the stop must overlap it
	first.signal(syscall.SIGTERM)
	if code := first.wait(30 * time.Second); code != 0 {
		t.Errorf("first supervisor exit code %d, want 0", code)
	}
	if err := prod.Wait(); err != nil {
		t.Fatalf("producer: %v", err)
	}

	second := startSupervisor(t, url, "--autoscale=2,2", "-Q", "steady")
	deadline := time.Now().Add(30 * time.Second)
	var started, finished map[string]int
	for time.Now().Before(deadline) {
		recs := append(readRecords(t, first.record), readRecords(t, second.record)...)
		started, finished = tally(recs)
		if len(finished) == n {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for id, c := range started {
		if c != 1 {
			t.Errorf("task %s started %d times", id, c)
		}
	}
	if len(finished) != n {
		t.Errorf("%d of %d tasks finished; %d lost (depth left in Redis: %s)", len(finished), n, n-len(finished),
			rds.Do(t, "LLEN", "steady"))
	}
}
