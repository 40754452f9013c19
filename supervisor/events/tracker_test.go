package events

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

// step is one event observed at t0+sec seconds.
type step struct {
	sec float64
	ev  Event
}

func recv(uuid string) Event {
	return Event{Type: TaskReceived, Hostname: "w1@h", UUID: uuid, Name: "app.add", PID: 10}
}
func started(uuid string) Event { return Event{Type: TaskStarted, Hostname: "w1@h", UUID: uuid} }
func ended(typ, uuid string) Event {
	return Event{Type: typ, Hostname: "w1@h", UUID: uuid, Runtime: 0.25}
}
func beat(active int) Event {
	return Event{Type: WorkerBeat, Hostname: "w1@h", Active: active, Freq: 2, PID: 10}
}
func online() Event { return Event{Type: WorkerOnline, Hostname: "w1@h", Freq: 2, PID: 10} }

func TestTracker(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		now   float64
		want  Activity
		gone  bool // worker absent from the snapshot
	}{
		{"online is idle", []step{{0, online()}}, 1,
			Activity{Online: true, IdleSince: at(0), LastSeen: at(0), PID: 10}, false},
		{"received then started then succeeded", []step{{0, online()}, {1, recv("a")}, {2, started("a")}, {3, ended(TaskSucceeded, "a")}}, 4,
			Activity{Online: true, IdleSince: at(3), LastSeen: at(3), PID: 10}, false},
		{"received counts", []step{{0, online()}, {1, recv("a")}, {1, recv("b")}, {2, started("a")}}, 2,
			Activity{Online: true, Received: 1, Running: 1, LastSeen: at(2), PID: 10}, false},
		{"started without received", []step{{0, online()}, {1, started("a")}}, 2,
			Activity{Online: true, Running: 1, LastSeen: at(1), PID: 10}, false},
		{"duplicate received", []step{{0, online()}, {1, recv("a")}, {1.5, recv("a")}}, 2,
			Activity{Online: true, Received: 1, LastSeen: at(1.5), PID: 10}, false},
		{"started before received", []step{{0, online()}, {1, started("a")}, {1.1, recv("a")}}, 2,
			Activity{Online: true, Running: 1, LastSeen: at(1.1), PID: 10}, false},
		{"failed revoked rejected retried end tasks", []step{{0, online()},
			{1, started("a")}, {1, started("b")}, {1, started("c")}, {1, started("d")},
			{2, ended(TaskFailed, "a")}, {2, ended(TaskRevoked, "b")}, {2, ended(TaskRejected, "c")}, {2.5, ended(TaskRetried, "d")}}, 3,
			Activity{Online: true, IdleSince: at(2.5), LastSeen: at(2.5), PID: 10}, false},
		{"past eta counted", []step{{0, online()}, {1, Event{Type: TaskReceived, Hostname: "w1@h", UUID: "e", ETA: "2026-03-01T13:00:00+01:00"}}}, 2,
			// 13:00+01:00 is 12:00Z, before at(1): due, so counted.
			Activity{Online: true, Received: 1, LastSeen: at(1), PID: 10}, false},
		{"future eta skipped until due", []step{{0, online()}, {1, Event{Type: TaskReceived, Hostname: "w1@h", UUID: "e", ETA: "2026-03-01T12:01:00.5+00:00"}}}, 30,
			Activity{Online: true, IdleSince: at(0), LastSeen: at(1), PID: 10}, false},
		{"eta due by snapshot time", []step{{0, online()}, {1, Event{Type: TaskReceived, Hostname: "w1@h", UUID: "e", ETA: "2026-03-01T12:01:00+00:00"}}}, 60,
			Activity{Online: true, Received: 1, LastSeen: at(1), PID: 10}, false},
		{"eta task started counts running", []step{{0, online()}, {1, Event{Type: TaskReceived, Hostname: "w1@h", UUID: "e", ETA: "2026-03-01T12:01:00+00:00"}}, {60, started("e")}}, 61,
			Activity{Online: true, Running: 1, LastSeen: at(60), PID: 10}, false},
		{"bad eta counts as received", []step{{0, online()}, {1, Event{Type: TaskReceived, Hostname: "w1@h", UUID: "e", ETA: "tomorrow"}}}, 2,
			Activity{Online: true, Received: 1, LastSeen: at(1), PID: 10}, false},
		{"offline clears", []step{{0, online()}, {1, started("a")}, {2, Event{Type: WorkerOffline, Hostname: "w1@h"}}}, 3,
			Activity{}, true},
		{"heartbeat active 0 drops stale running and received", []step{{0, online()}, {1, started("a")}, {1, recv("b")}, {5.5, beat(0)}}, 6,
			Activity{Online: true, IdleSince: at(5.5), LastSeen: at(5.5), PID: 10}, false},
		{"heartbeat active 0 keeps recent", []step{{0, online()}, {1, started("a")}, {4, recv("b")}, {4.5, beat(0)}}, 5,
			Activity{Online: true, Running: 1, Received: 1, LastSeen: at(4.5), PID: 10}, false},
		{"heartbeat active 0 drops only stale", []step{{0, online()}, {1, started("a")}, {4, recv("b")}, {5.5, beat(0)}}, 6,
			Activity{Online: true, Received: 1, LastSeen: at(5.5), PID: 10}, false},
		{"heartbeat active 1 keeps running", []step{{0, online()}, {1, started("a")}, {10, beat(1)}}, 11,
			Activity{Online: true, Running: 1, LastSeen: at(10), PID: 10}, false},
		{"heartbeat active 1 drops oldest excess", []step{{0, online()}, {1, started("a")}, {2, started("b")}, {10, beat(1)}}, 11,
			Activity{Online: true, Running: 1, LastSeen: at(10), PID: 10}, false},
		{"heartbeat active without tasks invents none", []step{{0, online()}, {5, beat(2)}}, 6,
			Activity{Online: true, IdleSince: at(0), LastSeen: at(5), PID: 10}, false},
		{"heartbeat first seen is online idle", []step{{3, beat(0)}}, 4,
			Activity{Online: true, IdleSince: at(3), LastSeen: at(3), PID: 10}, false},
		{"task events before online", []step{{1, recv("a")}}, 2,
			Activity{Received: 1, LastSeen: at(1), PID: 10}, false},
		{"task-sent ignored", []step{{1, Event{Type: TaskSent, Hostname: "gen1@h", UUID: "a"}}}, 2,
			Activity{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker()
			for _, s := range tt.steps {
				tr.Observe(s.ev, at(s.sec))
			}
			snap := tr.Snapshot(at(tt.now))
			got, ok := snap["w1@h"]
			if tt.gone {
				if len(snap) != 0 {
					t.Fatalf("Snapshot = %+v, want empty", snap)
				}
				return
			}
			if !ok {
				t.Fatalf("Snapshot = %+v, want w1@h", snap)
			}
			if got != tt.want {
				t.Errorf("Snapshot()[w1@h] = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTrackerCompletion(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  Completion
		ok    bool
	}{
		{"succeeded uses event runtime", []step{{0, started("a")}, {3, ended(TaskSucceeded, "a")}},
			Completion{Outcome: OutcomeSucceeded, Runtime: 0.25, Worker: "w1@h"}, true},
		{"failed uses observed start", []step{{0, started("a")}, {1.5, ended(TaskFailed, "a")}},
			Completion{Outcome: OutcomeFailed, Runtime: 1.5, Worker: "w1@h"}, true},
		{"revoked unknown start", []step{{0, recv("a")}, {1, ended(TaskRevoked, "a")}},
			Completion{Outcome: OutcomeRevoked, Worker: "w1@h"}, true},
		{"rejected never seen", []step{{1, ended(TaskRejected, "z")}},
			Completion{Outcome: OutcomeRejected, Worker: "w1@h"}, true},
		{"retried", []step{{0, started("a")}, {2, ended(TaskRetried, "a")}},
			Completion{Outcome: OutcomeRetried, Runtime: 2, Worker: "w1@h"}, true},
		{"started is not an end", []step{{0, started("a")}}, Completion{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker()
			var (
				got Completion
				ok  bool
			)
			for _, s := range tt.steps {
				got, ok = tr.Observe(s.ev, at(s.sec))
			}
			if ok != tt.ok || got != tt.want {
				t.Errorf("Observe() = %+v, %v, want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestTrackerForgetAndIdleTransitions(t *testing.T) {
	tr := NewTracker()
	tr.Observe(online(), at(0))
	tr.Observe(recv("a"), at(1))
	if a := tr.Snapshot(at(1))["w1@h"]; !a.IdleSince.IsZero() {
		t.Fatalf("IdleSince = %v while busy, want zero", a.IdleSince)
	}
	tr.Observe(started("a"), at(2))
	tr.Observe(ended(TaskSucceeded, "a"), at(4))
	tr.Observe(beat(0), at(6)) // heartbeat must not move IdleSince
	if a := tr.Snapshot(at(7))["w1@h"]; !a.IdleSince.Equal(at(4)) {
		t.Fatalf("IdleSince = %v, want %v", a.IdleSince, at(4))
	}
	tr.Observe(Event{Type: WorkerOnline, Hostname: "w2@h"}, at(5))
	tr.Forget("w1@h")
	snap := tr.Snapshot(at(8))
	if _, ok := snap["w1@h"]; ok || len(snap) != 1 {
		t.Fatalf("after Forget, Snapshot = %+v, want only w2@h", snap)
	}
}
