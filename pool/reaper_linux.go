package pool

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reapTick is the backstop interval of the reaper, for a SIGCHLD that was
// coalesced with another or arrived while a managed zombie blocked the way.
const reapTick = 5 * time.Second

// runReaper reaps orphans re-parented to this process (PID 1 or a child
// subreaper) on every SIGCHLD, after every managed child is reaped, and on
// a slow tick, until stop is closed.
//
// It never calls wait4(-1): that would steal the exit statuses exec.Cmd.Wait
// is waiting for (docs/reliability.md, "Reaping"). It peeks with waitid(WNOWAIT) and
// reaps only PIDs the pool does not manage.
func runReaper(c *children, log *slog.Logger, stop <-chan struct{}) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	t := time.NewTicker(reapTick)
	defer t.Stop()
	for {
		reapOrphans(c, log)
		select {
		case <-stop:
			return
		case <-sigs:
		case <-c.reaped:
		case <-t.C:
		}
	}
}

// reapOrphans reaps exited children that are not managed, until none is
// waiting or the next one waiting is managed (cmd.Wait will reap that one;
// orphans behind it wait for the next pass, which its reaping triggers).
func reapOrphans(c *children, log *slog.Logger) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		pid, err := peekExited()
		if err != nil {
			if !errors.Is(err, unix.ECHILD) {
				log.Warn("reaper: waitid failed", keyErr, err)
			}
			return
		}
		if pid == 0 || c.managed[pid] {
			return
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil {
			if !errors.Is(err, unix.EINTR) {
				log.Warn("reaper: wait4 failed", keyPID, pid, keyErr, err)
				return
			}
			continue
		}
		log.Debug("reaped orphan", keyPID, pid, keyStatus, ws.ExitStatus(), "signal", int(ws.Signal()))
	}
}

// isSubreaper reports whether this process is a child subreaper (an app
// host made it one), so that orphaned descendants are re-parented to it.
func isSubreaper() bool {
	var v int32
	err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0, 0, 0)
	return err == nil && v != 0
}

// siginfoPIDOffset is where si_pid sits in siginfo_t: after si_signo,
// si_errno, si_code, plus one int of padding on 64-bit platforms.
const siginfoPIDOffset = 3*4 + 4*(unsafe.Sizeof(uintptr(0))/8)

// peekExited returns the PID of an exited child without reaping it, or 0 if
// none has exited.
func peekExited() (int, error) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		return int(*(*int32)(unsafe.Add(unsafe.Pointer(&info), siginfoPIDOffset))), nil
	}
}
