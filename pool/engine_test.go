//go:build linux

package pool

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// startEngine runs an Engine over the example app (examples/app) with a
// real app host and a Celery worker consuming queue on broker (a Redis or
// an AMQP URL), env added to their environment, until the test ends.
func startEngine(t testing.TB, broker string, maxProcs int, queue string, env ...string) *Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test with real Celery; skipped with -short")
	}
	client := "redis"
	if strings.HasPrefix(broker, "amqp") {
		client = "amqp"
	}
	if exec.Command("/usr/bin/python3", "-c", "import celery, "+client).Run() != nil {
		t.Skip("/usr/bin/python3 cannot import celery and " + client)
	}
	app, err := filepath.Abs("../examples/app")
	if err != nil {
		t.Fatal(err)
	}
	env = append([]string{"CELERY_BROKER_URL=" + broker, "PYTHONPATH=" + app}, env...)
	host, err := NewAppHost(HostConfig{Interpreter: []string{"/usr/bin/python3"}, App: "tasks", Env: env})
	if err != nil {
		t.Fatal(err)
	}
	host.Start()
	done := make(chan struct{})
	timer := time.AfterFunc(30*time.Second, func() { close(done) })
	defer timer.Stop()
	cfg, err := host.Config(done)
	if err != nil {
		host.Close()
		t.Fatalf("app host: %v", err)
	}
	if cfg.PoolEngineGap != "" { // the version gate, for this broker's transport
		host.Close()
		t.Fatalf("the app host refuses the pool engine: %s", cfg.PoolEngineGap)
	}
	e, err := NewEngine(EngineConfig{Max: maxProcs, Main: Config{
		Command: []string{"/usr/bin/python3", "-m", "celery"}, App: "tasks", Queues: []string{queue},
		// The product's default: under the race detector on a loaded 2-core
		// machine, a main's warm stop after a Redis outage once took more
		// than 10 s (seen twice in ten runs of TestEngineSizesThePoolDuringARedisOutage).
		Env: env, Host: host, ShutdownTimeout: 25 * time.Second,
	}})
	if err != nil {
		host.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitUntil(t, 30*time.Second, "the worker main attached", func() bool { return e.State().Attached })
	return e
}

func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// idleProcesses counts the engine's provably idle processes.
func idleProcesses(e *Engine) (idle []Worker) {
	for _, w := range e.Workers() {
		if w.Process.Phase == ProcessIdle {
			idle = append(idle, w)
		}
	}
	return idle
}

// TestEngineSizesThePoolDuringARedisOutage: the control socket does not go
// through the broker, so the pool grows and shrinks while Redis is down
// (the worker main is then retrying its connection, outside its event
// loop, and serves the socket from Celery's retry callback); MAX holds;
// and once Redis is back every process is up and they run tasks.
func TestEngineSizesThePoolDuringARedisOutage(t *testing.T) {
	rds := harness.StartTestRedis(t)
	e := startEngine(t, rds.URL(0), 4, "outage")
	if n, err := e.Grow(2); n != 2 || err != nil {
		t.Fatalf("Grow(2) = %d, %v; want 2, nil", n, err)
	}
	waitUntil(t, 10*time.Second, "2 idle processes", func() bool { return len(idleProcesses(e)) == 2 })

	rds.Kill()
	time.Sleep(1500 * time.Millisecond) // the main notices and starts retrying
	if n, err := e.Grow(5); n != 2 || err != nil {
		t.Fatalf("Grow(5) with 2 of max 4 alive, Redis down = %d, %v; want 2 (capped at max), nil", n, err)
	}
	if n, err := e.Grow(1); n != 0 || !errors.Is(err, ErrFull) {
		t.Fatalf("Grow(1) at max = %d, %v; want 0, ErrFull", n, err)
	}
	if got := len(e.Workers()); got != 4 {
		t.Fatalf("%d processes after growing during the outage, want 4", got)
	}
	// The new ones stay "starting" until the main's loop reads their first
	// message, after the reconnect; the two older ones are provably idle.
	idle := idleProcesses(e)
	if len(idle) != 2 {
		t.Fatalf("%d idle processes during the outage, want the 2 older ones", len(idle))
	}
	if err := e.Stop(idle[0].Name); err != nil {
		t.Fatalf("Stop(%s) during the outage: %v", idle[0].Name, err)
	}
	waitUntil(t, 5*time.Second, "the stopped process in phase stopping", func() bool {
		for _, w := range e.Workers() {
			if w.Name == idle[0].Name {
				return w.Process.Phase == ProcessStopping
			}
		}
		return false
	})
	// It counts against MAX until the main's loop has joined it.
	if n, err := e.Grow(1); n != 0 || !errors.Is(err, ErrFull) {
		t.Fatalf("Grow(1) with 3 up and 1 stopping of max 4 = %d, %v; want 0, ErrFull", n, err)
	}

	rds.Restart(t)
	waitUntil(t, 20*time.Second, "3 idle processes after the outage", func() bool {
		return len(e.Workers()) == 3 && len(idleProcesses(e)) == 3
	})
	// Command, not Do: this process reaps every unmanaged child (the pool's
	// app host makes it a child subreaper), redis-cli included.
	rds.Command(t, "LPUSH", "outage", sleepMessage("after-outage"))
	waitUntil(t, 30*time.Second, "the task taken after the outage", func() bool {
		return rds.Command(t, "LLEN", "outage") == "0" && rds.Command(t, "HLEN", "unacked") == "0"
	})
}

// sleepMessage is a Celery protocol 2 message for tasks.sleep(0.1) with the
// given id, as kombu stores it in a Redis list.
func sleepMessage(id string) string { return sleepFor(id, 0.1) }

// sleepFor is sleepMessage for tasks.sleep(seconds).
func sleepFor(id string, seconds float64) string {
	body, _ := json.Marshal([]any{[]any{seconds}, map[string]any{}, map[string]any{}})
	env, _ := json.Marshal(map[string]any{
		"body": base64.StdEncoding.EncodeToString(body), "content-encoding": "utf-8",
		"content-type": "application/json",
		"headers":      map[string]any{"lang": "py", "task": "tasks.sleep", "id": id, "root_id": id},
		"properties": map[string]any{"correlation_id": id, "delivery_mode": 2, "priority": 0,
			"delivery_info": map[string]any{"exchange": "", "routing_key": "outage"},
			"body_encoding": "base64", "delivery_tag": "tag-" + id},
	})
	return string(env)
}

// BenchmarkEngineGrow7 is the pool engine's scale-up latency: from the
// request for 7 processes to all 7 ready (their first message read by the
// main: they take tasks from then on), with 3 idle before, then back to 3.
// Run it alone: go test -run XXX -bench EngineGrow7 -benchtime 10x ./pool/
func BenchmarkEngineGrow7(b *testing.B) {
	rds := harness.StartTestRedis(b)
	e := startEngine(b, rds.URL(0), 10, "outage")
	if _, err := e.Grow(3); err != nil {
		b.Fatal(err)
	}
	waitUntil(b, 10*time.Second, "3 idle", func() bool { return len(idleProcesses(e)) == 3 })
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		if n, err := e.Grow(7); n != 7 || err != nil {
			b.Fatalf("Grow(7) = %d, %v", n, err)
		}
		for len(idleProcesses(e)) < 10 {
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		for _, w := range idleProcesses(e)[3:] {
			if err := e.Stop(w.Name); err != nil {
				b.Fatal(err)
			}
		}
		waitUntil(b, 10*time.Second, "back to 3", func() bool { return len(e.Workers()) == 3 })
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/grow7")
}
