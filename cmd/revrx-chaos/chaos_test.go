package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// TestChaosShort runs the -short suite (`CHAOS_SHORT=1 make chaos`) against
// a revrx-supervise built from this tree, on its default engine (the pool
// engine; CHAOS_ENGINE=workers for the whole-worker one), and fails on any
// missed expectation of its report. It is skipped under -short and where Celery or
// redis-server is missing. It disturbs nothing else: its redis-server is a
// private one on a free port, the supervisor's HTTP address is a free port,
// and it signals only processes it started and their descendants. A lost
// task does not fail it only if the AOF proves that case (popped by a worker
// as it died, never in unacked); see lostVerdict.
func TestChaosShort(t *testing.T) {
	runShort(t, brokerRedis, "redis", "72s", func() error { _, err := exec.LookPath("redis-server"); return err })
}

// The same short suite on RabbitMQ is `CHAOS_SHORT=1 make chaos
// BROKER=rabbitmq` (45–75 s, a node's start included): kept out of make
// test, which must stay under 5 minutes; the RabbitMQ faults it injects
// have end-to-end tests of their own (cmd/revrx-supervise rabbit_e2e_test.go,
// pool engine_rabbit_test.go).

// runShort builds the supervisor and runs the -short suite on broker
// (whose Python client is client) within deadline; server reports
// whether the broker's server is installed.
func runShort(t *testing.T, broker, client, deadline string, server func() error) {
	if testing.Short() {
		t.Skip("about a minute of real Celery workers: skipped with -short")
	}
	if err := server(); err != nil {
		t.Skipf("no %s server: %v (make deps)", broker, err)
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import celery, "+client).Run(); err != nil {
		t.Skipf("/usr/bin/python3 cannot import celery and %s (make deps)", client)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	bin := filepath.Join(t.TempDir(), "revrx-supervise")
	if err := harness.BuildSupervisor(context.Background(), root, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(100*time.Millisecond))
	args := []string{"-short", "-broker", broker, "-bin", bin, "-deadline", deadline}
	if seed := os.Getenv("CHAOS_SEED"); seed != "" {
		args = append(args, "-seed", seed)
	}
	if out := os.Getenv("CHAOS_OUT"); out != "" {
		args = append(args, "-out", filepath.Join(out, broker))
	}
	if code := realMain(args); code != 0 {
		t.Fatalf("chaos -short -broker %s exited %d after %s: an expectation failed or the run broke (the report above says which; replay with CHAOS_SEED)",
			broker, code, time.Since(start).Round(time.Second))
	}
	t.Logf("chaos -short -broker %s passed in %s", broker, time.Since(start).Round(time.Second))
}
