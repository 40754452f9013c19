package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// TestRabbitScalesOnDemandAndBack: as users type it on RabbitMQ (the
// broker only in the app's environment, the pool engine by default), a
// burst scales the pool up by the queue, every task runs once, the pool
// goes back to MIN once idle, no read fails, nothing is left in the
// queue, and a SIGTERM stops it warm.
func TestRabbitScalesOnDemandAndBack(t *testing.T) {
	t.Parallel() // its own vhost, supervisor and workers
	needCelery(t)
	url := rabbitVHost(t)
	s := startSupervisor(t, url, "--autoscale=6,1", "--keepalive=2s", "-Q", "burst")
	waitFor(t, 30*time.Second, "1 idle process", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
	publish(t, url, "burst", 12, 1)
	waitFor(t, 20*time.Second, "6 processes", func() bool { return len(s.status().Workers) == 6 })
	waitFor(t, 40*time.Second, "every task run", func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == 12
	})
	started, _ := tally(readRecords(t, s.record))
	for id, n := range started {
		if n != 1 {
			t.Errorf("task %s started %d times", id, n)
		}
	}
	waitFor(t, 30*time.Second, "back to 1 process", func() bool { return len(s.status().Workers) == 1 })
	if n := s.metric(`revrx_scaling_events_total{direction="up",reason="queue"}`); n < 1 {
		t.Errorf("no scale-up by the queue (%v)", n)
	}
	if n := s.metric("revrx_broker_errors_total"); n != 0 {
		t.Errorf("revrx_broker_errors_total = %v, want 0", n)
	}
	if strings.Contains(s.logs.String(), "guest:guest") {
		t.Error("the log shows the broker password")
	}
	s.signal(syscall.SIGTERM)
	if code := s.wait(30 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	// Its connections closed, anything still unacked would be ready again.
	if ready, _ := rabbitReady(t, url, "burst"); ready != 0 {
		t.Errorf("the queue holds %d messages after every task ran and the supervisor stopped", ready)
	}
}

// TestRabbitDeadWorkerMessagesComeBack: on RabbitMQ the broker itself
// requeues what a SIGKILLed late-ack worker held (the task it ran and the
// one it had reserved) as soon as its connection closes; there is no
// held set to restore. Its consumer is gone within 2 s, every task runs
// to its end, exactly the killed one twice, and nothing stays unacked.
func TestRabbitDeadWorkerMessagesComeBack(t *testing.T) {
	t.Parallel()
	needCelery(t)
	url := rabbitVHost(t)
	s := startSupervisorUnder(t, nil, []string{"REVRX_ACKS_LATE=1"}, url, "--engine", "workers", "--autoscale=2,2", "-Q", "requeue")
	waitFor(t, 30*time.Second, "2 idle workers", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	publish(t, url, "requeue", 4, 2)
	pid, _ := busyWorkerPID(t, s)
	time.Sleep(300 * time.Millisecond) // the task events reach the supervisor
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the dead worker's consumer gone", func() bool {
		_, consumers := rabbitReady(t, url, "requeue")
		return consumers == 1
	})
	t.Logf("the dead worker's consumer gone %.2f s after the SIGKILL", time.Since(killed).Seconds())
	waitFor(t, 60*time.Second, "every task finished", func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == 4
	})
	started, _ := tally(readRecords(t, s.record))
	twice := 0
	for _, c := range started {
		twice += c - 1
	}
	if twice != 1 {
		t.Errorf("%d tasks started twice, want exactly 1: the one the killed worker was running", twice)
	}
	if n := s.metric("revrx_tasks_died_total"); n != 0 {
		t.Errorf("revrx_tasks_died_total = %v with late acks, want 0", n)
	}
	s.signal(syscall.SIGTERM)
	s.wait(30 * time.Second)
	if ready, _ := rabbitReady(t, url, "requeue"); ready != 0 {
		t.Errorf("the queue holds %d messages after every task ran and the supervisor stopped", ready)
	}
}

// TestRabbitConsumerTimeoutIsReported: a late-ack task that outlives
// RabbitMQ's consumer_timeout (3 s here, checked every second) gets its
// worker's channel closed; Celery 5.2 ends the worker with an
// "Unrecoverable error", and the broker requeues the message. The
// supervisor says so, naming the setting to raise, and counts it.
func TestRabbitConsumerTimeoutIsReported(t *testing.T) {
	t.Parallel()
	needCelery(t)
	if _, err := os.Stat(harness.DefaultRabbitServer); err != nil {
		t.Skip("rabbitmq-server not installed (make deps installs it)")
	}
	r, err := harness.StartRabbit(context.Background(), harness.RabbitConfig{Dir: t.TempDir(),
		Conf: "consumer_timeout = 3000", Advanced: "[{rabbit, [{channel_tick_interval, 1000}]}].\n"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	s := startSupervisorUnder(t, nil, []string{"REVRX_ACKS_LATE=1"}, r.URL(), "--autoscale=1,1", "-Q", "long")
	waitFor(t, 30*time.Second, "1 idle process", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
	publish(t, r.URL(), "long", 1, 20)
	waitFor(t, 20*time.Second, "the consumer timeout reported", func() bool {
		return s.metric("revrx_consumer_timeouts_total") >= 1
	})
	if n := countLines(s.logs.String(), "past the broker's consumer_timeout", "Raise consumer_timeout"); n < 1 {
		t.Errorf("no log line explaining the consumer timeout:\n%s", lastLines(s.logs.String(), 30))
	}
}
