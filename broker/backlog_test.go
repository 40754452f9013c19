package broker

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// unixFloat formats t as the publish_stamp hook does (time.time()).
func unixFloat(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// backlogs calls r.Backlogs at now, checks that it took exactly one round
// trip and that its depths agree with QueueDepths.
func backlogs(t *testing.T, r *Redis, queues []string, now time.Time) map[string]Backlog {
	t.Helper()
	ctx := context.Background()
	depths, err := r.QueueDepths(ctx, queues) // also opens the connection
	if err != nil {
		t.Fatalf("QueueDepths() error: %v", err)
	}
	before := r.RoundTrips()
	got, err := r.Backlogs(ctx, queues, now)
	if err != nil {
		t.Fatalf("Backlogs() error: %v", err)
	}
	if trips := r.RoundTrips() - before; trips != 1 {
		t.Errorf("Backlogs() took %d round trips, want 1", trips)
	}
	for q, d := range depths {
		if got[q].Depth != d {
			t.Errorf("Backlogs()[%q].Depth = %d, QueueDepths() = %d", q, got[q].Depth, d)
		}
	}
	return got
}

func checkBacklogs(t *testing.T, got, want map[string]Backlog) {
	t.Helper()
	for q, w := range want {
		if g := got[q]; g != w {
			t.Errorf("Backlogs()[%q] = %+v, want %+v", q, g, w)
		}
	}
}

// TestBacklogs pushes raw envelopes (no Celery) and follows the ages over
// calls at chosen instants.
func TestBacklogs(t *testing.T) {
	srv := harness.StartTestRedis(t)
	t0 := time.Now().Truncate(time.Second)
	stamped := func(tag string, pub time.Time, eta *time.Time) string {
		h := map[string]any{"published_at": unixFloat(pub)}
		if eta != nil {
			h["eta"] = eta.Format("2006-01-02T15:04:05.000000-07:00")
		}
		return taskEnvelope(tag, h, 64)
	}
	future, past := t0.Add(time.Hour), t0.Add(-10*time.Second)
	// LPUSH order: the first pushed is the oldest, at index -1.
	for _, p := range []struct{ key, msg string }{
		{"plain", taskEnvelope("old", nil, 64)},
		{"plain", taskEnvelope("new", nil, 64)},
		{"mixed", taskEnvelope("m0", nil, 64)},
		{"mixed\x06\x163", stamped("m3", t0.Add(-30*time.Second), nil)},
		{"mixed\x06\x169", stamped("m9", t0.Add(-100*time.Second), &future)},
		{"due", stamped("d", t0.Add(-60*time.Second), &past)},
		{"future", stamped("f", t0.Add(-100*time.Second), &future)},
		{"garbage", "not json"},
	} {
		srv.Do(t, "LPUSH", p.key, p.msg)
	}
	r := newTestRedis(t, Config{URL: srv.URL(0)})
	queues := []string{"plain", "mixed", "due", "future", "missing", "garbage"}

	got := backlogs(t, r, queues, t0)
	checkBacklogs(t, got, map[string]Backlog{
		"plain":   {Depth: 2, OldestAge: 0, AgeExact: false},
		"mixed":   {Depth: 3, OldestAge: 30 * time.Second, AgeExact: true, Delayed: 1},
		"due":     {Depth: 1, OldestAge: 10 * time.Second, AgeExact: true}, // waiting since its ETA
		"future":  {Depth: 1, OldestAge: 0, AgeExact: true, Delayed: 1},
		"missing": {Depth: 0, OldestAge: 0, AgeExact: true},
		"garbage": {Depth: 1, OldestAge: 0, AgeExact: false},
	})

	// The lower bounds grow with the time since first seen.
	got = backlogs(t, r, queues, t0.Add(5*time.Second))
	checkBacklogs(t, got, map[string]Backlog{
		"plain":   {Depth: 2, OldestAge: 5 * time.Second, AgeExact: false},
		"mixed":   {Depth: 3, OldestAge: 35 * time.Second, AgeExact: true, Delayed: 1},
		"garbage": {Depth: 1, OldestAge: 5 * time.Second, AgeExact: false},
	})

	// A consumer takes the oldest: the next tail is first seen now.
	if got := srv.Do(t, "RPOP", "plain"); !strings.Contains(got, `"old"`) {
		t.Fatalf("RPOP plain = %.80s, want the message tagged old", got)
	}
	got = backlogs(t, r, queues, t0.Add(7*time.Second))
	checkBacklogs(t, got, map[string]Backlog{"plain": {Depth: 1, OldestAge: 0, AgeExact: false}})
	got = backlogs(t, r, queues, t0.Add(9*time.Second))
	checkBacklogs(t, got, map[string]Backlog{"plain": {Depth: 1, OldestAge: 2 * time.Second, AgeExact: false}})

	// Once its ETA passed, a delayed message waits from its ETA on.
	got = backlogs(t, r, []string{"future", "mixed"}, future.Add(time.Minute))
	checkBacklogs(t, got, map[string]Backlog{
		"future": {Depth: 1, OldestAge: time.Minute, AgeExact: true},
		"mixed":  {Depth: 3, OldestAge: time.Hour + time.Minute + 30*time.Second, AgeExact: true},
	})

	if got, err := r.Backlogs(context.Background(), nil, t0); err != nil || len(got) != 0 {
		t.Errorf("Backlogs(nil) = %v, %v, want empty", got, err)
	}
}

func TestBacklogsWrongType(t *testing.T) {
	srv := harness.StartTestRedis(t)
	srv.Do(t, "SET", "q\x06\x163", "not a list")
	srv.Do(t, "LPUSH", "q", "x")
	r := newTestRedis(t, Config{URL: srv.URL(0)})
	if got, err := r.Backlogs(context.Background(), []string{"q"}, time.Now()); err == nil {
		t.Fatalf("Backlogs() over a string key = %v, want WRONGTYPE error", got)
	}
}

// publish runs examples/producer.py against url and returns the instants
// just before and after it ran: every published_at lies between them.
func publish(t *testing.T, url string, args ...string) (before, after time.Time) {
	t.Helper()
	script, err := filepath.Abs("../examples/producer.py")
	if err != nil {
		t.Fatal(err)
	}
	before = time.Now()
	runPythonArgs(t, t.TempDir(), []string{"CELERY_BROKER_URL=" + url}, append([]string{script}, args...)...)
	return before, time.Now()
}

// TestBacklogsProducer publishes real Celery messages, stamped with
// published_at by the examples' hook, under a key prefix and a priority.
func TestBacklogsProducer(t *testing.T) {
	requireCelery(t)
	srv := harness.StartTestRedis(t)
	url := srv.URL(0)
	b1, a1 := publish(t, url, "--burst", "3", "--seconds", "1", "--queue", "reports", "--key-prefix", "pfx:")
	b2, a2 := publish(t, url, "--burst", "2", "--seconds", "1", "--queue", "reports", "--key-prefix", "pfx:",
		"--priority", "9")
	if got := srv.Do(t, "LLEN", "pfx:reports\x06\x169"); got != "2" {
		t.Fatalf("LLEN pfx:reports<sep>9 = %s, want 2", got)
	}
	r := newTestRedis(t, Config{URL: url, KeyPrefix: "pfx:"})
	within := func(b Backlog, now, before, after time.Time) {
		t.Helper()
		lo, hi := now.Sub(after), now.Sub(before)
		if b.Depth == 0 || !b.AgeExact || b.OldestAge < lo || b.OldestAge > hi {
			t.Errorf("Backlog = %+v, want AgeExact and OldestAge in [%s, %s]", b, lo, hi)
		}
	}

	now := time.Now().Add(3 * time.Second)
	got := backlogs(t, r, []string{"reports"}, now)
	if got["reports"].Depth != 5 {
		t.Errorf("Depth = %d, want 5", got["reports"].Depth)
	}
	within(got["reports"], now, b1, a1) // the step-0 burst is older

	// Once the step-0 list is consumed, the oldest is the priority burst.
	srv.Do(t, "DEL", "pfx:reports")
	got = backlogs(t, r, []string{"reports"}, now)
	within(got["reports"], now, b2, a2)
}

// BenchmarkBacklogs is one poll's broker read for 3 queues, each with
// messages in its base list and one priority sub-list (8 lists, 16
// commands, one round trip), by message size. "depths" is QueueDepths
// alone, for comparison.
func BenchmarkBacklogs(b *testing.B) {
	srv := harness.StartTestRedis(b)
	ctx := context.Background()
	queues := []string{"reports", "celery", "urgent"}
	for _, size := range []int{1 << 10, 64 << 10} {
		r := newTestRedis(b, Config{URL: srv.URL(0)})
		if err := r.client.FlushDB(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		for _, q := range queues {
			for i := range 10 {
				msg := taskEnvelope(q+strconv.Itoa(i), map[string]any{"published_at": unixFloat(time.Now())}, size)
				for _, key := range []string{q, q + DefaultSeparator + "3"} {
					if err := r.client.LPush(ctx, key, msg).Err(); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.Run(fmt.Sprintf("backlogs/msg=%dKiB", size>>10), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Backlogs(ctx, queues, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("depths/msg=%dKiB", size>>10), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.QueueDepths(ctx, queues); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
