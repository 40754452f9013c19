package testredis

import (
	"strings"
	"testing"
)

func TestStartDoRestart(t *testing.T) {
	s := Start(t)
	if got := s.Do(t, "LPUSH", "q", "a"); got != "1" {
		t.Fatalf("LPUSH = %q, want 1", got)
	}
	if got := s.Do(t, "LLEN", "q"); got != "1" {
		t.Fatalf("LLEN = %q, want 1", got)
	}
	if !strings.HasPrefix(s.URL(2), "redis://127.0.0.1:") || !strings.HasSuffix(s.URL(2), "/2") {
		t.Fatalf("URL(2) = %q", s.URL(2))
	}
	addr := s.Addr
	s.Stop()
	s.Stop() // idempotent
	s.Restart(t)
	if s.Addr != addr {
		t.Fatalf("Addr after restart = %q, want %q", s.Addr, addr)
	}
	if got := s.Do(t, "LLEN", "q"); got != "0" {
		t.Fatalf("LLEN after restart = %q, want 0 (nothing persisted)", got)
	}
}

func TestPassword(t *testing.T) {
	s := Start(t, "--requirepass", "s3cr3t")
	if got := s.Do(t, "PING"); got != "PONG" {
		t.Fatalf("PING = %q, want PONG", got)
	}
}

// TestCommand: Command speaks RESP itself: statuses, integers, bulk strings
// (binary-safe), nil, and errors.
func TestCommand(t *testing.T) {
	s := Start(t)
	if got := s.Command(t, "SET", "k", "a\r\nb\xff"); got != "OK" {
		t.Errorf("SET = %q, want OK", got)
	}
	if got := s.Command(t, "GET", "k"); got != "a\r\nb\xff" {
		t.Errorf("GET = %q, want the bytes set", got)
	}
	if got := s.Command(t, "LPUSH", "l", "x", "y"); got != "2" {
		t.Errorf("LPUSH = %q, want 2", got)
	}
	if got := s.Command(t, "GET", "missing"); got != "" {
		t.Errorf("GET missing = %q, want empty", got)
	}
}
