package broker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// Bounds of the change subscription tests.
const (
	changeLatency = 100 * time.Millisecond // a write must be reported this fast
	quietWindow   = 300 * time.Millisecond // how long "no call" is watched for
)

// watcher runs SubscribeChanges in the background for a test and exposes
// its calls through channels.
type watcher struct {
	changes chan time.Time
	states  chan bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	err     error
}

func watch(t *testing.T, r *Redis, queues ...string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{changes: make(chan time.Time, 1024), states: make(chan bool, 64), cancel: cancel}
	w.wg.Go(func() {
		w.err = r.SubscribeChanges(ctx, queues,
			func() {
				select {
				case w.changes <- time.Now():
				default: // a test that floods does not read every call
				}
			},
			func(up bool) {
				select {
				case w.states <- up:
				case <-ctx.Done():
				}
			})
	})
	t.Cleanup(func() {
		w.cancel()
		w.wg.Wait()
		if w.err != nil {
			t.Errorf("SubscribeChanges() = %v after cancel, want nil", w.err)
		}
	})
	return w
}

// watchedServer starts a Redis and a confirmed watch of queues on it.
func watchedServer(t *testing.T, queues ...string) (*harness.Redis, *Redis, *watcher) {
	t.Helper()
	srv := harness.StartTestRedis(t)
	r := newTestRedis(t, Config{URL: srv.URL(0)})
	w := watch(t, r, queues...)
	w.waitUp(t)
	return srv, r, w
}

// lpush pushes a message onto key and returns when it started.
func lpush(t *testing.T, r *Redis, key string) time.Time {
	t.Helper()
	start := time.Now()
	if err := r.client.LPush(context.Background(), key, "m").Err(); err != nil {
		t.Fatalf("LPUSH %q: %v", key, err)
	}
	return start
}

// waitUp waits for the subscription and the changed call that follows it.
func (w *watcher) waitUp(t *testing.T) {
	t.Helper()
	w.waitState(t, true)
	w.waitChange(t, time.Now(), waitTimeout)
}

func (w *watcher) waitState(t *testing.T, want bool) {
	t.Helper()
	expectState(t, w.states, want)
}

// waitChange waits for a changed call at most within after since.
func (w *watcher) waitChange(t *testing.T, since time.Time, within time.Duration) {
	t.Helper()
	select {
	case at := <-w.changes:
		if d := at.Sub(since); d > within {
			t.Errorf("changed %s after the write, want within %s", d, within)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("no changed call within %s", waitTimeout)
	}
}

// quiet waits until changed has not been called for quietWindow.
func (w *watcher) quiet(t *testing.T) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case <-w.changes:
		case <-time.After(quietWindow):
			return
		case <-deadline:
			t.Fatalf("changed still called after %s", waitTimeout)
		}
	}
}

// noChange fails if changed is called within quietWindow.
func (w *watcher) noChange(t *testing.T, what string) {
	t.Helper()
	select {
	case <-w.changes:
		t.Fatalf("changed called after %s", what)
	case <-time.After(quietWindow):
	}
}

func TestSubscribeChanges(t *testing.T) {
	tests := []struct {
		name      string
		prefix    string
		queues    []string
		watched   []string // each write to one of these is reported
		unwatched []string // writes to these are not
	}{
		{"queue and priority lists", "", []string{"reports"},
			[]string{"reports", "reports\x06\x163", "reports\x06\x169"},
			[]string{"reports2", "other", "reports\x06\x164", "_kombu.binding.reports"}},
		{"key prefix", "pfx:", []string{"reports", "celery"},
			[]string{"pfx:reports", "pfx:celery\x06\x166"},
			[]string{"reports", "celery", "pfx:celery-task-meta-1", "pfx:_kombu.binding.celery"}},
		{"overlapping queue names", "", []string{"rep", "reports", "re"},
			[]string{"re", "rep", "reports\x06\x163"},
			[]string{"r", "reports2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := harness.StartTestRedis(t)
			r := newTestRedis(t, Config{URL: srv.URL(0), KeyPrefix: tt.prefix})
			w := watch(t, r, tt.queues...)
			w.waitUp(t)
			ctx := context.Background()
			for _, key := range tt.watched {
				w.waitChange(t, lpush(t, r, key), changeLatency)
				if err := r.client.RPop(ctx, key).Err(); err != nil {
					t.Fatalf("RPOP %q: %v", key, err)
				}
				w.waitChange(t, time.Now(), waitTimeout) // a worker's pop is a change too
			}
			w.quiet(t)
			for _, key := range tt.unwatched {
				lpush(t, r, key)
			}
			// A watched write after the others: a call for any of them
			// would come before this one, and a second call soon after.
			w.waitChange(t, lpush(t, r, tt.watched[0]), changeLatency)
			w.noChange(t, "writes to "+strings.Join(tt.unwatched, ", "))
		})
	}
}

