package broker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// waitTimeout bounds every wait in the subscription tests.
const waitTimeout = 15 * time.Second

// subscriber runs SubscribeEvents in the background for a test and exposes
// what it saw through channels, so tests wait on events, not sleeps.
type subscriber struct {
	events chan Event
	states chan bool
	cancel context.CancelFunc
	wg     sync.WaitGroup
	err    error
}

func subscribe(t *testing.T, r *Redis) *subscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscriber{events: make(chan Event, 1024), states: make(chan bool, 64), cancel: cancel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.err = r.SubscribeEvents(ctx,
			func(ev Event) {
				select {
				case s.events <- ev:
				case <-ctx.Done():
				}
			},
			func(up bool) {
				select {
				case s.states <- up:
				case <-ctx.Done():
				}
			})
	}()
	t.Cleanup(s.stop(t))
	return s
}

func (s *subscriber) stop(t *testing.T) func() {
	return func() {
		s.cancel()
		s.wg.Wait()
		if s.err != nil {
			t.Errorf("SubscribeEvents() = %v after cancel, want nil", s.err)
		}
	}
}

func (s *subscriber) waitState(t *testing.T, want bool) {
	t.Helper()
	expectState(t, s.states, want)
}

// expectState waits for the next onState call, sent on states, and fails
// unless it is onState(want).
func expectState(t *testing.T, states <-chan bool, want bool) {
	t.Helper()
	select {
	case got := <-states:
		if got != want {
			t.Fatalf("onState(%v), want onState(%v)", got, want)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("no onState(%v) within %s", want, waitTimeout)
	}
}

// waitEvent returns the next event matching ok, skipping others.
func (s *subscriber) waitEvent(t *testing.T, what string, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case ev := <-s.events:
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event within %s", what, waitTimeout)
		}
	}
}

func heartbeatPayload(t *testing.T, host string) string {
	return string(envelopeFor(t, "worker.heartbeat", map[string]any{
		"type": "worker-heartbeat", "hostname": host, "active": 0, "freq": 2.0, "pid": 7, "timestamp": 1.0,
	}))
}

func TestSubscribeEventsResubscribes(t *testing.T) {
	srv := harness.StartTestRedis(t)
	r := newTestRedis(t, Config{URL: srv.URL(0)})
	s := subscribe(t, r)
	s.waitState(t, true)

	srv.Do(t, "PUBLISH", "/0.celeryev/worker.heartbeat", "not an envelope")
	srv.Do(t, "PUBLISH", "/1.celeryev/worker.heartbeat", heartbeatPayload(t, "otherdb@h"))
	srv.Do(t, "PUBLISH", "/0.celeryev/worker.heartbeat", heartbeatPayload(t, "w1@h"))
	ev := s.waitEvent(t, "heartbeat", func(Event) bool { return true })
	if ev.Hostname != "w1@h" || ev.Type != "worker-heartbeat" {
		t.Fatalf("first event = %+v, want the w1@h heartbeat (undecodable and other-db messages skipped)", ev)
	}
	if n := r.UndecodedMessages(); n != 1 {
		t.Errorf("UndecodedMessages() = %d, want 1", n)
	}

	srv.Kill()
	s.waitState(t, false)
	srv.Restart(t)
	s.waitState(t, true)
	srv.Do(t, "PUBLISH", "/0.celeryev/worker.heartbeat", heartbeatPayload(t, "w2@h"))
	s.waitEvent(t, "heartbeat after restart", func(ev Event) bool { return ev.Hostname == "w2@h" })
}

func TestSubscribeEventsKeyPrefix(t *testing.T) {
	srv := harness.StartTestRedis(t)
	r := newTestRedis(t, Config{URL: srv.URL(2), KeyPrefix: "p*x:"})
	if got, want := r.EventPattern(), `p\*x:/2.celeryev/*`; got != want {
		t.Fatalf("EventPattern() = %q, want %q", got, want)
	}
	s := subscribe(t, r)
	s.waitState(t, true)
	srv.Do(t, "PUBLISH", "pAx:/2.celeryev/worker.heartbeat", heartbeatPayload(t, "glob@h"))
	srv.Do(t, "PUBLISH", "/2.celeryev/worker.heartbeat", heartbeatPayload(t, "noprefix@h"))
	srv.Do(t, "PUBLISH", "p*x:/2.celeryev/worker.heartbeat", heartbeatPayload(t, "w1@h"))
	ev := s.waitEvent(t, "prefixed heartbeat", func(Event) bool { return true })
	if ev.Hostname != "w1@h" {
		t.Fatalf("first event from %q, want w1@h (only the literal prefix matches)", ev.Hostname)
	}
}

func TestSubscribeEventsRedisDownAtStart(t *testing.T) {
	srv := harness.StartTestRedis(t)
	srv.Kill()
	r := newTestRedis(t, Config{URL: srv.URL(0)})
	s := subscribe(t, r)
	select {
	case up := <-s.states:
		t.Fatalf("onState(%v) while Redis is down", up)
	case <-time.After(300 * time.Millisecond): // a few failed attempts
	}
	srv.Restart(t)
	s.waitState(t, true)
}
