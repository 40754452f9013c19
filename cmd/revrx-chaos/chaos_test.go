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
	if testing.Short() {
		t.Skip("about a minute of real Celery workers: skipped with -short")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import celery, redis").Run(); err != nil {
		t.Skip("/usr/bin/python3 cannot import celery and redis (make deps)")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("no redis-server (make deps)")
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
	args := []string{"-short", "-bin", bin, "-deadline", "72s"}
	if seed := os.Getenv("CHAOS_SEED"); seed != "" {
		args = append(args, "-seed", seed)
	}
	if out := os.Getenv("CHAOS_OUT"); out != "" {
		args = append(args, "-out", out)
	}
	if code := realMain(args); code != 0 {
		t.Fatalf("chaos -short exited %d after %s: an expectation failed or the run broke (the report above says which; replay with CHAOS_SEED)",
			code, time.Since(start).Round(time.Second))
	}
	t.Logf("chaos -short passed in %s", time.Since(start).Round(time.Second))
}
