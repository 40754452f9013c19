package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// busyWorkerPID returns the main PID of a worker that the task record shows
// running a task now, and that worker's name.
func busyWorkerPID(t *testing.T, s *supervised) (int, string) {
	t.Helper()
	var pid int
	var name string
	waitFor(t, 20*time.Second, "a worker running a task", func() bool {
		started, finished := tally(readRecords(t, s.record))
		busy := map[string]bool{}
		for _, r := range readRecords(t, s.record) {
			if r.Event == "start" && finished[r.ID] < started[r.ID] {
				busy[r.Worker] = true
			}
		}
		for _, w := range s.status().Workers {
			if busy[w.Name] && w.PID != 0 {
				pid, name = w.PID, w.Name
				return true
			}
		}
		return false
	})
	return pid, name
}

// TestDeadWorkerMessagesComeBack: a late-ack worker SIGKILLed mid-task
// (as the OOM killer does) leaves the task it was running and the one it
// had reserved in kombu's unacked hash, where kombu would leave them for
// its visibility timeout (an hour by default). The supervisor puts both
// back within seconds, redelivered, and every task runs to the end;
// nothing is left in unacked. A forked worker's held set names them; for
// an exec'd worker its task events do.
func TestDeadWorkerMessagesComeBack(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	for _, spawn := range []string{"fork", "exec"} {
		t.Run(spawn, func(t *testing.T) { testDeadWorkerMessagesComeBack(t, spawn) })
	}
}

func testDeadWorkerMessagesComeBack(t *testing.T, spawn string) {
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisorUnder(t, nil, []string{"REVRX_ACKS_LATE=1"}, url, "--engine", "workers", "--autoscale=2,2", "-Q", "restore", "--spawn", spawn)
	waitFor(t, 30*time.Second, "2 idle workers", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	publish(t, url, "restore", 4, 2)
	pid, name := busyWorkerPID(t, s)
	waitFor(t, 10*time.Second, "4 messages taken", func() bool { return rds.Do(t, "LLEN", "restore") == "0" })
	if held := rds.Do(t, "HLEN", "revrx.held."+name); spawn == "fork" && held != "2" {
		t.Fatalf("the busy worker's held set has %s tags, want 2 (running + reserved)", held)
	}
	time.Sleep(300 * time.Millisecond) // the task events reach the supervisor
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the dead worker's 2 messages restored", func() bool {
		return s.metric("revrx_tasks_restored_total") == 2
	})
	t.Logf("restored %.1f s after the SIGKILL", time.Since(killed).Seconds())
	waitFor(t, 60*time.Second, "every task finished", func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == 4
	})
	if n := rds.Do(t, "HLEN", "unacked"); n != "0" {
		t.Errorf("unacked holds %s messages after every task finished, want 0", n)
	}
	if n := rds.Do(t, "EXISTS", "revrx.held."+name); n != "0" {
		t.Errorf("the dead worker's held set is still there")
	}
	if n := countLines(s.logs.String(), "put back 2 message(s) the gone worker held", name); n != 1 {
		t.Errorf("%d log lines naming the restored tasks, want 1", n)
	}
	started, _ := tally(readRecords(t, s.record))
	twice := 0
	for _, c := range started {
		twice += c - 1
	}
	if twice != 1 {
		t.Errorf("%d tasks started twice, want exactly 1: the one the killed worker was running", twice)
	}
}

// TestWholeHostDeathStrandsNothing: when the supervisor is SIGKILLed with
// its workers (node loss), nobody is left to restore what they held; the
// messages stay in kombu's shared unacked hash, so kombu's own sweep by any
// worker brings them back once their visibility timeout has passed (here
// 3 s, set by the app): a new supervisor on another host (another name
// template) runs every task.
func TestWholeHostDeathStrandsNothing(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	env := []string{"REVRX_ACKS_LATE=1", "REVRX_VISIBILITY_TIMEOUT=3"}
	a := startSupervisorUnder(t, nil, env, url, "--engine", "workers", "--autoscale=2,2", "-Q", "host")
	waitFor(t, 30*time.Second, "2 idle workers", func() bool { return a.workersIn(policy.PhaseIdle) == 2 })
	publish(t, url, "host", 4, 4)
	waitFor(t, 20*time.Second, "4 messages taken", func() bool {
		return rds.Do(t, "LLEN", "host") == "0" && rds.Do(t, "HLEN", "unacked") == "4"
	})
	if err := syscall.Kill(-a.proc.PID(), syscall.SIGKILL); err != nil { // the whole host at once
		t.Fatal(err)
	}
	a.wait(10 * time.Second)
	waitFor(t, 10*time.Second, "the dead host's workers gone", func() bool { return len(celeryProcesses(url)) == 0 })
	if n := rds.Do(t, "HLEN", "unacked"); n != "4" {
		t.Fatalf("unacked holds %s after the host died, want the 4 messages its workers held", n)
	}
	time.Sleep(3 * time.Second) // past the visibility timeout
	b := startSupervisorUnder(t, nil, env, url, "--engine", "workers", "--autoscale=2,2", "-Q", "host", "--worker-name", "b{n}@%h")
	waitFor(t, 40*time.Second, "the 4 messages back and run", func() bool {
		_, finished := tally(readRecords(t, b.record))
		return len(finished) == 4
	})
	if n := b.metric("revrx_tasks_restored_total"); n != 0 {
		t.Errorf("the new supervisor restored %v messages itself; kombu's sweep should have", n)
	}
}

