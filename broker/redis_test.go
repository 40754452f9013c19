package broker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/revrx/revrx-supervise/internal/harness"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newTestRedis returns a client for cfg against srv, closed at cleanup.
func newTestRedis(t testing.TB, cfg Config) *Redis {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"ok", Config{URL: "redis://h/0"}, ""},
		{"bad url", Config{URL: "amqp://h"}, "broker URL"},
		{"steps not increasing", Config{URL: "redis://h", PrioritySteps: []int{0, 6, 3}}, "PrioritySteps"},
		{"negative step", Config{URL: "redis://h", PrioritySteps: []int{-1, 3}}, "PrioritySteps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
			if _, err := New(tt.cfg); err == nil {
				t.Fatalf("New() accepted an invalid config")
			}
		})
	}
}

func TestQueueDepths(t *testing.T) {
	srv := harness.StartTestRedis(t)
	push := func(key string, n int) {
		for i := 0; i < n; i++ {
			srv.Do(t, "LPUSH", key, "m"+strconv.Itoa(i))
		}
	}
	push("reports", 2)
	push("reports\x06\x163", 3)
	push("reports\x06\x169", 4)
	push("reports\x06\x162", 100) // not a configured step
	push("pfx:reports", 1)
	push("pfx:reports\x06\x166", 5)
	push("celery", 7)

	tests := []struct {
		name   string
		cfg    Config
		queues []string
		want   map[string]int64
	}{
		{"priority lists summed", Config{}, []string{"reports", "celery", "missing"},
			map[string]int64{"reports": 9, "celery": 7, "missing": 0}},
		{"key prefix", Config{KeyPrefix: "pfx:"}, []string{"reports", "celery"},
			map[string]int64{"reports": 6, "celery": 0}},
		{"custom steps", Config{PrioritySteps: []int{0, 2}}, []string{"reports"},
			map[string]int64{"reports": 102}},
		{"duplicates", Config{}, []string{"celery", "celery"}, map[string]int64{"celery": 7}},
		{"none", Config{}, nil, map[string]int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.URL = srv.URL(0)
			r := newTestRedis(t, cfg)
			// Open the connection first: its handshake (HELLO) also counts.
			if _, err := r.QueueDepths(context.Background(), []string{"warmup"}); err != nil {
				t.Fatalf("QueueDepths() error: %v", err)
			}
			before := r.RoundTrips()
			got, err := r.QueueDepths(context.Background(), tt.queues)
			if err != nil {
				t.Fatalf("QueueDepths() error: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("QueueDepths() = %v, want %v", got, tt.want)
			}
			for q, n := range tt.want {
				if got[q] != n {
					t.Errorf("QueueDepths()[%q] = %d, want %d", q, got[q], n)
				}
			}
			wantTrips := int64(1)
			if len(tt.queues) == 0 {
				wantTrips = 0
			}
			if trips := r.RoundTrips() - before; trips != wantTrips {
				t.Errorf("QueueDepths() took %d round trips, want %d", trips, wantTrips)
			}
		})
	}
}

func TestQueueDepthsOtherDB(t *testing.T) {
	srv := harness.StartTestRedis(t)
	srv.Do(t, "-n", "3", "LPUSH", "reports", "a")
	r := newTestRedis(t, Config{URL: srv.URL(3)})
	got, err := r.QueueDepths(context.Background(), []string{"reports"})
	if err != nil || got["reports"] != 1 {
		t.Fatalf("QueueDepths() = %v, %v, want reports=1", got, err)
	}
}

func TestPassword(t *testing.T) {
	const secret = "s3cr3t"
	srv := harness.StartTestRedis(t, "--requirepass", secret)
	ctx := context.Background()
	srv.Do(t, "LPUSH", "q", "a")

	good := newTestRedis(t, Config{URL: "redis://:" + secret + "@" + srv.Addr + "/0"})
	if err := good.Ping(ctx); err != nil {
		t.Fatalf("Ping() with the right password: %v", err)
	}
	if got, err := good.QueueDepths(ctx, []string{"q"}); err != nil || got["q"] != 1 {
		t.Fatalf("QueueDepths() = %v, %v, want q=1", got, err)
	}
	if strings.Contains(good.Redacted(), secret) {
		t.Errorf("Redacted() = %q leaks the password", good.Redacted())
	}

	for _, url := range []string{
		"redis://:wrong-" + secret + "-pw@" + srv.Addr + "/0",
		"redis://" + srv.Addr + "/0?password=wrong-" + secret + "-pw",
		"redis://" + srv.Addr + "/0",
	} {
		bad := newTestRedis(t, Config{URL: url})
		err := bad.Ping(ctx)
		if err == nil {
			t.Fatalf("Ping() with a wrong password succeeded")
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Ping() error leaks the password: %q", err)
		}
		_, err = bad.QueueDepths(ctx, []string{"q"})
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("QueueDepths() error = %v, want an error without the password", err)
		}
	}
}

func TestRedisDownDoesNotHang(t *testing.T) {
	srv := harness.StartTestRedis(t)
	r := newTestRedis(t, Config{URL: "redis://:pw-" + "hidden@" + srv.Addr + "/0"})
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := r.QueueDepths(ctx, []string{"reports"})
	if err == nil {
		t.Fatal("QueueDepths() against a stopped Redis succeeded")
	}
	if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("QueueDepths() took %s (%v); want a fast failure", time.Since(start), err)
	}
	if strings.Contains(err.Error(), "hidden") {
		t.Errorf("error leaks the password: %q", err)
	}
	srv.Restart(t)
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("Ping() after Redis came back: %v", err)
	}
}

func TestRedisUnixSocket(t *testing.T) {
	sock := t.TempDir() + "/r.sock"
	srv := harness.StartTestRedis(t, "--unixsocket", sock)
	srv.Do(t, "-n", "2", "LPUSH", "q", "a", "b")
	for _, url := range []string{"unix://" + sock + "?db=2", "redis+socket://" + sock + "?virtual_host=2"} {
		r := newTestRedis(t, Config{URL: url})
		got, err := r.QueueDepths(context.Background(), []string{"q"})
		if err != nil || got["q"] != 2 {
			t.Fatalf("%s: QueueDepths() = %v, %v, want q=2", url, got, err)
		}
	}
}
