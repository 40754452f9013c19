package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// child is one process the harness started (redis-server or a
// revrx-supervise). Each runs in a process group of its own and gets
// SIGKILL if the harness dies (Pdeathsig), so nothing it started outlives it.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait has returned
	err  error         // Wait's result, valid after done
}

// started holds every child not yet waited for; killStarted ends them all.
var started = struct {
	sync.Mutex
	m map[*child]struct{}
}{m: map[*child]struct{}{}}

// startChild starts argv in dir with env, its output appended to logPath.
func startChild(name string, argv []string, dir string, env []string, logPath string) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	started.Lock()
	started.m[c] = struct{}{}
	started.Unlock()
	go func() {
		c.err = cmd.Wait()
		started.Lock()
		delete(started.m, c)
		started.Unlock()
		close(c.done)
	}()
	return c, nil
}

// pid is the child's process ID.
func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the child has been waited for.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// exitCode is the child's exit status after done (-1 if killed by a signal).
func (c *child) exitCode() int {
	if c.cmd.ProcessState == nil {
		return -1
	}
	return c.cmd.ProcessState.ExitCode()
}

// signal sends sig to the child's own PID; an exited child is not an error.
func (c *child) signal(sig syscall.Signal) error {
	err := c.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// waitFor waits up to d for the child to exit and reports whether it did.
func (c *child) waitFor(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.done:
		return true
	case <-t.C:
		return false
	}
}

// killTree SIGKILLs the child's descendants (found before the child dies,
// since orphans are re-parented), its process group and the child itself,
// then waits for it.
func (c *child) killTree() {
	if c.exited() {
		return
	}
	for _, pid := range descendants(c.pid()) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
	_ = c.signal(syscall.SIGKILL)
	c.waitFor(10 * time.Second)
}

// killStarted kills every started child that is still running: the cleanup
// on every exit path.
func killStarted() {
	started.Lock()
	cs := make([]*child, 0, len(started.m))
	for c := range started.m {
		cs = append(cs, c)
	}
	started.Unlock()
	for _, c := range cs {
		c.killTree()
	}
}
