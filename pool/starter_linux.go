package pool

import (
	"os/exec"
	"runtime"
	"sync"
)

// starter runs every cmd.Start on one goroutine locked to its OS thread.
// Pdeathsig fires when the thread that forked the child exits, not the
// process (golang/go#27505): if Starts ran on arbitrary goroutines, the Go
// runtime could retire that thread and SIGKILL a healthy worker. The locked
// goroutine never unlocks; it returns (taking its thread with it) only when
// the pool has no children left.
type starter struct {
	reqs     chan startRequest
	children *children
}

type startRequest struct {
	cmd    *exec.Cmd
	result chan error
}

func newStarter(c *children) *starter {
	return &starter{reqs: make(chan startRequest), children: c}
}

// run serves start requests until stop is closed.
func (s *starter) run(stop <-chan struct{}) {
	runtime.LockOSThread()
	for {
		select {
		case req := <-s.reqs:
			req.result <- s.children.start(req.cmd)
		case <-stop:
			return
		}
	}
}

// start starts cmd on the locked thread. It returns ErrShuttingDown if the
// starter has stopped (stopped is closed).
func (s *starter) start(cmd *exec.Cmd, stopped <-chan struct{}) error {
	req := startRequest{cmd: cmd, result: make(chan error, 1)}
	select {
	case s.reqs <- req:
		return <-req.result
	case <-stopped:
		return ErrShuttingDown
	}
}

// children is the set of main PIDs the pool waits for itself. The reaper
// (reaper_linux.go) holds mu while it inspects and reaps, and start holds mu
// from fork until the PID is registered, so the reaper can never reap a
// managed child, not even one that exits during Start.
type children struct {
	mu      sync.Mutex
	managed map[int]bool
	// reaped is signalled (non-blocking) after a managed child is reaped:
	// orphans that were queued behind its zombie can now be reaped.
	reaped chan struct{}
}

func newChildren() *children {
	return &children{managed: make(map[int]bool), reaped: make(chan struct{}, 1)}
}

func (c *children) start(cmd *exec.Cmd) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	c.managed[cmd.Process.Pid] = true
	return nil
}

// release forgets pid once cmd.Wait has reaped it.
func (c *children) release(pid int) {
	c.mu.Lock()
	delete(c.managed, pid)
	c.mu.Unlock()
	select {
	case c.reaped <- struct{}{}:
	default:
	}
}

// adopt runs fork, which makes a process that becomes this process's child
// (a worker forked by the app host and re-parented here), and registers its
// PID as managed before the reaper may look at it.
func (c *children) adopt(fork func() (int, error)) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pid, err := fork()
	if err != nil {
		return 0, err
	}
	c.managed[pid] = true
	return pid, nil
}
