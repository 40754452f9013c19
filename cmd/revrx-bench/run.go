package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

const (
	sampleEvery  = 250 * time.Millisecond
	readyTimeout = 90 * time.Second
	stopGrace    = 90 * time.Second // > revrx-supervise's --shutdown-timeout (25s)
)

// bench holds what every run needs.
type bench struct {
	bin, appDir, producer string // revrx-supervise, examples/app, examples/producer.py
	redisServer           string
	broker                string // brokerRedis or brokerRabbit (-broker)
	horizon               time.Duration
	idleMeasure           time.Duration // the idle scenario's CPU window
	out                   string        // results directory; runs go in out/runs/
	groupsTrace           string        // the groups scenario's trace ("" = testdata/groups.trace)
	groupsCut             float64       // its lines published from this offset on are left out (0 = none)
	groupsKeys            []string      // its contenders
	predictTrace          string        // the predict scenario's trace ("" = the simulator's daily-ramp.trace)
	predictPeriods        int           // its first periods replayed (0 = all)
}

// runOne replays tr against c on a fresh broker and measures it.
func (h *bench) runOne(ctx context.Context, tr trace, c contender) (r result, cmd command, err error) {
	r.Load1 = load1()
	s, err := h.startSession(ctx, filepath.Join(h.out, "runs", tr.name+"-"+c.key), tr.name+"/"+c.key, c)
	if err != nil {
		return r, cmd, err
	}
	defer s.close() // stops the contender only on an early return
	cmd = s.cmd
	dir, worker := s.dir, s.worker

	sctx, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	samplesc := newSampler(worker.PID()).run(sctx, sampleEvery)
	pr, err := h.startProducer(tr, benchQueue, s.broker, filepath.Join(dir, "producer.log"))
	if err != nil {
		return r, cmd, err
	}
	defer stop(pr.p, syscall.SIGKILL, time.Second) // only on an early return
	t0, err := firstPublish(ctx, []*producerRun{pr}, dir)
	if err != nil {
		return r, cmd, err
	}
	end := t0.Add(h.horizon)
	if err := harness.Sleep(ctx, time.Until(end)); err != nil {
		return r, cmd, err
	}
	stopSampling()
	samples := <-samplesc
	if !pr.p.Exited() {
		r.Truncated = true
		stop(pr.p, syscall.SIGINT, 5*time.Second) // prints its total on SIGINT
	}
	r.StopSeconds = stop(worker, syscall.SIGTERM, stopGrace).Seconds()
	if err := <-pr.scanned; err != nil {
		return r, cmd, err
	}
	r.Published = pr.published
	if !r.Truncated && pr.p.Err() != nil {
		return r, cmd, fmt.Errorf("producer: %w (see %s)", pr.p.Err(), dir)
	}
	return r, cmd, h.measure(&r, s.brk, dir, samples, t0, end)
}

// measure fills r from what is left in the broker, the record file and
// the samples over [from, to], once the contender has stopped.
func (h *bench) measure(r *result, brk runBroker, dir string, samples []sample, from, to time.Time) error {
	var err error
	if r.LeftQueued, err = brk.left(dir, benchQueue); err != nil {
		return fmt.Errorf("count what is left in the broker: %w", err)
	}
	if err := readRecord(filepath.Join(dir, "record.jsonl"), r); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	r.Lost = max(0, r.Published-r.Finished-r.LeftQueued)
	window(samples, from, to, r)
	return writeSamples(filepath.Join(dir, "samples.csv"), samples, from)
}

// startRedis starts a private redis-server (no persistence) on a free
// loopback port in dir and waits until it answers PING.
func (h *bench) startRedis(ctx context.Context, dir string) (*harness.Redis, error) {
	return harness.StartRedis(ctx, harness.RedisConfig{Bin: h.redisServer, Dir: dir,
		StartTimeout: 10 * time.Second, StopTimeout: 10 * time.Second})
}

// stopRedis stops rds and reports a failure on stderr.
func stopRedis(rds *harness.Redis) {
	if err := rds.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
}

// redisInt runs one command that answers an integer.
func redisInt(c *harness.Client, args ...string) (int, error) {
	n, err := harness.Int(c.Do(args...))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return int(n), nil
}

// leftInRedis counts the messages still in queues or unacked once the
// contender has stopped (a warm shutdown gives prefetched messages back;
// with acks_late a task killed mid-run stays in the unacked hash until
// Redis restores it), and dumps every key to dir/redis-keys.txt to
// explain a lost task.
func leftInRedis(rds *harness.Redis, dir string, queues ...string) (int, error) {
	c := rds.Client()
	defer c.Reset()
	n, err := redisInt(c, "HLEN", "unacked")
	if err != nil {
		return 0, err
	}
	for _, q := range queues {
		queued, err := redisInt(c, "LLEN", q)
		if err != nil {
			return 0, err
		}
		n += queued
	}
	dumpRedis(c, filepath.Join(dir, "redis-keys.txt"))
	return n, nil
}