func TestSubscribeChangesResubscribes(t *testing.T) {
	const secret = "hidden-pw"
	srv := harness.StartTestRedis(t, "--requirepass", secret)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := newTestRedis(t, Config{URL: "redis://:" + secret + "@" + srv.Addr + "/0", Logger: log})
	w := watch(t, r, "reports")
	w.waitUp(t)

	srv.Kill()
	w.waitState(t, false)
	srv.Restart(t)
	w.waitUp(t)
	w.waitChange(t, lpush(t, r, "reports"), changeLatency)

	w.cancel()
	w.wg.Wait()
	if got := logs.String(); strings.Contains(got, secret) || !strings.Contains(got, "resubscribing") {
		t.Errorf("logs = %q, want the loss logged without the password", got)
	}
}

// TestSubscribeChangesFlood: pushes and pops as fast as one client can for
// a second give a few calls per changeMute, not one per write, and the
// last write is still reported.
func TestSubscribeChangesFlood(t *testing.T) {
	_, r, w := watchedServer(t, "reports")
	ctx := context.Background()
	writes, start := 0, time.Now()
	var lastWrite time.Time
	for time.Since(start) < time.Second {
		lastWrite = lpush(t, r, "reports")
		if err := r.client.RPop(ctx, "reports").Err(); err != nil {
			t.Fatalf("RPOP: %v", err)
		}
		writes += 2
	}
	if during, limit := len(w.changes), 4*int(time.Since(start)/changeMute); during > limit {
		t.Errorf("%d changed calls for %d writes in %s, want <= %d", during, writes, time.Since(start), limit)
	}
	for deadline := time.After(waitTimeout); ; {
		select {
		case at := <-w.changes:
			if !at.Before(lastWrite) {
				return
			}
		case <-deadline:
			t.Fatalf("no changed call after the last write within %s", waitTimeout)
		}
	}
}

// TestSubscribeChangesFlush: a FLUSHALL's invalidation (a null key list)
// is reported as a change, by resubscribing, and the watch goes on.
func TestSubscribeChangesFlush(t *testing.T) {
	srv, r, w := watchedServer(t, "reports")
	srv.Do(t, "FLUSHALL")
	w.waitState(t, false)
	w.waitUp(t)
	w.waitChange(t, lpush(t, r, "reports"), changeLatency)
}

func TestSubscribeChangesNoTracking(t *testing.T) {
	for _, deny := range []string{"-client", "-client|tracking"} {
		t.Run(deny, func(t *testing.T) {
			srv := harness.StartTestRedis(t)
			srv.Do(t, "ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", deny)
			r := newTestRedis(t, Config{URL: "redis://app:pw@" + srv.Addr + "/0"})
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			err := r.SubscribeChanges(ctx, []string{"reports"}, func() {}, nil)
			if !errors.Is(err, ErrNoTracking) {
				t.Fatalf("SubscribeChanges() = %v, want ErrNoTracking", err)
			}
			if ctx.Err() != nil {
				t.Fatalf("SubscribeChanges() returned only at the deadline, want at once")
			}
		})
	}
}

func TestDisjointPrefixes(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{"reports"}, []string{"reports"}},
		{[]string{"reports", "rep", "celery", "re"}, []string{"celery", "re"}},
		{[]string{"b", "a", "b"}, []string{"a", "b"}},
		{[]string{"pfx:a", "pfx:ab", "pfx:b"}, []string{"pfx:a", "pfx:b"}},
	}
	for _, tt := range tests {
		if got := disjointPrefixes(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("disjointPrefixes(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// syncWriter serializes writes to w, for a log read after the goroutines end.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
