package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// TestTaskMetrics: with real workers and a real producer (which sends
// task-sent events, as the example app configures), every task shows in
// the received and started counters and its publish -> start wait in
// revrx_queue_wait_seconds{queue}; the per-worker gauges name each worker.
// On RabbitMQ the events come through the celeryev topic exchange.
func TestTaskMetrics(t *testing.T) {
	t.Parallel() // each case has its own broker, supervisor and workers
	needCelery(t)
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		testTaskMetrics(t, harness.StartTestRedis(t).URL(0))
	})
	t.Run("rabbitmq", func(t *testing.T) {
		t.Parallel()
		testTaskMetrics(t, rabbitVHost(t))
	})
}

func testTaskMetrics(t *testing.T, url string) {
	s := startSupervisor(t, url, "--autoscale=2,2", "-Q", "metrics")
	waitFor(t, 30*time.Second, "2 idle workers", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	name := s.status().Workers[0].Name
	if v := s.metric(`revrx_worker_up{worker="` + name + `"}`); v != 1 {
		t.Fatalf("revrx_worker_up{worker=%q} = %v, want 1", name, v)
	}
	publish(t, url, "metrics", 6, 0.2)
	waitFor(t, 30*time.Second, "6 tasks started and counted", func() bool {
		return s.metric("revrx_tasks_started_total") == 6 && s.metric(`revrx_queue_wait_seconds_count{queue="metrics"}`) == 6
	})
	if v := s.metric("revrx_tasks_received_total"); v != 6 {
		t.Errorf("revrx_tasks_received_total = %v, want 6", v)
	}
	if code, out, errOut := runCLI("status", "--addr", s.addr); code != 0 || !strings.Contains(out, name) {
		t.Errorf("revrx-supervise status against the real supervisor: exit %d, %q\n%s", code, errOut, out)
	}
	if code, _, errOut := runCLI("healthcheck", "--addr", s.addr); code != 0 {
		t.Errorf("revrx-supervise healthcheck: exit %d, %q", code, errOut)
	}
	_, exposition := s.get("/metrics")
	lint := exec.Command("promtool", "check", "metrics")
	lint.Stdin = bytes.NewReader(exposition)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics (make deps installs promtool): %v\n%s", err, out)
	}
	sum := s.metric(`revrx_queue_wait_seconds_sum{queue="metrics"}`)
	if sum <= 0 || sum > 6*10 {
		t.Errorf("revrx_queue_wait_seconds_sum = %v, want a positive wait of seconds", sum)
	}
}
