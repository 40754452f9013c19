package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// redisServer is the harness's private redis-server. It keeps its data in
// an append-only file (appendonly yes, appendfsync everysec) in its own
// directory and is stopped with SIGTERM, which Redis handles as SHUTDOWN:
// it writes and fsyncs the AOF before exiting, so every acknowledged write
// (queued messages, the unacked hash) is there again when it restarts on the
// same port from the same directory. RDB snapshots are off: a graceful
// shutdown would save one too, but the AOF also bounds the loss of a crash
// to a second, which is how a broker that must keep messages is run.
type redisServer struct {
	bin, cli string
	dir      string // data directory (the AOF lives in dir/appendonlydir)
	port     int
	proc     *child
	starts   int
}

// freeRedisPort picks a free loopback port below the kernel's ephemeral
// range (32768+), so that no outgoing connection can hold it while Redis
// is down between a stop and a restart.
func freeRedisPort(rng *rand.Rand) (int, error) {
	for range 200 {
		port := 20000 + rng.IntN(12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free loopback port in 20000-32000")
}

// startRedis starts a redis-server binary bin on a free port with its data
// in dir (made if missing).
func startRedis(ctx context.Context, bin, dir string, rng *rand.Rand) (*redisServer, error) {
	port, err := freeRedisPort(rng)
	if err != nil {
		return nil, err
	}
	s := &redisServer{bin: bin, dir: dir, port: port}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return s, s.start(ctx)
}

// addr is host:port of the server.
func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// start starts redis-server and waits until it answers PING.
func (s *redisServer) start(ctx context.Context) error {
	s.starts++
	argv := []string{s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--dir", s.dir, "--appendonly", "yes", "--appendfsync", "everysec",
		"--save", "", "--protected-mode", "yes", "--daemonize", "no"}
	p, err := startChild("redis-server", argv, s.dir, os.Environ(), filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return err
	}
	s.proc = p
	c := newRESP(s.addr())
	defer c.reset()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if v, err := c.do("PING"); err == nil && v == "PONG" {
			return nil
		}
		if p.exited() {
			break
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	p.killTree()
	return fmt.Errorf("redis-server on port %d did not answer PING (start %d, see %s/redis.log)", s.port, s.starts, s.dir)
}

// stop shuts the server down with SIGTERM (Redis's SHUTDOWN: the AOF is
// flushed and fsynced) and waits for it to exit; SIGKILL after 15 s.
func (s *redisServer) stop() error {
	if s.proc == nil || s.proc.exited() {
		return nil
	}
	if err := s.proc.signal(syscall.SIGTERM); err != nil {
		return err
	}
	if s.proc.waitFor(15 * time.Second) {
		return nil
	}
	s.proc.killTree()
	return fmt.Errorf("redis-server did not exit within 15 s of SIGTERM: killed")
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
