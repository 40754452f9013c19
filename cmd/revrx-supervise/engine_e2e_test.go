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

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// The pool engine (the default) as users run it: one worker main whose
// prefork pool the supervisor sizes. The whole-worker engine's counterparts
// of these tests run with --engine workers.

// mainPID is the pool engine's worker main PID from /status (0 if none).
func (s *supervised) mainPID() int {
	if e := s.status().Engine; e != nil {
		return e.Main.PID
	}
	return 0
}

// busyProcess returns the name, PID and task id of a busy pool process.
func (s *supervised) busyProcess() (name string, pid int, task string) {
	for _, w := range s.status().Workers {
		if w.State == policy.PhaseBusy && w.TaskID != "" {
			return w.Name, w.PID, w.TaskID
		}
	}
	return "", 0, ""
}

// TestPoolEngineMainKilled: SIGKILL of the worker main mid-task. Its pool
// processes die with it (parent-death signal), what it held (a late-ack
// app: the running tasks' messages) is back on the queue within 2 s, the
// main is restarted with its processes, and every task finishes.
func TestPoolEngineMainKilled(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisorUnder(t, nil, []string{"REVRX_ACKS_LATE=1"}, url, "--autoscale=4,2", "-Q", "mainkill")
	waitFor(t, 30*time.Second, "2 idle processes", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	publish(t, url, "mainkill", 4, 3)
	waitFor(t, 20*time.Second, "4 busy processes", func() bool { return s.workersIn(policy.PhaseBusy) == 4 })
	st := s.status()
	main, node := st.Engine.Main.PID, st.Engine.Main.Name
	var children []int
	for _, w := range st.Workers {
		children = append(children, w.PID)
	}
	if n := rds.Do(t, "HLEN", "revrx.held."+node); n != "4" {
		t.Fatalf("the main holds %s messages, want the 4 running", n)
	}
	if err := syscall.Kill(main, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitFor(t, 5*time.Second, "the held messages back on the queue", func() bool {
		return rds.Do(t, "HLEN", "unacked") == "0" && rds.Do(t, "EXISTS", "revrx.held."+node) == "0"
	})
	if back := time.Since(killed); back > 2*time.Second {
		t.Errorf("held messages back %s after the kill, want within 2 s", back.Round(10*time.Millisecond))
	}
	for _, pid := range children {
		if st, ok := harness.ReadStat(pid); ok && !st.Zombie() {
			t.Errorf("pool process %d outlived its main (state %c)", pid, st.State)
		}
	}
	waitFor(t, 30*time.Second, "every task finished", func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == 4
	})
	if p := s.mainPID(); p == main || p == 0 {
		t.Errorf("main PID %d after the restart, want a new one (was %d)", p, main)
	}
	// A death within the first 10 s of a start counts as a failed start.
	crashed := s.metric(`revrx_worker_restarts_total{reason="crashed"}`)
	early := s.metric(`revrx_worker_restarts_total{reason="failed_start"}`)
	if crashed+early != 1 {
		t.Errorf("revrx_worker_restarts_total: crashed %v, failed_start %v; want one restart", crashed, early)
	}
	_, finished := tally(readRecords(t, s.record))
	for id, n := range finished {
		if n != 1 {
			t.Errorf("task %s finished %d times", id, n)
		}
	}
}

// TestPoolEngineProcessKilledMidTask: SIGKILL of a busy pool process (as the
// OOM killer would): Celery fails the task (WorkerLostError), the supervisor
// counts and logs it with the task id, billiard replaces the process, the
// main stays up and the other task finishes.
func TestPoolEngineProcessKilledMidTask(t *testing.T) {
	needCelery(t)
	t.Parallel() // its own Redis and supervisor; counts, not timings
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--autoscale=2,2", "-Q", "childkill")
	waitFor(t, 30*time.Second, "2 idle processes", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	main := s.mainPID()
	publish(t, url, "childkill", 2, 3)
	var pid int
	var task string
	waitFor(t, 20*time.Second, "a busy process with its task", func() bool {
		_, pid, task = s.busyProcess()
		return pid != 0 && s.workersIn(policy.PhaseBusy) == 2
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the loss counted", func() bool { return s.metric("revrx_pool_process_losses_total") == 1 })
	if n := countLines(s.logs.String(), "a pool process died while running a task", task); n != 1 {
		t.Errorf("%d log lines naming the lost task %s, want 1", n, task)
	}
	waitFor(t, 20*time.Second, "2 processes again, the other task finished", func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == 1 && len(s.status().Workers) == 2
	})
	if s.mainPID() != main {
		t.Errorf("the main changed after a pool process died: it must stay up")
	}
}

// malformedMessages are queue messages a Celery 5.2.6 main cannot decode or
// turn into a request, each of which would otherwise end it ("Unrecoverable
// error") and be lost: not JSON, truncated JSON, invalid UTF-8, a JSON
// array, an envelope without properties, one without headers or body, and a
// valid envelope whose body Celery cannot unpack.
func malformedMessages(queue string) []string {
	return []string{
		"not json {{{", `{"body": "eyJh`, "\xff\xfe\xfd invalid utf-8", "[1,2]", "{}",
		`{"properties": {"delivery_tag": "t-nohdr", "body_encoding": "base64"}}`,
		poisonMessage(queue, "0d15ea5e-0000-4000-8000-0000000000aa"),
	}
}

// TestPoolEngineQuarantinesMalformedMessages: 21 malformed messages among 40
// good ones. The main stays up (same PID, no restart), every good task runs
// exactly once, and each malformed message is in the quarantine list as
// the bytes that were published, counted and logged.
func TestPoolEngineQuarantinesMalformedMessages(t *testing.T) {
	needCelery(t)
	t.Parallel() // its own Redis and supervisor; counts, not timings
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--autoscale=4,2", "-Q", "bad")
	waitFor(t, 30*time.Second, "2 idle processes", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	main := s.mainPID()
	var bad []string
	for range 3 {
		bad = append(bad, malformedMessages("bad")...)
	}
	publish(t, url, "bad", 20, 0.05)
	for _, m := range bad {
		rds.Do(t, "LPUSH", "bad", m)
	}
	publish(t, url, "bad", 20, 0.05)
	waitFor(t, 30*time.Second, "40 good tasks finished", func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == 40
	})
	waitFor(t, 10*time.Second, "21 quarantined", func() bool { return rds.Do(t, "LLEN", "bad.quarantine") == "21" })
	started, _ := tally(readRecords(t, s.record))
	for id, n := range started {
		if n != 1 {
			t.Errorf("task %s started %d times", id, n)
		}
	}
	if got := s.metric("revrx_tasks_quarantined_total"); got != 21 {
		t.Errorf("revrx_tasks_quarantined_total = %v, want 21", got)
	}
	if p := s.mainPID(); p != main {
		t.Errorf("main PID %d, was %d: malformed input must not take it down", p, main)
	}
	if n := countLines(s.logs.String(), "Unrecoverable error"); n != 0 {
		t.Errorf("%d 'Unrecoverable error' lines, want 0", n)
	}
	if got := rds.Do(t, "LINDEX", "bad.quarantine", "-1"); got != bad[0] {
		t.Errorf("oldest quarantined message %q, want the bytes published %q", got, bad[0])
	}
}

// stormTrace writes a trace of cycles x (a burst, a trickle, a pause long
// enough for idle processes to be stopped): bursts and shrinks interleave
// while messages keep arriving.
func stormTrace(t *testing.T, cycles int) (path string, tasks int) {
	var b strings.Builder
	for c := range cycles {
		at := float64(c) * 1.3
		fmt.Fprintf(&b, "%.3f 60 0.05\n", at)
		for i := range 20 {
			fmt.Fprintf(&b, "%.3f 1 0.02\n", at+0.4+float64(i)*0.02)
		}
		tasks += 80
	}
	path = filepath.Join(t.TempDir(), "storm.trace")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, tasks
}

// TestPoolEngineShrinkStorm: more than 1,000 early-ack tasks in bursts and
// trickles, with a keepalive short enough that idle processes are stopped
// between and during them. Stock Celery shrinks lose tasks here (a process
// that took a job but has not said so yet looks idle: celery#7266); the pool
// engine stops only provably idle processes: every task starts exactly once,
// no WorkerLostError, and the pool never has more than MAX processes.
//
// It runs alone (not t.Parallel): whether the trace makes a storm (at least
// 20 idle stops) depends on the machine's load; beside three other
// end-to-end tests on 2 cores it made 18.
func TestPoolEngineShrinkStorm(t *testing.T) {
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	const maxProcs = 6
	s := startSupervisor(t, url, fmt.Sprintf("--autoscale=%d,0", maxProcs), "--keepalive=200ms", "--poll-interval=100ms", "-Q", "storm")
	waitFor(t, 30*time.Second, "the worker main", func() bool { return s.mainPID() != 0 })
	trace, n := stormTrace(t, 13)
	prod := exec.Command("/usr/bin/python3", producer, "--trace", trace, "--queue", "storm")
	prod.Env = append(os.Environ(), "CELERY_BROKER_URL="+url)
	if err := prod.Start(); err != nil {
		t.Fatal(err)
	}
	peak := samplePoolSize(s, prod)
	waitFor(t, 60*time.Second, fmt.Sprintf("%d tasks finished", n), func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == n
	})
	started, finished := tally(readRecords(t, s.record))
	for id, c := range started {
		if c != 1 || finished[id] != 1 {
			t.Errorf("task %s started %d times, finished %d", id, c, finished[id])
		}
	}
	if k := countLines(s.logs.String(), "WorkerLostError"); k != 0 {
		t.Errorf("%d WorkerLostError lines, want 0", k)
	}
	down := s.metric(`revrx_scaling_events_total{direction="down",reason="idle"}`)
	t.Logf("%d tasks, %v processes stopped as idle, at most %d alive", n, down, peak)
	if down < 20 {
		t.Errorf("only %v processes stopped during the storm: not a shrink storm", down)
	}
	if peak > maxProcs {
		t.Errorf("%d pool processes alive at once, max %d", peak, maxProcs)
	}
}

// samplePoolSize counts the main's live children in /proc every 20 ms until
// prod exits, and returns the most seen at once.
func samplePoolSize(s *supervised, prod *exec.Cmd) int {
	done := make(chan struct{})
	go func() { _ = prod.Wait(); close(done) }()
	peak := 0
	for {
		select {
		case <-done:
			return peak
		case <-time.After(20 * time.Millisecond):
		}
		if main := s.mainPID(); main != 0 {
			alive := 0
			for _, c := range harness.Children(main) {
				if st, ok := harness.ReadStat(c); ok && !st.Zombie() {
					alive++
				}
			}
			peak = max(peak, alive)
		}
	}
}

// TestPoolEngineEmptyPoolHoldsNothing: with MIN=0 and no process, the main
// takes no message (kombu reads a prefetch of 0 as unlimited; the extension
// gates it): with the supervisor frozen so that it cannot grow the pool,
// published tasks stay in Redis, none in unacked; once it runs again, they
// all run once and the pool goes back to 0.
func TestPoolEngineEmptyPoolHoldsNothing(t *testing.T) {
	needCelery(t)
	t.Parallel() // its own Redis and supervisor; counts, not timings
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--autoscale=2,0", "--keepalive=500ms", "-Q", "empty")
	waitFor(t, 30*time.Second, "the main attached, no process", func() bool {
		e := s.status().Engine
		return e != nil && e.Attached && len(s.status().Workers) == 0
	})
	s.signal(syscall.SIGSTOP)
	publish(t, url, "empty", 3, 0.2)
	time.Sleep(2 * time.Second) // several of kombu's 1 s polls
	waiting, unacked := rds.Do(t, "LLEN", "empty"), rds.Do(t, "HLEN", "unacked")
	s.signal(syscall.SIGCONT)
	if waiting != "3" || unacked != "0" {
		t.Errorf("with no process: %s waiting, %s unacked; want 3 and 0", waiting, unacked)
	}
	waitFor(t, 20*time.Second, "3 tasks finished", func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == 3
	})
	waitFor(t, 10*time.Second, "back to 0 processes", func() bool { return len(s.status().Workers) == 0 })
	if e := s.status().Engine; e.Reserved != 0 || rds.Do(t, "HLEN", "unacked") != "0" {
		t.Errorf("idle at 0 processes: %d reserved, %s unacked; want none", e.Reserved, rds.Do(t, "HLEN", "unacked"))
	}
}

// TestPoolEnginePacksTasks: tasks go to the lowest-index idle process, so a
// trickle runs on one process and the surplus ones stay idle long enough
// for their keepalive (Celery's pool rotates over every process, which keeps
// a pool sized for a peak at the peak).
func TestPoolEnginePacksTasks(t *testing.T) {
	needCelery(t)
	t.Parallel() // its own Redis and supervisor; counts, not timings
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--autoscale=4,4", "-Q", "pack")
	waitFor(t, 30*time.Second, "4 idle processes", func() bool { return s.workersIn(policy.PhaseIdle) == 4 })
	for i := range 8 {
		publish(t, url, "pack", 1, 0.05)
		waitFor(t, 10*time.Second, "the task done", func() bool {
			_, finished := tally(readRecords(t, s.record))
			return len(finished) == i+1
		})
	}
	pids := map[int]int{}
	for _, r := range readRecords(t, s.record) {
		if r.Event == "start" {
			pids[r.PID]++
		}
	}
	if len(pids) != 1 {
		t.Errorf("8 tasks one after another ran on %d processes %v, want all on one", len(pids), pids)
	}
}

// TestPoolEngineQuarantinesATaskThatKillsTwoProcesses: with acks_late and
// task_reject_on_worker_lost Celery requeues a task whose pool process died;
// one that kills a second process is moved to the quarantine list by the
// worker main instead of being requeued again, counted and logged.
func TestPoolEngineQuarantinesATaskThatKillsTwoProcesses(t *testing.T) {
	needCelery(t)
	t.Parallel() // its own Redis and supervisor; counts, not timings
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	env := []string{"REVRX_ACKS_LATE=1", "REVRX_REJECT_ON_WORKER_LOST=1"}
	s := startSupervisorUnder(t, nil, env, url, "--autoscale=2,1", "-Q", "killer")
	waitFor(t, 30*time.Second, "1 idle process", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
	publish(t, url, "killer", 1, 30)
	var task string
	var killed int
	for kill := 1; kill <= 2; kill++ {
		var pid int
		waitFor(t, 40*time.Second, "the task running (again, after Celery requeued it)", func() bool {
			_, pid, task = s.busyProcess()
			return pid != 0 && pid != killed && syscall.Kill(pid, 0) == nil
		})
		killed = pid
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, "the loss counted", func() bool {
			return s.metric("revrx_pool_process_losses_total") == float64(kill)
		})
	}
	waitFor(t, 10*time.Second, "the task quarantined", func() bool { return rds.Do(t, "LLEN", "killer.quarantine") == "1" })
	if got := s.metric("revrx_tasks_quarantined_total"); got != 1 {
		t.Errorf("revrx_tasks_quarantined_total = %v, want 1", got)
	}
	if n := countLines(s.logs.String(), "quarantined a task that killed two pool processes", task); n != 1 {
		t.Errorf("%d quarantine log lines naming %s, want 1", n, task)
	}
	time.Sleep(12 * time.Second) // past Celery's lost-worker timeout: its reject must not requeue it
	if q, u := rds.Do(t, "LLEN", "killer"), rds.Do(t, "HLEN", "unacked"); q != "0" || u != "0" {
		t.Errorf("after the quarantine: %s waiting, %s unacked; want 0 and 0", q, u)
	}
}
