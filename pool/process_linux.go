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
// grandchild that left the group may still hold them (docs/reliability.md, "Output pipes").
const outputGrace = 2 * time.Second

// exitInfo describes how a worker process ended.
type exitInfo struct {
	Status *unix.WaitStatus // nil if the status could not be collected
	Err    error            // why Status is nil (a start or wait failure)
	Uptime time.Duration
}

// crashed reports whether the exit was a failure (nonzero, signal, unknown).
func (e exitInfo) crashed() bool {
	return e.Status == nil || !e.Status.Exited() || e.Status.ExitStatus() != 0
}

// String formats the exit as os.ProcessState does: "exit status 1",
// "signal: killed".
func (e exitInfo) String() string {
	switch {
	case e.Status == nil:
		return e.Err.Error()
	case e.Status.Exited():
		return fmt.Sprintf("exit status %d", e.Status.ExitStatus())
	case e.Status.Signaled():
		s := "signal: " + e.Status.Signal().String()
		if e.Status.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return fmt.Sprintf("wait status %#x", int(*e.Status))
}

// process is one started worker process, exec'd or forked by the app host;
// either way this process is its parent and collects its exit status. Its
// goroutines (two output readers and a waiter) all end before done is closed.
type process struct {
	pid       int
	spawn     string // SpawnFork or SpawnExec
	startedAt time.Time
	done      chan struct{} // closed when exit is valid and output drained
	exit      exitInfo
	// reap collects the exit status of the exited process (a zombie).
	reap func() (unix.WaitStatus, error)

	fatal *fatalSignal // closed once it logged Celery's "Unrecoverable error"

	mu     sync.Mutex // orders signals against reaping
	reaped bool
}

// spawn holds what a start needs from the pool.
type spawn struct {
	cfg     Config
	name    string
	svc     *services
	ring    *ring
	forking *AppHost // nil: exec
}

// outputPipes are the two pipes a worker writes its stdout and stderr to.
type outputPipes struct{ outR, outW, errR, errW *os.File }

func newOutputPipes() (outputPipes, error) {
	var p outputPipes
	var err error
	if p.outR, p.outW, err = os.Pipe(); err != nil {
		return p, fmt.Errorf("stdout pipe: %w", err)
	}
	if p.errR, p.errW, err = os.Pipe(); err != nil {
		p.outR.Close()
		p.outW.Close()
		return p, fmt.Errorf("stderr pipe: %w", err)
	}
	return p, nil
}

// closeWrite closes the write ends (the child holds its own copies).
func (p outputPipes) closeWrite() { p.outW.Close(); p.errW.Close() }

func (p outputPipes) closeRead() { p.outR.Close(); p.errR.Close() }

// startProcess starts the worker sp.name: forked by sp.forking, or exec'd.
// On error nothing is left running.
func startProcess(sp spawn) (*process, error) {
	pipes, err := newOutputPipes()
	if err != nil {
		return nil, err
	}
	var pr *process
	if sp.forking != nil {
		pr, err = forkWorker(sp, pipes)
	} else {
		pr, err = execWorker(sp, pipes)
	}
	pipes.closeWrite()
	if err != nil {
		pipes.closeRead()
		return nil, err
	}
	pr.watch(sp, pipes)
	return pr, nil
}

// execWorker execs the worker command on the pool's locked starter thread.
func execWorker(sp spawn, pipes outputPipes) (*process, error) {
	args := append(append([]string{}, sp.cfg.Command[1:]...), celeryArgs(sp.cfg, sp.name)...)
	cmd := exec.Command(sp.cfg.Command[0], args...)
	cmd.Env = append(os.Environ(), sp.cfg.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = pipes.outW, pipes.errW
	if err := sp.svc.starter.start(cmd, sp.svc.stop); err != nil {
		return nil, err
	}
	return &process{pid: cmd.Process.Pid, spawn: SpawnExec, startedAt: time.Now(), done: make(chan struct{}), fatal: newFatalSignal(),
		reap: func() (unix.WaitStatus, error) { return waitCmd(cmd) }}, nil
}

// waitCmd reaps cmd and returns its wait status.
func waitCmd(cmd *exec.Cmd) (unix.WaitStatus, error) {
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, fmt.Errorf("wait: %w", err)
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return 0, errors.New("wait: no wait status")
	}
	return unix.WaitStatus(ws), nil
}

// wait4 reaps pid, a child of this process, and returns its wait status.
func wait4(pid int) (unix.WaitStatus, error) {
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait4 pid %d: %w", pid, err)
		}
		return ws, nil
	}
}

// watch starts the output readers and the waiter.
func (pr *process) watch(sp spawn, pipes outputPipes) {
	log := sp.cfg.Logger.With(keyWorker, sp.name)
	var readers sync.WaitGroup
	for _, s := range []struct {
		f    *os.File
		name string
	}{{pipes.outR, "stdout"}, {pipes.errR, "stderr"}} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			readLines(s.f, func(text string) {
				pr.fatal.observe(text)
				sp.ring.add(text)
				sp.svc.lines.offer(outputLine{log: log, stream: s.name, text: text})
			})
		}()
	}
	go pr.wait(sp.svc.children, &readers, pipes.outR, pipes.errR)
}

// wait collects the exit: it waits for the main process to exit without
// reaping it, SIGKILLs what is left of its group while the zombie still pins
// the group ID, drains the output, then reaps.
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
	ws, err := pr.reap()
	pr.reaped = true
	pr.mu.Unlock()
	c.release(pr.pid)
	pr.exit = exitInfo{Status: &ws, Uptime: time.Since(pr.startedAt)}
	if err != nil {
		pr.exit = exitInfo{Err: err, Uptime: pr.exit.Uptime}
	}
}

// waitExited blocks until pid has exited, leaving it a zombie.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return // on any other error the reap reports what happened
		}
	}
}

// term asks the worker for a warm shutdown: SIGTERM to the main PID only,
// never the group (prefork children reset SIGTERM and would die mid-task).
// A process that is already gone is not an error.
func (pr *process) term() error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.reaped {
		return nil
	}
	err := unix.Kill(pr.pid, unix.SIGTERM)
	if err != nil && !errors.Is(err, unix.ESRCH) {
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
