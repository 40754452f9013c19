package harness

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

// ErrKilled is wrapped by Stop when the process did not exit within its
// grace and its tree was SIGKILLed.
var ErrKilled = errors.New("killed")

// killWait bounds how long KillTree waits for the killed process to be
// reaped.
const killWait = 10 * time.Second

// Process is a child the harness started in a process group of its own
// (so a Ctrl-C on the terminal reaches only the harness, which then stops
// everything in order), that gets SIGKILL if the harness dies (Pdeathsig).
// It is waited for in the background; every signal goes to a PID, never to
// a process name.
type Process struct {
	Name string // for messages

	cmd  *exec.Cmd
	done chan struct{} // closed once Wait has returned
	err  error         // Wait's result, valid after done
}

// live holds every started Process not yet waited for; KillAll ends them.
var live = struct {
	sync.Mutex
	m map[*Process]struct{}
}{m: map[*Process]struct{}{}}

// Start starts cmd in its own process group with Pdeathsig SIGKILL and a
// WaitDelay of 5 s (a grandchild holding a pipe must not hang Wait), and
// waits for it in the background. It overwrites cmd.SysProcAttr.
//
// Pdeathsig fires when the OS thread that forked the child exits, not the
// harness (golang/go#27505): a program whose runtime retires threads (a
// goroutine that ends locked to its thread, as the pool's starter does)
// must not use it for a child that outlives such a goroutine.
func Start(name string, cmd *exec.Cmd) (*Process, error) {
	return start(name, cmd, true)
}

// start is Start, with Pdeathsig only if deathSig.
func start(name string, cmd *exec.Cmd, deathSig bool) (*Process, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if deathSig {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, done: make(chan struct{})}
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

// StartLogged starts argv in dir with env (nil: this process's), stdout
// and stderr appended to logPath (created if missing), as Start does.
func StartLogged(name string, argv []string, dir string, env []string, logPath string) (*Process, error) {
	return startLogged(name, argv, dir, env, logPath, true)
}

func startLogged(name string, argv []string, dir string, env []string, logPath string, deathSig bool) (*Process, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logf, logf
	return start(name, cmd, deathSig)
}

// PID is the process's ID (also its process group's).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and been waited for.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has been waited for.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is Wait's result; valid once Done is closed.
func (p *Process) Err() error { return p.err }

// ExitCode is the exit status once Done is closed; -1 before, or when a
// signal killed the process.
func (p *Process) ExitCode() int {
	if !p.Exited() || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Signal sends sig to the process alone (not its group: a Celery worker's
// pool children must not get SIGTERM, they would die mid-task); a process
// that has already exited is not an error.
func (p *Process) Signal(sig syscall.Signal) error {
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// WaitFor waits up to d for the process to exit and reports whether it did.
func (p *Process) WaitFor(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// Wait waits for the process to exit and returns Wait's error, or ctx's
// once ctx ends first.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop sends sig to the process alone, waits up to grace, then kills its
// tree (KillTree). It returns how long the process took to exit, and an
// error wrapping ErrKilled when it had to be killed (joined with the
// signal's error, if any). An exited process is stopped at once.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) (time.Duration, error) {
	start := time.Now()
	if p.Exited() {
		return 0, nil
	}
	err := p.Signal(sig)
	if !p.WaitFor(grace) {
		p.KillTree()
		err = errors.Join(err, fmt.Errorf("%s did not exit %s after %s: %w", p.Name, grace, sig, ErrKilled))
	}
	return time.Since(start), err
}

// KillTree SIGKILLs the process's descendants (found in /proc before the
// process dies, since orphans are re-parented), its process group and the
// process itself, by PID, then waits up to 10 s for it to be reaped.
func (p *Process) KillTree() {
	if p.Exited() {
		return
	}
	p.killTree()
	p.WaitFor(killWait)
}

func (p *Process) killTree() {
	for _, pid := range Descendants(p.PID()) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	_ = p.Signal(syscall.SIGKILL)
}

// KillAll SIGKILLs the tree of every started Process not yet waited for,
// then waits for them (up to 10 s each): the cleanup on every exit path of
// a harness, and the last resort on a second Ctrl-C.
func KillAll() {
	live.Lock()
	ps := make([]*Process, 0, len(live.m))
	for p := range live.m {
		ps = append(ps, p)
	}
	live.Unlock()
	for _, p := range ps {
		p.killTree()
	}
	for _, p := range ps {
		p.WaitFor(killWait)
	}
}
