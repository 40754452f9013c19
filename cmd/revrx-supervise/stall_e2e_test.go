package main

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// TestStalledWorkerIsRestarted: a worker whose consumer was cancelled
// behind the supervisor's back (as after the broker reconnects Celery
// users report) stays online and heartbeating but takes nothing; once it
// has been idle for --stall-timeout while a message waited as long, it is
// warm-restarted (the pool engine's main, or the whole worker) and the
// backlog runs.
func TestStalledWorkerIsRestarted(t *testing.T) {
	for _, engine := range []string{"pool", "workers"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel() // each engine its own Redis and supervisor
			testStalledWorkerIsRestarted(t, engine)
		})
	}
}

func testStalledWorkerIsRestarted(t *testing.T, engine string) {
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--engine", engine, "--autoscale=1,1", "-Q", "stall", "--stall-timeout=3s")
	waitFor(t, 30*time.Second, "1 idle worker", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
	name := s.status().Workers[0].Name
	if e := s.status().Engine; e != nil {
		name = e.Main.Name // the node that consumes
	}
	ctl := exec.Command("/usr/bin/python3", "-m", "celery", "-A", "tasks", "control", "cancel_consumer", "stall", "-d", name)
	ctl.Dir, ctl.Env = appDir, append(os.Environ(), "CELERY_BROKER_URL="+url)
	if out, err := ctl.CombinedOutput(); err != nil {
		t.Fatalf("cancel_consumer: %v\n%s", err, out)
	}
	publish(t, url, "stall", 3, 0.1)
	time.Sleep(2 * time.Second)
	if n := rds.Do(t, "LLEN", "stall"); n != "3" {
		t.Fatalf("%s messages waiting 2 s after the cancel, want all 3: the worker should be stalled", n)
	}
	waitFor(t, 20*time.Second, "the stalled worker restarted", func() bool { return s.metric("revrx_worker_stalls_total") == 1 })
	waitFor(t, 30*time.Second, "the backlog run", func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == 3
	})
	if n := countLines(s.logs.String(), "worker stalled", name); n != 1 {
		t.Errorf("%d stall log lines for %s, want 1", n, name)
	}
}
