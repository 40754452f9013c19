//go:build linux

package pool

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const secretURL = "redis://:s3cret-pw@redis.example:6379/0"

// testPool builds a pool whose workers are this test binary in helper mode.
func testPool(t *testing.T, mode string, edit func(*Config)) (*Pool, *recorder, string) {
	t.Helper()
	dir := t.TempDir()
	rec := newRecorder()
	cfg := Config{
		Command: []string{os.Args[0], "-test.run=^$"},
		Env: []string{"POOL_HELPER=" + mode, "POOL_HELPER_DIR=" + dir,
			"CELERY_BROKER_URL=" + secretURL},
		ShutdownTimeout:   5 * time.Second,
		MinBackoff:        20 * time.Millisecond,
		MaxBackoff:        160 * time.Millisecond,
		FailedStartWindow: 100 * time.Millisecond,
		Logger:            slog.New(rec),
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, rec, dir
}

// run starts p.Run; the returned func cancels it and returns Run's error.
// Cleanup makes sure Run has returned before the test ends.
func run(t *testing.T, p *Pool) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func isOutput(name, text string) func(record) bool {
	return func(r record) bool { return r.Attrs[keyWorker] == name && r.Msg == text }
}

func TestAddStopReusesSlots(t *testing.T) {
	p, rec, _ := testPool(t, "celery-like", nil)
	stop := run(t, p)
	host, _ := os.Hostname()
	var names []string
	for i := 1; i <= 3; i++ {
		w, err := p.Add()
		if err != nil {
			t.Fatalf("Add: %v", err)
		}
		want := "worker" + strconv.Itoa(i) + "@" + host
		if w.Name != want || w.Slot != i || w.State != Running || w.PID == 0 {
			t.Fatalf("Add() = %+v, want %s in slot %d running", w, want, i)
		}
		names = append(names, w.Name)
		rec.waitFor(t, w.Name+" ready", isOutput(w.Name, "ready"))
	}
	if err := p.Stop(names[1]); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := p.Stop(names[1]); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	waitWorkers(t, p, "slot 2 freed", func(ws []Worker) bool { return len(ws) == 2 })
	w, err := p.Add()
	if err != nil || w.Slot != 2 || w.Name != names[1] {
		t.Fatalf("Add() = %+v, %v; want slot 2 reused as %s", w, err, names[1])
	}
	if err := p.Stop("nobody@nowhere"); !errors.Is(err, ErrUnknownWorker) {
		t.Fatalf("Stop(unknown) = %v, want ErrUnknownWorker", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil after clean shutdown", err)
	}
	if _, err := p.Add(); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("Add after shutdown = %v, want ErrShuttingDown", err)
	}
	if n := rec.count(func(r record) bool { return r.Msg == "worker exited unexpectedly" }); n != 0 {
		t.Fatalf("%d unexpected exits during warm stops", n)
	}
}

func TestArgvAndEnv(t *testing.T) {
	p, rec, dir := testPool(t, "celery-like", func(c *Config) {
		c.App = "proj.celery_app"
		c.Queues = []string{"reports", "mail"}
		c.Concurrency = 2
		c.Pool = "threads"
		c.ExtraArgs = []string{"--loglevel=info", "--prefetch-multiplier=4"}
	})
	run(t, p)
	w, err := p.Add()
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "ready", isOutput(w.Name, "ready"))
	b, err := os.ReadFile(filepath.Join(dir, "argv-"+strconv.Itoa(w.PID)))
	if err != nil {
		t.Fatal(err)
	}
	argvPart, envPart, _ := strings.Cut(string(b), "\n--env--\n")
	argv := strings.Split(argvPart, "\n")[1:]
	want := []string{"-test.run=^$", "-A", "proj.celery_app", "worker", "-Q", "reports,mail",
		"-n", w.Name, "--concurrency", "2", "--pool", "threads",
		"-E", "--without-mingle", "--without-gossip", "--prefetch-multiplier=1",
		"--loglevel=info", "--prefetch-multiplier=4"}
	if !slices.Equal(argv, want) {
		t.Fatalf("argv = %q\nwant %q", argv, want)
	}
	if strings.Contains(argvPart, "s3cret") {
		t.Fatalf("secret in argv: %q", argvPart)
	}
	if !slices.Contains(strings.Split(envPart, "\n"), "CELERY_BROKER_URL="+secretURL) {
		t.Fatalf("child env lacks CELERY_BROKER_URL")
	}
	if n := rec.count(func(r record) bool { return strings.Contains(r.Msg, "s3cret") }); n != 0 {
		t.Fatalf("secret logged %d times", n)
	}
}

func TestWarmStopSignalsMainPIDOnly(t *testing.T) {
	p, rec, dir := testPool(t, "celery-like", func(c *Config) {
		c.Env = append(c.Env, "POOL_HELPER_GROUPCHILD=1", "POOL_HELPER_TERM_MS=200")
	})
	run(t, p)
	w, err := p.Add()
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "ready", isOutput(w.Name, "ready"))
	if err := p.Stop(w.Name); err != nil {
		t.Fatal(err)
	}
	stopped := rec.waitFor(t, "worker stopped", isOutput(w.Name, "worker stopped"))
	if stopped.Attrs[keyStatus] != "exit status 0" {
		t.Fatalf("status = %v, want exit status 0", stopped.Attrs[keyStatus])
	}
	if rec.count(isOutput(w.Name, "warm shutdown")) != 1 {
		t.Fatalf("main process did not get SIGTERM")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "groupchild-"+strconv.Itoa(w.PID))); err == nil {
		t.Fatalf("the group child got SIGTERM (%q): the group was signalled", b)
	}
}

func TestIgnoreTermIsKilledAfterTimeout(t *testing.T) {
	p, rec, _ := testPool(t, "ignore-term", func(c *Config) { c.ShutdownTimeout = 300 * time.Millisecond })
	stop := run(t, p)
	w1, _ := p.Add()
	w2, _ := p.Add()
	rec.waitFor(t, "ready", isOutput(w1.Name, "ready"))
	rec.waitFor(t, "ready", isOutput(w2.Name, "ready"))
	start := time.Now()
	if err := p.Stop(w1.Name); err != nil {
		t.Fatal(err)
	}
	stopped := rec.waitFor(t, "worker stopped", isOutput(w1.Name, "worker stopped"))
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("killed after %s, before ShutdownTimeout", el)
	}
	if stopped.Attrs[keyStatus] != "signal: killed" {
		t.Fatalf("status = %v, want signal: killed", stopped.Attrs[keyStatus])
	}
	if err := stop(); !errors.Is(err, ErrKilled) {
		t.Fatalf("Run = %v, want ErrKilled", err)
	}
}

func TestKillStopsRunSoon(t *testing.T) {
	p, rec, _ := testPool(t, "ignore-term", func(c *Config) { c.ShutdownTimeout = time.Hour })
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	w, _ := p.Add()
	rec.waitFor(t, "ready", isOutput(w.Name, "ready"))
	p.Kill()
	select {
	case err := <-done:
		if !errors.Is(err, ErrKilled) {
			t.Fatalf("Run = %v, want ErrKilled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Kill")
	}
	if _, err := p.Add(); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("Add after Kill = %v, want ErrShuttingDown", err)
	}
}
