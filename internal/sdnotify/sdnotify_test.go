package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// listen listens on name (a path, or "@x" for the abstract namespace), as
// systemd does, and delivers every datagram on the returned channel until
// the test ends.
func listen(t *testing.T, name string) <-chan string {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	msgs, done := make(chan string, 16), make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return msgs
}

// next returns the next datagram, failing after five seconds.
func next(t *testing.T, msgs <-chan string) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no notification within 5s")
		return ""
	}
}

// TestDial: a socket path and an '@' name in the abstract namespace both
// carry a message; an empty name sends nothing; a relative one is refused.
func TestDial(t *testing.T) {
	for _, name := range []string{filepath.Join(t.TempDir(), "notify"), "@revrx-test-" + filepath.Base(t.TempDir())} {
		msgs := listen(t, name)
		n, err := Dial(name)
		if err != nil {
			t.Fatalf("Dial(%q) = %v", name, err)
		}
		if err := n.Notify("READY=1\nSTATUS=ok"); err != nil {
			t.Fatalf("Notify() = %v", err)
		}
		if got := next(t, msgs); got != "READY=1\nSTATUS=ok" {
			t.Errorf("%s: got %q, want READY=1\\nSTATUS=ok", name, got)
		}
		if err := n.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	}
	n, err := Dial("")
	if n != nil || err != nil {
		t.Fatalf("Dial(\"\") = %v, %v; want nil, nil", n, err)
	}
	if err := n.Notify("READY=1"); err != nil {
		t.Fatalf("nil Notify() = %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("nil Close() = %v", err)
	}
	if _, err := Dial("relative"); err == nil {
		t.Fatal("Dial(\"relative\") = nil error, want one")
	}
}

// TestFromEnvironment: the variables systemd sets are read and removed, so
// that the workers do not inherit them.
func TestFromEnvironment(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify")
	msgs := listen(t, name)
	t.Setenv("NOTIFY_SOCKET", name)
	t.Setenv("WATCHDOG_USEC", "30000000")
	t.Setenv("WATCHDOG_PID", "")
	n, every, err := FromEnvironment()
	if err != nil || n == nil || every != 15*time.Second {
		t.Fatalf("FromEnvironment() = %v, %s, %v; want a socket, 15s, nil", n, every, err)
	}
	defer n.Close()
	for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		if _, ok := os.LookupEnv(v); ok {
			t.Errorf("$%s is still set", v)
		}
	}
	if err := n.Notify("WATCHDOG=1"); err != nil || next(t, msgs) != "WATCHDOG=1" {
		t.Errorf("Notify(WATCHDOG=1) = %v, or another message arrived", err)
	}
	if n, every, err := FromEnvironment(); n != nil || every != 0 || err != nil {
		t.Errorf("FromEnvironment() without NOTIFY_SOCKET = %v, %s, %v; want nil, 0, nil", n, every, err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"", "", 0, false},
		{"30000000", "", 15 * time.Second, false},
		{"30000000", "42", 15 * time.Second, false},
		{"30000000", "43", 0, false},
		{"0", "", 0, true},
		{"x", "", 0, true},
		{"30000000", "x", 0, true},
	} {
		got, err := WatchdogInterval(tc.usec, tc.pid, 42)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("WatchdogInterval(%q, %q, 42) = %s, %v; want %s, error %v", tc.usec, tc.pid, got, err, tc.want, tc.err)
		}
	}
}
