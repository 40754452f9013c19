package policy

import (
	"strings"
	"testing"
	"time"
)

// TestLedgerGrant: a group's grant counts every other group at the larger
// of what it last reported and its last grant's limit, at fixed instants.
func TestLedgerGrant(t *testing.T) {
	b := Budget{Max: 10, RebalanceAfter: 5 * time.Second}
	names, mins, caps := []string{"video", "audio"}, []int{1, 0}, []int{10, 6}
	tests := []struct {
		name      string
		before    []GroupLoad // granted in order before the one checked
		load      GroupLoad
		wantLimit int
		wantShare int
	}{
		{
			name:      "first ask: the other counts at its minimum",
			load:      GroupLoad{Name: "audio", Min: 0, Max: 6, Ask: 6, Wanted: 6, Backlog: 40},
			wantLimit: 6, wantShare: 6,
		},
		{
			name:      "the other's last grant counts while it holds less",
			before:    []GroupLoad{{Name: "video", Min: 1, Max: 10, Held: 1, Ask: 10, Wanted: 10, Backlog: 20, Runtime: 25 * time.Second}},
			load:      GroupLoad{Name: "audio", Min: 0, Max: 6, Ask: 6, Wanted: 6, Backlog: 40, Runtime: time.Second / 2},
			wantLimit: 0, wantShare: 1, // video may grow to 10 under its grant
		},
		{
			name: "the other's processes count while they are more than its grant",
			before: []GroupLoad{
				{Name: "audio", Min: 0, Max: 6, Ask: 6, Wanted: 6, Backlog: 6},
				{Name: "video", Min: 1, Max: 10, Held: 8, Ask: 2, Wanted: 2, Backlog: 2}, // granted 2 while audio is short
			},
			load:      GroupLoad{Name: "audio", Min: 0, Max: 6, Ask: 6, Wanted: 6, Backlog: 6},
			wantLimit: 2, wantShare: 6, // video's 8 alive count, not its grant of 2
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLedger(b, names, mins, caps)
			for _, g := range tt.before {
				if _, err := l.Grant(g, t0); err != nil {
					t.Fatal(err)
				}
			}
			a, err := l.Grant(tt.load, t0)
			if err != nil {
				t.Fatal(err)
			}
			if a.Limit != tt.wantLimit || a.Share != tt.wantShare {
				t.Errorf("limit %d share %d, want %d %d (%s)", a.Limit, a.Share, tt.wantLimit, tt.wantShare, a.Reason)
			}
			if got := l.Allocations()[1]; got != a {
				t.Errorf("Allocations()[1] = %+v, want the grant %+v", got, a)
			}
		})
	}
	if _, err := NewLedger(b, names, mins, caps).Grant(GroupLoad{Name: "misc"}, t0); err == nil || !strings.Contains(err.Error(), `"misc"`) {
		t.Errorf("unknown group: err %v, want one naming it", err)
	}
}

func TestLoadOf(t *testing.T) {
	obs := Observation{OldestWait: 3 * time.Second, Workers: []WorkerView{
		{Name: "p1", Phase: PhaseBusy, Running: 1}, {Name: "p2", Phase: PhaseStopping}, {Name: "p3", Phase: PhaseDraining}, {Name: "p4", Phase: PhaseStarting}}}
	free := Decision{Desired: 5, Wanted: 7, Demand: 9} // one of the 9 runs: a backlog of 8
	got := LoadOf("video", obs, free, 1, 6, 2*time.Second)
	want := GroupLoad{Name: "video", Min: 1, Max: 6, Held: 4, Leaving: 2, Ask: 5, Wanted: 7, Backlog: 8, Runtime: 2 * time.Second, OldestWait: 3 * time.Second}
	if got != want {
		t.Errorf("LoadOf = %+v, want %+v", got, want)
	}
}

func TestNextRuntime(t *testing.T) {
	for _, tt := range []struct{ mean, sample, want float64 }{
		{0, 2, 2},      // the first sample is the mean
		{2, 2, 2},      // a steady runtime stays
		{1, 6, 2},      // each new one weighs RuntimeWeight
		{10, 0.5, 8.1}, // a short task pulls it down by a fifth of the gap
	} {
		if got := NextRuntime(tt.mean, tt.sample); got != tt.want {
			t.Errorf("NextRuntime(%v, %v) = %v, want %v", tt.mean, tt.sample, got, tt.want)
		}
	}
}

// TestLedgerHostSchedule: a host schedule's max= lowers the budget the
// groups share while it is in force, and only then.
func TestLedgerHostSchedule(t *testing.T) {
	night, err := ParseSchedule("* 22:00-06:00 max=4")
	if err != nil {
		t.Fatal(err)
	}
	b := Budget{Max: 10, Schedules: []Schedule{night}, Location: time.UTC}
	if got := b.At(t0).Max; got != 10 {
		t.Errorf("at noon the budget is %d, want 10", got)
	}
	late := time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)
	if got := b.At(late).Max; got != 4 {
		t.Errorf("at 23:00 the budget is %d, want 4", got)
	}
	l := NewLedger(b, []string{"a", "b"}, []int{0, 0}, []int{10, 10})
	a, err := l.Grant(GroupLoad{Name: "a", Max: 10, Ask: 10, Wanted: 10, Backlog: 50}, late)
	if err != nil {
		t.Fatal(err)
	}
	if a.Limit != 4 || a.Share != 4 {
		t.Errorf("at 23:00 a asking for 10 got share %d limit %d, want 4 and 4 (%s)", a.Share, a.Limit, a.Reason)
	}
}
