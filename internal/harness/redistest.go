package harness

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
)

// TB is the part of testing.TB the test helpers use (this package does not
// import testing, so the harness binaries do not link it).
type TB interface {
	Helper()
	Cleanup(func())
	TempDir() string
	Skip(args ...any)
	Fatalf(format string, args ...any)
}

// StartTestRedis starts a private redis-server for a test: a free loopback
// port, nothing persisted, data in t.TempDir(); args are appended to its
// command line (e.g. "--requirepass", "secret"). It skips the test if
// redis-server is not on PATH, fails it if the server does not answer PING
// within 5 s (trying up to 5 ports), and kills the server at cleanup.
func StartTestRedis(t TB, args ...string) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not on PATH")
	}
	r, err := StartRedis(context.Background(), RedisConfig{Dir: t.TempDir(), Args: args, NoDeathSignal: true})
	if err != nil {
		t.Fatalf("harness: start redis-server: %v", err)
	}
	t.Cleanup(r.Kill)
	return r
}

// Restart kills the server if it runs and starts it again on the same
// port, retrying for up to 5 s while the port is still held; it fails the
// test if it cannot. Without RedisConfig.AOF no data is kept.
func (r *Redis) Restart(t TB) {
	t.Helper()
	r.Kill()
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("harness: restart redis-server on %s: %v", r.Addr, err)
	}
}

// Do runs redis-cli against the server with args and returns its trimmed
// stdout (several lines for an array). It fails the test if redis-cli
// fails. A --requirepass password is passed through REDISCLI_AUTH. It
// starts a child process: a test whose process reaps every child (a pool
// with an app host is a child subreaper) uses Command instead.
func (r *Redis) Do(t TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultClientTimeout)
	defer cancel()
	full := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(r.Port)}, args...)
	cmd := exec.CommandContext(ctx, "redis-cli", full...)
	if pw := r.Password(); pw != "" {
		cmd.Env = append(cmd.Environ(), "REDISCLI_AUTH="+pw)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("harness: redis-cli %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String())
}

// Command sends one command over RESP (no child process, see Do) and
// returns its reply as Text renders it. It fails the test on a transport
// error or an error reply.
func (r *Redis) Command(t TB, args ...string) string {
	t.Helper()
	c := r.Client()
	defer c.Reset()
	out, err := Text(c.Do(args...))
	if err != nil {
		t.Fatalf("harness: %s: %v", strings.Join(args, " "), err)
	}
	return out
}
