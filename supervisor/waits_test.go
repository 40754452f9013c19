package supervisor

import (
	"testing"

	"github.com/revrx/revrx-supervise/supervisor/events"
)

func TestSentTimes(t *testing.T) {
	queues := map[string]bool{"reports": true}
	sent := func(id, queue, eta string, at float64) events.Event {
		return events.Event{Type: events.TaskSent, UUID: id, Queue: queue, ETA: eta, Timestamp: at, Hostname: "producer@p"}
	}
	start := func(id string, at float64) events.Event {
		return events.Event{Type: events.TaskStarted, UUID: id, Timestamp: at, Hostname: "worker1@h"}
	}
	for _, tc := range []struct {
		name   string
		sent   events.Event
		start  events.Event
		wait   float64
		wantOK bool
	}{
		{"publish to start", sent("a", "reports", "", 100), start("a", 102.5), 2.5, true},
		{"another queue is not ours", sent("b", "other", "", 100), start("b", 101), 0, false},
		{"an ETA's wait is by design", sent("c", "reports", "2026-12-02T00:00:00", 100), start("c", 160), 0, false},
		{"a producer clock ahead reads 0", sent("d", "reports", "", 100), start("d", 99), 0, true},
		{"past the TTL: forgotten", sent("e", "reports", "", 100), start("e", 100+2*sentTTL.Seconds()), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newSentTimes()
			st.sent(tc.sent, queues)
			if tc.name == "past the TTL: forgotten" {
				st.sent(sent("later", "reports", "", tc.start.Timestamp), queues) // an event after the TTL evicts it
			}
			wait, queue, ok := st.started(tc.start)
			if ok != tc.wantOK || wait != tc.wait || (ok && queue != "reports") {
				t.Fatalf("started() = %v, %q, %v; want %v, reports, %v", wait, queue, ok, tc.wait, tc.wantOK)
			}
			if _, _, again := st.started(tc.start); again {
				t.Fatal("a started task is remembered twice")
			}
		})
	}
}

func TestSentTimesBounded(t *testing.T) {
	st := newSentTimes()
	for i := range sentCap + 500 {
		st.sent(events.Event{UUID: string(rune('a'+i%26)) + string(rune(i)), Queue: "q", Timestamp: 1000}, map[string]bool{"q": true})
	}
	if n := len(st.byID); n > sentCap {
		t.Fatalf("%d publish times kept, want at most %d", n, sentCap)
	}
}
