// Package testredis starts private redis-server processes for tests.
//
// Each Server is a child redis-server bound to 127.0.0.1 on a free port,
// persisting nothing, run in the foreground so it dies with the test. Tests
// are skipped when redis-server is not on PATH. It never touches any other
// Redis (in particular not the one on the default port 6379).
//
//	srv := testredis.Start(t)
//	srv.Do(t, "LPUSH", "reports", "x")
//	url := srv.URL(0) // "redis://127.0.0.1:PORT/0"
package testredis

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long Start and Restart wait for PING to answer.
const startTimeout = 5 * time.Second

// Server is a private redis-server on a free 127.0.0.1 port, with nothing persisted.
type Server struct {
	// Addr is host:port of the server, e.g. "127.0.0.1:40123".
	Addr string
	// Port is the TCP port in Addr.
	Port int

	dir   string
	extra []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
	out  *lockedBuffer
}

// Start runs a redis-server child on a free loopback port and waits until it
// answers PING (up to about 5 s). extraArgs are appended to the command line,
// e.g. "--requirepass", "secret". It skips the test if redis-server is not on
// PATH, fails it if the server does not come up, and registers t.Cleanup to
// stop the server.
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not on PATH")
	}
	s := &Server{dir: t.TempDir(), extra: extraArgs}
	t.Cleanup(s.Stop)
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testredis: free port: %v", err)
		}
		s.Port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = s.start(); lastErr == nil {
			return s
		}
		s.Stop()
	}
	t.Fatalf("testredis: start redis-server: %v", lastErr)
	return nil
}

// URL returns "redis://127.0.0.1:PORT/db" (without any password).
func (s *Server) URL(db int) string {
	return fmt.Sprintf("redis://%s/%d", s.Addr, db)
}

// Stop kills the server and waits for it to exit. It is idempotent and safe
// to call from several goroutines.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same port, retrying for a few
// seconds while the port is still held. It stops the server first if it is
// running. Data is not kept across a restart.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.start()
		if err == nil {
			return
		}
		s.Stop()
		if time.Now().After(deadline) {
			t.Fatalf("testredis: restart on %s: %v", s.Addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Do runs redis-cli against the server with args and returns its trimmed
// stdout. It fails the test if redis-cli fails. With --requirepass in the
// extra args, the password is passed to redis-cli through REDISCLI_AUTH.
func (s *Server) Do(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.cli(args...)
	if err != nil {
		t.Fatalf("testredis: redis-cli %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (s *Server) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	full := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}, args...)
	cmd := exec.CommandContext(ctx, "redis-cli", full...)
	if pw := s.password(); pw != "" {
		cmd.Env = append(cmd.Environ(), "REDISCLI_AUTH="+pw)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

func (s *Server) password() string {
	for i := 0; i+1 < len(s.extra); i++ {
		if s.extra[i] == "--requirepass" {
			return s.extra[i+1]
		}
	}
	return ""
}

// start launches redis-server on s.Port and waits for PING.
func (s *Server) start() error {
	args := []string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no",
	}
	args = append(args, s.extra...)
	cmd := exec.Command("redis-server", args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done, s.out = cmd, done, out
	s.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			return fmt.Errorf("redis-server exited: %s", lastLines(out.String()))
		default:
		}
		if got, err := s.cli("PING"); err == nil && got == "PONG" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %s: %s", startTimeout, lastLines(out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Command runs one command over a plain TCP connection and returns its
// reply (a status, an integer or a bulk string, as text). Unlike Do it
// starts no process: a test whose process reaps every unmanaged child (a
// pool with an app host is a child subreaper) would take redis-cli's exit
// status. It does not authenticate.
func (s *Server) Command(t testing.TB, args ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr, startTimeout)
	if err != nil {
		t.Fatalf("testredis: %s: %v", strings.Join(args, " "), err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(startTimeout))
	var req bytes.Buffer
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Fatalf("testredis: %s: %v", strings.Join(args, " "), err)
	}
	reply, err := readReply(bufio.NewReader(conn))
	if err != nil {
		t.Fatalf("testredis: %s: %v", strings.Join(args, " "), err)
	}
	return reply
}

// readReply reads one RESP reply that is not an array.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch {
	case line == "":
		return "", fmt.Errorf("empty reply")
	case line[0] == '-':
		return "", fmt.Errorf("%s", line[1:])
	case line[0] == '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err // a nil bulk string is ""
		}
		buf := make([]byte, n+2)
		_, err = io.ReadFull(r, buf)
		return string(buf[:n]), err
	}
	return line[1:], nil // status or integer
}
