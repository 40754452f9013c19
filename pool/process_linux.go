package pool

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// outputGrace bounds how long, after the main process has exited and its
// group was killed, the pool waits for the output pipes to reach EOF: a
// grandchild that left the group may still hold them (RELIABILITY fact 5).
const outputGrace = 2 * time.Second

// exitInfo describes how a worker process ended.
type exitInfo struct {
	State  *os.ProcessState // nil if the status could not be collected
	Err    error            // why State is nil (a start or wait failure)
	Uptime time.Duration
}

// crashed reports whether the exit was a failure (nonzero, signal, unknown).
func (e exitInfo) crashed() bool { return e.State == nil || !e.State.Success() }

func (e exitInfo) String() string {
	if e.State == nil {
		return e.Err.Error()
	}
	return e.State.String()
}

// process is one started worker process. Its goroutines (two output readers
// and a waiter) all end before done is closed.
type process struct {
	cmd       *exec.Cmd
	pid       int
	startedAt time.Time
	done      chan struct{} // closed when exit is valid and output drained
	exit      exitInfo

	mu     sync.Mutex // orders killGroup against reaping
	reaped bool
}

// spawn holds what startProcess needs from the pool.
type spawn struct {
	cfg      Config
	name     string
	starter  *starter
	stopped  <-chan struct{} // the starter has stopped
	children *children
	lines    *lineLogger
	ring     *ring
}

// startProcess starts the worker sp.name. On error nothing is left running.
func startProcess(sp spawn) (*process, error) {
	cmd := exec.Command(sp.cfg.Command[0], workerArgs(sp.cfg, sp.name)...)
	cmd.Env = append(os.Environ(), sp.cfg.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = outputGrace
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = sp.starter.start(cmd, sp.stopped)
	outW.Close() // the child holds its own copies
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	pr := &process{cmd: cmd, pid: cmd.Process.Pid, startedAt: time.Now(), done: make(chan struct{})}
	log := sp.cfg.Logger.With(keyWorker, sp.name)
	var readers sync.WaitGroup
	for _, s := range []struct {
		f    *os.File
		name string
	}{{outR, "stdout"}, {errR, "stderr"}} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			readLines(s.f, func(text string) {
				sp.ring.add(text)
				sp.lines.offer(outputLine{log: log, stream: s.name, text: text})
			})
		}()
	}
	go pr.wait(sp.children, &readers, outR, errR)
	return pr, nil
}

// wait collects the exit: it waits for the main process to exit without
// reaping it, SIGKILLs what is left of its group while the zombie still pins
// the group ID, drains the output, then reaps with cmd.Wait.
func (pr *process) wait(c *children, readers *sync.WaitGroup, pipes ...*os.File) {
	defer close(pr.done)
	waitExited(pr.pid)
	pr.killGroup()
	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	t := time.NewTimer(outputGrace)
	select {
	case <-drained:
	case <-t.C:
		for _, f := range pipes {
			f.Close() // unblocks the readers
		}
		<-drained
	}
	t.Stop()
	for _, f := range pipes {
		f.Close()
	}
	pr.mu.Lock()
	err := pr.cmd.Wait()
	pr.reaped = true
	pr.mu.Unlock()
	c.release(pr.pid)
	pr.exit = exitInfo{State: pr.cmd.ProcessState, Uptime: time.Since(pr.startedAt)}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		pr.exit = exitInfo{Err: fmt.Errorf("wait: %w", err), Uptime: pr.exit.Uptime}
	}
}

// waitExited blocks until pid has exited, leaving it a zombie.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return // on any other error cmd.Wait reports what happened
		}
	}
}

// term asks the worker for a warm shutdown: SIGTERM to the main PID only,
// never the group (prefork children reset SIGTERM and would die mid-task).
// A process that is already gone is not an error.
func (pr *process) term() error {
	err := pr.cmd.Process.Signal(syscall.SIGTERM)
	if err != nil && !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sigterm pid %d: %w", pr.pid, err)
	}
	return nil
}

// killGroup SIGKILLs the worker's whole process group, unless the main
// process was already reaped (its PID, and so the group ID, may then belong
// to someone else). It reports whether a signal was sent.
func (pr *process) killGroup() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.reaped {
		return false
	}
	err := unix.Kill(-pr.pid, unix.SIGKILL)
	return err == nil
}
