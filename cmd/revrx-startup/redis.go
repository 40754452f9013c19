package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// redisServer is a private redis-server on a free 127.0.0.1 port (never
// 6379), persisting nothing, that dies with this process.
type redisServer struct {
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts redis-server on a free port and waits (up to 5 s) until
// it accepts connections; it tries another port if the first was taken in
// between.
func startRedis(dir string) (*redisServer, error) {
	var err error
	for range 3 {
		var s *redisServer
		if s, err = tryRedis(dir); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func tryRedis(dir string) (*redisServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // a port nobody holds, never 6379
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	s := &redisServer{port: port, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("redis-server on %s exited at start", addr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("redis-server on %s: %w", addr, err)
		}
	}
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// stop kills the server (by its PID) and waits for it.
func (s *redisServer) stop() {
	_ = s.cmd.Process.Signal(os.Kill)
	<-s.done
}
