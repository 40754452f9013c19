package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// TestSystemdNotify runs the binary with real Celery workers under a
// NOTIFY_SOCKET as systemd's Type=notify gives it: READY=1 comes once, in
// the same datagram as a STATUS that counts MIN workers up, after STATUS
// lines with fewer; WATCHDOG=1 every WATCHDOG_USEC/2; STOPPING=1 at the
// first SIGTERM; and the workers do not inherit NOTIFY_SOCKET.
func TestSystemdNotify(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rds := harness.StartTestRedis(t)
	start := time.Now()
	s := startSupervisorUnder(t, nil, []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=1000000"}, rds.URL(0),
		"--autoscale=2,2", "-Q", "sdnotify")

	var pings []time.Time
	readUntil(t, conn, 60*time.Second, func(m string) bool {
		if m == "WATCHDOG=1" {
			pings = append(pings, time.Now())
			return false
		}
		if status, ok := strings.CutPrefix(m, "READY=1\nSTATUS="); ok {
			if !strings.HasPrefix(status, "2 workers") {
				t.Fatalf("READY=1 with %q, want 2 workers up", status)
			}
			return true
		}
		if strings.HasPrefix(m, "STATUS=2 workers") || strings.Contains(m, "READY") {
			t.Fatalf("%q before READY=1 or not alone", m)
		}
		return false
	})
	t.Logf("READY=1 %s after start", time.Since(start).Round(10*time.Millisecond))
	for _, w := range s.status().Workers {
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", w.PID))
		if strings.Contains(string(env), "NOTIFY_SOCKET=") {
			t.Errorf("worker %s inherited NOTIFY_SOCKET", w.Name)
		}
	}
	readUntil(t, conn, 10*time.Second, func(m string) bool {
		if m == "WATCHDOG=1" {
			pings = append(pings, time.Now())
		}
		return len(pings) >= 4
	})
	for i := 1; i < len(pings); i++ {
		if gap := pings[i].Sub(pings[i-1]); gap < 400*time.Millisecond || gap > 900*time.Millisecond {
			t.Errorf("watchdog ping %d came %s after the previous one, want 500ms", i, gap)
		}
	}

	s.signal(syscall.SIGTERM)
	readUntil(t, conn, 10*time.Second, func(m string) bool { return strings.HasPrefix(m, "STOPPING=1\n") })
	if code := s.wait(30 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// readUntil reads datagrams from conn until done returns true for one,
// failing after d.
func readUntil(t *testing.T, conn *net.UnixConn, d time.Duration, done func(string) bool) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for a notification: %v", err)
		}
		if done(string(buf[:n])) {
			return
		}
	}
}
