package harness

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestStartDoRestart(t *testing.T) {
	s := StartTestRedis(t)
	if s.Port == 6379 {
		t.Fatal("StartTestRedis used the system Redis's port 6379")
	}
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
	s.Kill()
	s.Kill() // idempotent
	s.Restart(t)
	if s.Addr != addr {
		t.Fatalf("Addr after restart = %q, want %q", s.Addr, addr)
	}
	if got := s.Do(t, "LLEN", "q"); got != "0" {
		t.Fatalf("LLEN after restart = %q, want 0 (nothing persisted)", got)
	}
}

// TestPassword: Do, Command and Client authenticate with --requirepass.
func TestPassword(t *testing.T) {
	s := StartTestRedis(t, "--requirepass", "s3cr3t")
	if got := s.Do(t, "PING"); got != "PONG" {
		t.Fatalf("Do PING = %q, want PONG", got)
	}
	if got := s.Command(t, "PING"); got != "PONG" {
		t.Fatalf("Command PING = %q, want PONG", got)
	}
	v, err := NewClient(s.Addr).Do("PING")
	if err != nil || !strings.HasPrefix(string(v.(RedisError)), "NOAUTH") {
		t.Fatalf("PING without AUTH = %v, %v; want a NOAUTH error reply", v, err)
	}
}

// TestAOFSurvivesStop: with AOF, a write acknowledged before Stop (SIGTERM)
// is there again after Start on the same port and directory.
func TestAOFSurvivesStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server twice")
	}
	StartTestRedis(t) // skips without redis-server
	port, err := StablePort(rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if port < 20000 || port >= 32000 {
		t.Fatalf("StablePort = %d, want 20000-31999", port)
	}
	ctx := context.Background()
	s, err := StartRedis(ctx, RedisConfig{Dir: t.TempDir(), Port: port, AOF: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	if got := s.Command(t, "SET", "k", "v"); got != "OK" {
		t.Fatalf("SET = %q, want OK", got)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop() = %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop() = %v, want nil", err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	if got := s.Command(t, "GET", "k"); got != "v" {
		t.Errorf("GET after Stop and Start = %q, want v (from the AOF)", got)
	}
}

// TestStartRedisErrors: a missing Dir and a server that cannot start are
// errors, with nothing left running.
func TestStartRedisErrors(t *testing.T) {
	StartTestRedis(t) // skips without redis-server
	ctx := context.Background()
	if _, err := StartRedis(ctx, RedisConfig{}); err == nil {
		t.Error("StartRedis without Dir: no error")
	}
	_, err := StartRedis(ctx, RedisConfig{Dir: t.TempDir(), Args: []string{"--no-such-option", "x"}})
	if !errors.Is(err, errRedisExited) {
		t.Errorf("StartRedis with a bad option = %v, want errRedisExited", err)
	}
	live.Lock()
	n := len(live.m)
	live.Unlock()
	if n != 1 { // the StartTestRedis server
		t.Errorf("%d processes still running, want 1", n)
	}
}
