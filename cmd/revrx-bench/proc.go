package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is one process the harness started: redis-server, a contender or the
// producer. Each runs in its own process group (so a Ctrl-C on the terminal
// reaches only the harness, which then stops everything in order) and dies
// with the harness (Pdeathsig) if the harness itself is killed.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait has returned
	err  error         // Wait's result, valid after done
}

// live is every started process not yet waited for: the second Ctrl-C
// kills them all at once.
var live = struct {
	sync.Mutex
	m map[*proc]struct{}
}{m: make(map[*proc]struct{})}

// startProc starts cmd and waits for it in the background.
func startProc(name string, cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second // a grandchild holding a pipe must not hang Wait
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	live.Lock()
	live.m[p] = struct{}{}
	live.Unlock()
	go func() {
		p.err = cmd.Wait()
		live.Lock()
		delete(live.m, p)
		live.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process itself (not its group); a process that has
// already exited is not an error.
func (p *proc) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		fmt.Fprintf(os.Stderr, "bench: signal %s to %s: %v\n", sig, p.name, err)
	}
}

// stop sends sig to the process alone (a Celery worker's pool children must
// not get SIGTERM: they would die mid-task), waits up to grace, then kills
// the whole tree. It returns how long the process took to exit.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) time.Duration {
	start := time.Now()
	if p.exited() {
		return 0
	}
	p.signal(sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		fmt.Fprintf(os.Stderr, "bench: %s did not exit %s after %s: killing its process tree\n", p.name, grace, sig)
		p.killTree()
		<-p.done
	}
	return time.Since(start)
}

// killTree SIGKILLs the process, every descendant (found in /proc before the
// root dies, since orphans are re-parented) and the root's process group.
func (p *proc) killTree() {
	pids, _ := descendants(p.pid())
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
}

// wait waits for the process to exit or ctx to end.
func (p *proc) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// killAll SIGKILLs every live process tree: the last resort on a second
// Ctrl-C.
func killAll() {
	live.Lock()
	ps := make([]*proc, 0, len(live.m))
	for p := range live.m {
		ps = append(ps, p)
	}
	live.Unlock()
	for _, p := range ps {
		p.killTree()
	}
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
