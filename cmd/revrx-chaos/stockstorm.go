package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// storm starts the remote control loop, publishes the tasks while it runs,
// and waits until the tasks are done or stuck.
func (s *stockStorm) storm(ctx context.Context, rng *rand.Rand) error {
	ctlFor := time.Duration(stockBatches)*stockEvery + 2*time.Second
	argv := []string{"/usr/bin/python3", "-c", stockControl, seconds(ctlFor), seconds(stockCtlEvery)}
	var err error
	if s.ctl, err = harness.StartLogged("stock remote control", argv, s.cfg.appDir, s.env(), s.logPath("control")); err != nil {
		return err
	}
	if err := s.awaitLine(ctx, "control", "control ready", 20*time.Second); err != nil {
		return err
	}
	steps := make([]publishStep, stockBatches)
	for i := range steps {
		d := make([]float64, stockTasks/stockBatches)
		for j := range d {
			d[j] = 0.02 + rng.Float64()*0.13
		}
		steps[i] = publishStep{at: time.Duration(i) * stockEvery, durations: d}
	}
	if err := s.pub.run(ctx, time.Now(), steps); err != nil {
		return err
	}
	return s.awaitDone(ctx)
}

// seconds formats d for the control script's argv.
func seconds(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

// awaitLine waits until the named log holds line.
func (s *stockStorm) awaitLine(ctx context.Context, log, line string, limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		if b, _ := os.ReadFile(s.logPath(log)); strings.Contains(string(b), line) {
			return nil
		}
		if err := harness.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("no %q in %s within %s", line, s.logPath(log), limit)
}

// awaitDone waits until every published task has finished, or nothing has
// started nor finished for 4 s (the rest is stuck or gone).
func (s *stockStorm) awaitDone(ctx context.Context) error {
	progress, at := -1, time.Now()
	for time.Since(at) < 4*time.Second {
		s.rec.poll()
		starts, ends := s.rec.snapshot()
		pub, _ := s.pub.ids()
		if len(ends) >= len(pub) {
			return nil
		}
		if n := len(starts) + len(ends); n != progress {
			progress, at = n, time.Now()
		}
		if err := harness.Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// settle warm-stops the worker (SIGTERM to its main process alone: its
// unacked messages go back to the queue), then counts what ran, what is
// left in Redis and what is gone.
func (s *stockStorm) settle(res *stockResult) {
	if s.worker != nil {
		_ = s.worker.Signal(syscall.SIGTERM)
		if !s.worker.WaitFor(10 * time.Second) {
			s.worker.KillTree()
		}
	}
	if s.ctl != nil {
		s.ctl.WaitFor(2 * time.Second)
		s.ctl.KillTree()
		b, _ := os.ReadFile(s.logPath("control"))
		if i := strings.LastIndex(string(b), "sent pool_shrink="); i >= 0 {
			fmt.Sscanf(string(b[i:]), "sent pool_shrink=%d pool_grow=%d", &res.shrinks, &res.grows)
		}
	}
	if s.rec == nil {
		return
	}
	s.rec.poll()
	s.count(res)
}

// count fills res from the record, the worker's log and Redis.
func (s *stockStorm) count(res *stockResult) {
	pub, _ := s.pub.ids()
	starts, ends := s.rec.snapshot()
	b, _ := os.ReadFile(s.logPath("worker"))
	log := string(b)
	res.workerLost = strings.Count(log, "Task handler raised error: WorkerLostError")
	held := ""
	if s.redis != nil {
		rc := harness.NewClient(s.redis.Addr)
		q, _ := harness.Strings(rc.Do("LRANGE", chaosQueue, "0", "-1"))
		u, _ := harness.Strings(rc.Do("HVALS", "unacked"))
		rc.Reset()
		held = strings.Join(q, "\n") + strings.Join(u, "\n")
	}
	res.published = len(pub)
	for id := range pub {
		switch {
		case ends[id] > 0:
			res.finished++
		case strings.Contains(held, id):
			res.stranded++
		case len(starts[id]) > 0:
			res.lostStarted++
		case strings.Contains(log, "["+id+"] received"):
			res.lostReceived++
		default:
			res.lostUnseen++
		}
	}
}

// stop kills whatever of the storm is still running: the worker's process
// tree, the control loop, its Redis (all started by the harness, by PID).
func (s *stockStorm) stop() {
	for _, c := range []*harness.Process{s.worker, s.ctl} {
		if c != nil {
			c.KillTree()
		}
	}
	if s.redis != nil {
		s.redis.Kill()
	}
}
