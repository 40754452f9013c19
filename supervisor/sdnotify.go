package supervisor

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// SDNotify speaks systemd's sd_notify protocol (sd_notify(3)) without
// libsystemd: each message is one datagram of newline-separated
// VARIABLE=value assignments sent to the unix datagram socket named by
// $NOTIFY_SOCKET. A name starting with '@' is a socket in the abstract
// namespace.
type SDNotify struct {
	conn *net.UnixConn
}

// notifyWriteTimeout bounds one send: systemd reads its notify socket at
// once, and a full socket must not hold the caller.
const notifyWriteTimeout = time.Second

// DialNotify opens the socket named by $NOTIFY_SOCKET (socket). An empty
// name returns nil and no error: not started by systemd (or Type=simple),
// nothing is sent. A nil *SDNotify sends nothing.
func DialNotify(socket string) (*SDNotify, error) {
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
	return &SDNotify{conn: conn}, nil
}

// Notify sends one message, e.g. "READY=1\nSTATUS=3 workers".
func (n *SDNotify) Notify(state string) error {
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

// Close closes the socket; a nil *SDNotify has nothing to close.
func (n *SDNotify) Close() error {
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