// TestEarlyAckDeathIsReported: in an app that acks on receipt (Celery's
// default), the task a SIGKILLed worker was running was acked already and
// cannot come back; the supervisor reports it by id and name. Only the
// reserved message comes back: on Redis the supervisor puts it back, on
// RabbitMQ the broker requeues it, and it runs.
func TestEarlyAckDeathIsReported(t *testing.T) {
	t.Parallel() // each case has its own broker, supervisor and workers
	needCelery(t)
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		rds := harness.StartTestRedis(t)
		s, _ := testEarlyAckDeath(t, rds.URL(0), func() bool { return rds.Do(t, "LLEN", "early") == "0" })
		if n := s.metric("revrx_tasks_restored_total"); n != 1 {
			t.Errorf("revrx_tasks_restored_total = %v, want 1 (the reserved message)", n)
		}
	})
	t.Run("rabbitmq", func(t *testing.T) {
		t.Parallel()
		url := rabbitVHost(t)
		s, running := testEarlyAckDeath(t, url, func() bool { ready, _ := rabbitReady(t, url, "early"); return ready == 0 })
		waitFor(t, 40*time.Second, "the reserved task run", func() bool {
			for _, r := range readRecords(t, s.record) {
				if r.Event == "end" && r.ID != running {
					return true
				}
			}
			return false
		})
	})
}

// testEarlyAckDeath runs one early-ack worker on url with two tasks (one
// running, one reserved; taken says the queue is empty), SIGKILLs it, and
// checks the report of the running one, which it returns.
func testEarlyAckDeath(t *testing.T, url string, taken func() bool) (s *supervised, running string) {
	s = startSupervisor(t, url, "--engine", "workers", "--autoscale=1,1", "-Q", "early", "--", "--prefetch-multiplier=2")
	waitFor(t, 30*time.Second, "1 idle worker", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
	publish(t, url, "early", 2, 3)
	pid, name := busyWorkerPID(t, s)
	waitFor(t, 10*time.Second, "both messages taken", taken)
	started, finished := tally(readRecords(t, s.record))
	for id := range started {
		if finished[id] == 0 {
			running = id
		}
	}
	time.Sleep(300 * time.Millisecond) // the task-started event reaches the supervisor
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the died task reported", func() bool { return s.metric("revrx_tasks_died_total") == 1 })
	if n := countLines(s.logs.String(), "tasks died with their worker", name, running+" tasks.sleep"); n != 1 {
		t.Errorf("%d log lines naming the died task %s, want 1", n, running)
	}
	return s, running
}

// TestRestartedHostPutsBackAtOnce: the supervisor and its workers die
// together and come back on the same host (a container OOM-killed and
// restarted in its pod): the new supervisor finds the held sets of its own
// worker names, checks that no live worker answers to them, and puts their
// messages back before it starts a worker, instead of leaving them to
// kombu's visibility timeout (an hour here).
func TestRestartedHostPutsBackAtOnce(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	env := []string{"REVRX_ACKS_LATE=1"}
	a := startSupervisorUnder(t, nil, env, url, "--engine", "workers", "--autoscale=2,2", "-Q", "again")
	waitFor(t, 30*time.Second, "2 idle workers", func() bool { return a.workersIn(policy.PhaseIdle) == 2 })
	publish(t, url, "again", 4, 4)
	waitFor(t, 20*time.Second, "4 messages taken", func() bool {
		return rds.Do(t, "LLEN", "again") == "0" && rds.Do(t, "HLEN", "unacked") == "4"
	})
	if err := syscall.Kill(-a.proc.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(10 * time.Second)
	waitFor(t, 10*time.Second, "the dead host's workers gone", func() bool { return len(celeryProcesses(url)) == 0 })
	restarted := time.Now()
	b := startSupervisorUnder(t, nil, env, url, "--engine", "workers", "--autoscale=2,2", "-Q", "again")
	waitFor(t, 10*time.Second, "the 4 held messages put back", func() bool { return b.metric("revrx_tasks_restored_total") == 4 })
	t.Logf("put back %.1f s after the restart", time.Since(restarted).Seconds())
	waitFor(t, 40*time.Second, "every task run", func() bool {
		_, finished := tally(readRecords(t, b.record))
		return len(finished) == 4
	})
	if n := rds.Do(t, "HLEN", "unacked"); n != "0" {
		t.Errorf("unacked holds %s, want 0", n)
	}
}