// dumpRedis writes every key left in Redis with its type and size, to
// explain a lost task.
func dumpRedis(c *harness.Client, path string) {
	text := func(args ...string) string {
		out, _ := harness.Text(c.Do(args...))
		return out
	}
	size := map[string]string{"list": "LLEN", "hash": "HLEN", "zset": "ZCARD", "set": "SCARD"}
	keys, _ := c.Keys()
	var b strings.Builder
	for _, key := range keys {
		typ := text("TYPE", key)
		n := "-"
		if cmd, ok := size[typ]; ok {
			n = text(cmd, key)
		}
		fmt.Fprintf(&b, "%q %s %s\n", key, typ, n)
	}
	_ = os.WriteFile(path, []byte(b.String()), 0o644)
}

// stop stops p (harness.Process.Stop) and reports on stderr when it had
// to be killed; it returns how long p took to exit.
func stop(p *harness.Process, sig syscall.Signal, grace time.Duration) time.Duration {
	took, err := p.Stop(sig, grace)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	return took
}

// waitReady waits until the contender runs its starting pool and its
// workers have logged "ready" (revrx-supervise: also /readyz is 200).
func waitReady(ctx context.Context, c contender, p *harness.Process, httpPort int, logPath string) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	timeout := time.NewTimer(readyTimeout)
	defer timeout.Stop()
	readyLines := c.readyLines()
	client := http.Client{Timeout: time.Second}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.Done():
			return fmt.Errorf("exited: %v", p.Err())
		case <-timeout.C:
			return fmt.Errorf("timed out after %s", readyTimeout)
		case <-t.C:
		}
		tree, table := treeNow(p.PID())
		if _, slots := treeCounts(tree, table); slots != c.readySlots() {
			continue
		}
		if log, _ := os.ReadFile(logPath); strings.Count(string(log), " ready.") < readyLines {
			continue
		}
		if !c.revrx {
			return nil
		}
		if readyzOK(&client, "127.0.0.1:"+strconv.Itoa(httpPort)) {
			return nil
		}
	}
}

// producerRun is a running examples/producer.py.
type producerRun struct {
	p         *harness.Process
	t0        chan time.Time // the trace's t=0, once the first batch is out
	published int            // from its "total:" line; valid after scanned
	scanned   chan error     // its output has been read to the end
}

// startProducer replays tr into queue; its output goes to logPath.
func (h *bench) startProducer(tr trace, queue, broker, logPath string) (*producerRun, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(celeryPython, h.producer, "--trace", tr.path, "--queue", queue)
	cmd.Env = cleanEnv([]string{"CELERY_BROKER_URL=" + broker})
	rd, wr := io.Pipe()
	cmd.Stdout, cmd.Stderr = wr, logf
	p, err := harness.Start("producer", cmd)
	if err != nil {
		logf.Close()
		return nil, err
	}
	pr := &producerRun{p: p, t0: make(chan time.Time, 1), scanned: make(chan error, 1)}
	go func() { <-p.Done(); wr.Close() }()
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(rd)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			// "t=0.0s published 12 x 0.5s to bench": t is seconds since its t=0.
			if rest, ok := strings.CutPrefix(line, "t="); ok && !sent {
				at, ok := leadingNumber(rest)
				if ok {
					pr.t0 <- time.Now().Add(-time.Duration(at * float64(time.Second)))
					sent = true
				}
			}
			// "total: published 193 tasks (96.5 task-seconds) in 90.0s"
			if rest, ok := strings.CutPrefix(line, "total: published "); ok {
				n, _ := leadingNumber(rest)
				pr.published = int(n)
			}
		}
		pr.scanned <- sc.Err()
	}()
	return pr, nil
}

// firstPublish waits for every producer's t=0 and returns the earliest;
// dir, the run's directory, is named in the error when one exits first.
func firstPublish(ctx context.Context, prods []*producerRun, dir string) (time.Time, error) {
	var t0 time.Time
	for _, pr := range prods {
		select {
		case t := <-pr.t0:
			if t0.IsZero() || t.Before(t0) {
				t0 = t
			}
		case <-pr.p.Done():
			return t0, fmt.Errorf("producer exited before publishing: %v (see %s)", pr.p.Err(), dir)
		case <-ctx.Done():
			return t0, ctx.Err()
		}
	}
	return t0, nil
}

// leadingNumber parses the number at the start of s ("0.0s published…").
func leadingNumber(s string) (float64, bool) {
	end := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end < 0 {
		end = len(s)
	}
	n, err := strconv.ParseFloat(s[:end], 64)
	return n, err == nil
}

func load1() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// writeSamples saves the samples (t relative to the trace's t=0) as CSV.
func writeSamples(path string, samples []sample, t0 time.Time) error {
	var b strings.Builder
	b.WriteString("t_seconds,slots,workers,procs,pss_mb,cpu_seconds\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%.3f,%d,%d,%d,%.1f,%.2f\n", s.At.Sub(t0).Seconds(), s.Slots, s.Workers,
			s.Procs, float64(s.PssKB)/1024, s.CPU)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
