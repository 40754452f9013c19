package main

import (
	"fmt"
	"os"
	"time"

	"github.com/revrx/revrx-supervise/supervisor"
)

// systemdNotify reads what systemd gives a Type=notify service
// ($NOTIFY_SOCKET, $WATCHDOG_USEC, $WATCHDOG_PID) and, as sd_notify(3)'s
// unset_environment does, removes it from the environment so the workers
// do not inherit it. It returns nil and 0 when $NOTIFY_SOCKET is unset.
func systemdNotify() (*supervisor.SDNotify, time.Duration, error) {
	socket, usec, pid := os.Getenv("NOTIFY_SOCKET"), os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID")
	for _, name := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		_ = os.Unsetenv(name)
	}
	n, err := supervisor.DialNotify(socket)
	if err != nil || n == nil {
		return nil, 0, err
	}
	every, err := supervisor.WatchdogInterval(usec, pid, os.Getpid())
	if err != nil {
		n.Close()
		return nil, 0, fmt.Errorf("systemd watchdog: %w", err)
	}
	return n, every, nil
}

// withNotify gives the supervisor's configuration the systemd notifier, if
// there is one.
func withNotify(c supervisor.Config, n *supervisor.SDNotify, every time.Duration) supervisor.Config {
	if n != nil { // a nil *SDNotify in the interface would not be a nil Notifier
		c.Notifier, c.WatchdogInterval = n, every
	}
	return c
}
