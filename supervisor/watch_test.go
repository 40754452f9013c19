package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// watchTimeout bounds every real-time wait in these tests.
const watchTimeout = 10 * time.Second

// fakeWatchedQueue is a Queue with change notifications: each Backlogs call
// is sent on reads (when not nil), and subscribe runs as SubscribeChanges.
type fakeWatchedQueue struct {
	reads     chan time.Time
	subscribe func(ctx context.Context, changed func(), onState func(bool)) error
}

func (q *fakeWatchedQueue) Backlogs(ctx context.Context, _ []string, now time.Time) (map[string]Backlog, error) {
	if q.reads != nil {
		select {
		case q.reads <- time.Now():
		case <-ctx.Done():
		}
	}
	return map[string]Backlog{"reports": {}}, nil
}

func (q *fakeWatchedQueue) SubscribeChanges(ctx context.Context, queues []string, changed func(), onState func(bool)) error {
	return q.subscribe(ctx, changed, onState)
}

var _ QueueWatcher = (*fakeWatchedQueue)(nil)

// errNoTracking is the fake watcher's reason to give up.
var errNoTracking = errors.New("client tracking refused")

// runSupervisor runs a supervisor on q with the given poll interval until
// the returned stop is called; stop returns Run's error.
func runSupervisor(t *testing.T, q Queue, poll time.Duration, log *slog.Logger) (*Supervisor, func() error) {
	t.Helper()
	sup, err := New(Config{Policy: policy.Config{Min: 1, Max: 2, TasksPerWorker: 1, Keepalive: time.Second},
		Queues: []string{"reports"}, PollInterval: poll, Logger: log},
		q, fakeEvents{}, newFakePool(), prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	return sup, func() error {
		cancel()
		return <-done
	}
}

// collect gathers what is sent on ch until it is closed.
func collect(ch <-chan time.Time) <-chan []time.Time {
	out := make(chan []time.Time, 1)
	go func() {
		var all []time.Time
		for at := range ch {
			all = append(all, at)
		}
		out <- all
	}()
	return out
}

// TestRunTicksOnQueueChange: with a poll interval of an hour, a change
// notification alone makes the loop read the queues.
func TestRunTicksOnQueueChange(t *testing.T) {
	notify := make(chan func(), 1)
	q := &fakeWatchedQueue{reads: make(chan time.Time, 16),
		subscribe: func(ctx context.Context, changed func(), onState func(bool)) error {
			onState(true)
			notify <- changed
			<-ctx.Done()
			onState(false)
			return nil
		}}
	sup, stop := runSupervisor(t, q, time.Hour, nil)
	wait := func(what string) {
		t.Helper()
		select {
		case <-q.reads:
		case <-time.After(watchTimeout):
			t.Fatalf("no Backlogs call %s within %s", what, watchTimeout)
		}
	}
	wait("for the first tick")
	changed := <-notify
	if got := testutil.ToFloat64(sup.m.queueWatchUp); got != 1 {
		t.Errorf("revrx_queue_watch_up = %v while subscribed, want 1", got)
	}
	for i := range 3 {
		at := time.Now()
		changed()
		wait("after change " + string(rune('1'+i)))
		if d := time.Since(at); d < ChangeSettle {
			t.Errorf("the read came %s after the change, want it to settle %s first", d, ChangeSettle)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run() = %v, want nil", err)
	}
	if got := testutil.ToFloat64(sup.m.queueWatchUp); got != 0 {
		t.Errorf("revrx_queue_watch_up = %v after Run, want 0", got)
	}
}

// TestRunBoundsChangeTicks: a flood of notifications (one every 100µs for
// a second, as BRPOPs under load give) makes ticks at most one per
// max(ChangeSettle, MinChangeGap), and still some.
func TestRunBoundsChangeTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		flooded := make(chan struct{})
		q := &fakeWatchedQueue{subscribe: func(ctx context.Context, changed func(), onState func(bool)) error {
			onState(true)
			for end := time.Now().Add(time.Second); time.Now().Before(end); {
				changed()
				time.Sleep(100 * time.Microsecond)
			}
			close(flooded)
			<-ctx.Done()
			return nil
		}}
		q.reads = make(chan time.Time)
		collected := collect(q.reads)
		_, stop := runSupervisor(t, q, time.Hour, nil)
		<-flooded
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatalf("Run() = %v, want nil", err)
		}
		close(q.reads)
		reads := <-collected
		// The first tick, then at most one per gap over the second: a change
		// settles ChangeSettle, and ticks are MinChangeGap apart at least.
		gap := max(ChangeSettle, MinChangeGap)
		if most := 2 + int(time.Second/gap); len(reads) > most || len(reads) < most/2 {
			t.Errorf("%d ticks during a 1 s flood of notifications, want %d..%d", len(reads), most/2, most)
		}
		for i := 1; i < len(reads); i++ {
			if d := reads[i].Sub(reads[i-1]); d < gap {
				t.Errorf("ticks %d and %d %s apart, want >= %s", i-1, i, d, gap)
			}
		}
	})
}

// TestRunPollsWithoutTracking: when the watcher gives up, the loop says so
// once and goes on polling every PollInterval.
func TestRunPollsWithoutTracking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		q := &fakeWatchedQueue{reads: make(chan time.Time),
			subscribe: func(context.Context, func(), func(bool)) error {
				return fmt.Errorf("subscribe changes: %w", errNoTracking)
			}}
		collected := collect(q.reads)
		sup, stop := runSupervisor(t, q, time.Second, log)
		time.Sleep(3500 * time.Millisecond)
		if err := stop(); err != nil {
			t.Fatalf("Run() = %v, want nil", err)
		}
		close(q.reads)
		if reads := <-collected; len(reads) != 4 {
			t.Errorf("%d Backlogs calls in 3.5 s at a 1 s poll interval, want 4", len(reads))
		}
		if got := testutil.ToFloat64(sup.m.queueWatchUp); got != 0 {
			t.Errorf("revrx_queue_watch_up = %v, want 0", got)
		}
		if n := strings.Count(logs.String(), "queue change notifications unavailable"); n != 1 ||
			!strings.Contains(logs.String(), errNoTracking.Error()) {
			t.Errorf("logs = %q, want the fallback said once with its cause", logs.String())
		}
	})
}
