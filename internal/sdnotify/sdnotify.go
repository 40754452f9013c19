// Package sdnotify speaks systemd's sd_notify protocol (sd_notify(3))
// without libsystemd: each message is one datagram of newline-separated
// VARIABLE=value assignments sent to the unix datagram socket named by
// $NOTIFY_SOCKET. A name starting with '@' is a socket in the abstract
// namespace.
//
//	n, every, err := sdnotify.FromEnvironment() // nil n: not under systemd
//	defer n.Close()
//	n.Notify("READY=1\nSTATUS=3 workers")
//	// and "WATCHDOG=1" every `every`, if it is not 0
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Conn is an open notify socket. A nil *Conn sends nothing.
type Conn struct {
	conn *net.UnixConn
}

// FromEnvironment reads what systemd gives a Type=notify service
// ($NOTIFY_SOCKET, $WATCHDOG_USEC, $WATCHDOG_PID) and, as sd_notify(3)'s
// unset_environment does, removes it from the environment so that child
// processes do not inherit it. It opens the socket and returns how often to
// send WATCHDOG=1 (0: the watchdog is off); it returns nil and 0 when
// $NOTIFY_SOCKET is unset.
func FromEnvironment() (*Conn, time.Duration, error) {
	socket, usec, pid := os.Getenv("NOTIFY_SOCKET"), os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID")
	for _, name := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		_ = os.Unsetenv(name)
	}
	n, err := Dial(socket)
	if err != nil || n == nil {
		return nil, 0, err
	}
	every, err := WatchdogInterval(usec, pid, os.Getpid())
	if err != nil {
		n.Close()
		return nil, 0, fmt.Errorf("systemd watchdog: %w", err)
	}
	return n, every, nil
}

// notifyWriteTimeout bounds one send: systemd reads its notify socket at
// once, and a full socket must not hold the caller.
const notifyWriteTimeout = time.Second

// Dial opens the socket named by $NOTIFY_SOCKET (socket). An empty name
// returns nil and no error: not started by systemd (or Type=simple),
// nothing is sent.
func Dial(socket string) (*Conn, error) {
	if socket == "" {
		return nil, nil
	}
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return nil, fmt.Errorf("NOTIFY_SOCKET %q: accepted: an absolute path or @abstract name", socket)
	}
	// Go maps a leading '@' to the abstract namespace's NUL itself.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	return &Conn{conn: conn}, nil
}

// Notify sends one message, e.g. "READY=1\nSTATUS=3 workers".
func (n *Conn) Notify(state string) error {
	if n == nil {
		return nil
	}
	if err := n.conn.SetWriteDeadline(time.Now().Add(notifyWriteTimeout)); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if _, err := n.conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// Close closes the socket; a nil *Conn has nothing to close.
func (n *Conn) Close() error {
	if n == nil {
		return nil
	}
	return n.conn.Close()
}

// WatchdogInterval is how often to send WATCHDOG=1, from $WATCHDOG_USEC
// (usec) and $WATCHDOG_PID (pid) as systemd sets them: half the watchdog
// timeout, as sd_watchdog_enabled(3) recommends; 0 when the watchdog is
// off (usec empty) or meant for another process (pid set and not self).
func WatchdogInterval(usec, pid string, self int) (time.Duration, error) {
	if usec == "" {
		return 0, nil
	}
	if pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil || p <= 0 {
			return 0, fmt.Errorf("WATCHDOG_PID %q: accepted: a process ID", pid)
		}
		if p != self {
			return 0, nil
		}
	}
	u, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || u == 0 {
		return 0, errors.New("WATCHDOG_USEC " + strconv.Quote(usec) + ": accepted: a positive number of microseconds")
	}
	return time.Duration(u) * time.Microsecond / 2, nil
}
