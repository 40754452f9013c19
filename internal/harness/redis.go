package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults of RedisConfig.
const (
	DefaultRedisStartTimeout = 5 * time.Second
	DefaultRedisStopTimeout  = 10 * time.Second
)

// redisStartAttempts is how many free ports StartRedis tries when
// RedisConfig.Port is 0 (one may be taken between the pick and the bind).
const redisStartAttempts = 5

// RedisConfig says how to run a private redis-server.
type RedisConfig struct {
	// Bin is the redis-server binary; "" looks "redis-server" up in PATH.
	Bin string
	// Dir is the server's working and data directory, made if missing; its
	// output is appended to Dir/redis.log. Required.
	Dir string
	// Port is the loopback port; 0 picks a free one (FreePort), and another
	// if the server cannot bind it. Use StablePort for a server that is
	// restarted on the same port.
	Port int
	// AOF keeps every acknowledged write in an append-only file in Dir
	// (appendonly yes, appendfsync everysec), so a server stopped with Stop
	// (SIGTERM: Redis flushes and fsyncs the AOF) has it again when started
	// from the same Dir. Without it nothing is persisted. RDB snapshots are
	// always off.
	AOF bool
	// Args are appended to the command line, e.g. "--requirepass", "s3cr3t"
	// (Client and Do then authenticate with it).
	Args []string
	// StartTimeout bounds the wait for PING to answer; DefaultRedisStartTimeout if zero.
	StartTimeout time.Duration
	// NoDeathSignal starts the server without Pdeathsig (see Start): for a
	// test process, whose pool may retire the thread that forked it; the
	// caller must Kill it.
	NoDeathSignal bool
	// StopTimeout is Stop's grace after SIGTERM; DefaultRedisStopTimeout if zero.
	StopTimeout time.Duration
}

// withDefaults returns a copy with the zero fields set.
func (c RedisConfig) withDefaults() (RedisConfig, error) {
	if c.Dir == "" {
		return c, errors.New("redis: Dir is required")
	}
	if c.Bin == "" {
		bin, err := exec.LookPath("redis-server")
		if err != nil {
			return c, err
		}
		c.Bin = bin
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultRedisStartTimeout
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = DefaultRedisStopTimeout
	}
	return c, nil
}

// Redis is a private redis-server child bound to 127.0.0.1 (never the
// system Redis on 6379), run in the foreground as a Process: it dies with
// the harness (unless RedisConfig.NoDeathSignal).
type Redis struct {
	Addr string // host:port, e.g. "127.0.0.1:40123"
	Port int    // the TCP port in Addr
	Dir  string // RedisConfig.Dir

	cfg    RedisConfig
	mu     sync.Mutex
	proc   *Process
	starts int
}

// StartRedis starts redis-server as cfg says and waits until it answers
// PING. On an error nothing it started is left running.
func StartRedis(ctx context.Context, cfg RedisConfig) (*Redis, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	r := &Redis{Dir: cfg.Dir, cfg: cfg}
	if cfg.Port != 0 {
		r.setPort(cfg.Port)
		if err := r.Start(ctx); err != nil {
			return nil, err
		}
		return r, nil
	}
	for range redisStartAttempts {
		port, perr := FreePort()
		if perr != nil {
			return nil, perr
		}
		r.setPort(port)
		if err = r.startOnce(ctx, time.Now().Add(cfg.StartTimeout)); err == nil {
			return r, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func (r *Redis) setPort(port int) {
	r.Port = port
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// URL returns "redis://127.0.0.1:PORT/db" (without any password).
func (r *Redis) URL(db int) string { return fmt.Sprintf("redis://%s/%d", r.Addr, db) }

// Password is the --requirepass in RedisConfig.Args, or "".
func (r *Redis) Password() string {
	for i := 0; i+1 < len(r.cfg.Args); i++ {
		if r.cfg.Args[i] == "--requirepass" {
			return r.cfg.Args[i+1]
		}
	}
	return ""
}

// Client returns a new Client for the server, with its password.
func (r *Redis) Client() *Client { return &Client{Addr: r.Addr, Password: r.Password()} }

// Process is the running server's process (nil before the first start).
func (r *Redis) Process() *Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc
}

// Start starts the server again on its port (after Stop or Kill) and waits
// until it answers PING, starting it anew while it exits at once (its port
// still held) for up to StartTimeout.
func (r *Redis) Start(ctx context.Context) error {
	deadline := time.Now().Add(r.cfg.StartTimeout)
	for {
		err := r.startOnce(ctx, deadline)
		if err == nil || !errors.Is(err, errRedisExited) || time.Now().After(deadline) {
			return err
		}
		if err := Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// errRedisExited: the server exited before it answered PING.
var errRedisExited = errors.New("redis-server exited")

// startOnce starts redis-server on r.Port and waits for PING until
// deadline; on an error the process is gone.
func (r *Redis) startOnce(ctx context.Context, deadline time.Time) error {
	r.mu.Lock()
	r.starts++
	r.mu.Unlock()
	log := filepath.Join(r.cfg.Dir, "redis.log")
	p, err := startLogged("redis-server", r.argv(), r.cfg.Dir, os.Environ(), log, !r.cfg.NoDeathSignal)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
	c := r.Client()
	defer c.Reset()
	for time.Now().Before(deadline) {
		if v, err := c.Do("PING"); err == nil && v == "PONG" {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%w (port %d, start %d): %s", errRedisExited, r.Port, r.starts, logTail(log))
		}
		if err := Sleep(ctx, 20*time.Millisecond); err != nil {
			p.KillTree()
			return err
		}
	}
	p.KillTree()
	return fmt.Errorf("redis-server on port %d did not answer PING within %s (start %d): %s",
		r.Port, r.cfg.StartTimeout, r.starts, logTail(log))
}

// argv is the server's command line.
func (r *Redis) argv() []string {
	argv := []string{r.cfg.Bin, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--dir", r.cfg.Dir, "--save", "", "--daemonize", "no"}
	if r.cfg.AOF {
		argv = append(argv, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		argv = append(argv, "--appendonly", "no")
	}
	return append(argv, r.cfg.Args...)
}

// Stop shuts the server down with SIGTERM (Redis's SHUTDOWN: with AOF the
// file is flushed and fsynced) and waits for it to exit; after StopTimeout
// it kills it and returns an error wrapping ErrKilled. A stopped server is
// not an error.
func (r *Redis) Stop() error {
	p := r.Process()
	if p == nil {
		return nil
	}
	_, err := p.Stop(syscall.SIGTERM, r.cfg.StopTimeout)
	return err
}

// Kill SIGKILLs the server (an outage, nothing flushed) and waits for it
// to exit. It is idempotent and safe to call from several goroutines.
func (r *Redis) Kill() {
	if p := r.Process(); p != nil {
		p.KillTree()
	}
}

// FreePort returns a loopback TCP port nobody held a moment ago (the
// kernel's pick; never 6379 while a Redis holds it).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StablePort picks, with rng, a free loopback port below the kernel's
// ephemeral range (32768+), so that no outgoing connection can hold it
// while a server is down between a stop and a restart.
func StablePort(rng *rand.Rand) (int, error) {
	for range 200 {
		port := 20000 + rng.IntN(12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port in 20000-32000")
}

// logTail is the last lines of the log at path, on one line.
func logTail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ") + " (" + path + ")"
}
