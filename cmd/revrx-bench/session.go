package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// session is one contender started, and ready, on a fresh broker of its
// own: what a trace replay and each scenario begin with.
type session struct {
	c       contender
	cmd     command // as run
	dir     string  // the run directory: logs, record file, Redis keys
	broker  string  // its URL
	record  string  // $REVRX_RECORD
	logPath string  // the contender's output
	brk     runBroker
	worker  *harness.Process // the contender's root process
}

// startSession creates dir (emptied first), starts a private broker and c
// there, and waits until c is ready. name labels the progress lines.
// On an error, whatever it started is stopped again.
func (h *bench) startSession(ctx context.Context, dir, name string, c contender) (*session, error) {
	s := &session{c: c, dir: dir, record: filepath.Join(dir, "record.jsonl"),
		logPath: filepath.Join(dir, "contender.log")}
	brk, err := h.startRunBroker(ctx, dir)
	if err != nil {
		return nil, err
	}
	s.brk, s.broker = brk, brk.url()
	httpPort, err := harness.FreePort()
	if err != nil {
		s.close()
		return nil, err
	}
	s.cmd = commandFor(c, h.bin, h.appDir, s.broker, s.record, "127.0.0.1:"+strconv.Itoa(httpPort))
	fmt.Fprintf(os.Stderr, "bench: [%s] %s\n", name, s.cmd)
	s.worker, err = harness.StartLogged(c.key, s.cmd.argv, s.cmd.dir, cleanEnv(s.cmd.env), s.logPath)
	if err != nil {
		s.close()
		return nil, err
	}
	if err := waitReady(ctx, c, s.worker, httpPort, s.logPath); err != nil {
		s.close()
		return nil, fmt.Errorf("%s not ready: %w (see %s)", c.key, err, s.logPath)
	}
	return s, nil
}

// close stops the contender if it still runs (SIGTERM to its root, its tree
// SIGKILLed 10 s later), then the broker.
func (s *session) close() {
	if s.worker != nil {
		stop(s.worker, syscall.SIGTERM, 10*time.Second)
	}
	s.brk.stop()
}

// waitFor checks cond every sampleEvery until it holds (nil), timeout
// passes or ctx ends.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("not within %s", timeout)
		case <-t.C:
		}
	}
	return nil
}

// publishBurst publishes n tasks.sleep(seconds) to the bench queue at once
// (producer.py --burst) and waits until the producer has exited.
func (h *bench) publishBurst(ctx context.Context, s *session, n int, seconds float64) error {
	logPath := filepath.Join(s.dir, "producer.log")
	p, err := harness.StartLogged("producer", []string{celeryPython, h.producer, "--burst", strconv.Itoa(n),
		"--seconds", strconv.FormatFloat(seconds, 'g', -1, 64), "--queue", benchQueue},
		s.dir, cleanEnv([]string{"CELERY_BROKER_URL=" + s.broker}), logPath)
	if err != nil {
		return err
	}
	defer stop(p, syscall.SIGKILL, time.Second) // only on an early return
	if err := p.Wait(ctx); err != nil {
		return fmt.Errorf("producer: %w (see %s)", err, logPath)
	}
	return nil
}

// progress is what the contender is doing now: tasks running (a "start"
// line in the record and no "end" yet) and the pool processes in its tree.
func (s *session) progress() (running, slots int) {
	rec, _ := loadRecord(s.record)
	for id := range rec.starts {
		if !rec.ends[id] {
			running++
		}
	}
	tree, table := treeNow(s.worker.PID())
	_, slots = treeCounts(tree, table)
	return running, slots
}
