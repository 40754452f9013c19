package policy

import (
	"strings"
	"testing"
	"time"
)

func TestAllocate(t *testing.T) {
	budget := Budget{Max: 10, RebalanceAfter: 5 * time.Second}
	video := GroupLoad{Name: "video", Min: 1, Max: 10, Runtime: 25 * time.Second}
	audio := GroupLoad{Name: "audio", Min: 0, Max: 10, Runtime: 500 * time.Millisecond}
	with := func(g GroupLoad, held, ask int, backlog int64, oldest time.Duration) GroupLoad {
		g.Held, g.Ask, g.Wanted, g.Backlog, g.OldestWait = held, ask, ask, backlog, oldest
		return g
	}
	tests := []struct {
		name       string
		groups     []GroupLoad
		budget     Budget
		wantShare  []int
		wantLimit  []int
		wantYield  []bool
		wantRetire []bool
		wantCapped []bool
		wantReason string // in the first group's reason
	}{
		{
			name: "burst in one group while the other runs long tasks: the burst takes the spare room, the long tasks run on",
			groups: []GroupLoad{
				with(video, 4, 4, 0, 0),               // four 25 s tasks running, none waiting
				with(audio, 0, 10, 40, 2*time.Second), // a burst of 40 short ones
			},
			// Audio's backlog is where waiting is worst: it would have all
			// but video's minimum if every process were free; it gets the 6
			// free now, and video's busy processes finish their tasks and
			// then are audio's (video is held at its share).
			wantShare: []int{1, 9}, wantLimit: []int{1, 6}, wantYield: []bool{false, false},
			wantReason: "group video: share 1 of 10, held at 1 while group audio is short",
		},
		{
			name: "two groups saturated: shares by time-to-clear, nothing taken from busy processes",
			groups: []GroupLoad{
				with(video, 6, 10, 30, 40*time.Second), // 30 x 25 s of work
				with(audio, 4, 10, 200, 3*time.Second), // 200 x 0.5 s of work
			},
			// video: 750 s of work, audio 100 s: 8 to 2 (audio's first
			// process comes first: a group with none goes before any other).
			// Audio shrinks to 2 as its processes go idle, at once since
			// video has waited past RebalanceAfter; video grows as they do.
			// Video's backlog takes 125 s to clear on its 6, far longer than
			// an audio task runs: audio's busy processes may retire.
			wantShare: []int{8, 2}, wantLimit: []int{6, 2}, wantYield: []bool{false, true}, wantRetire: []bool{false, true},
			wantReason: "group video: share 8 of 10, limit 6 (6 free)",
		},
		{
			name: "a capped group with a huge backlog never passes its cap; the rest stays free",
			groups: []GroupLoad{
				{Name: "llm", Min: 0, Max: 3, Held: 3, Ask: 3, Wanted: 10, Backlog: 5000, Runtime: 2 * time.Second, OldestWait: time.Hour},
				with(audio, 1, 1, 1, 0),
			},
			// audio's limit is what it asks for: unused room it reserved
			// would hold back the next group to ask.
			wantShare: []int{3, 1}, wantLimit: []int{3, 1}, wantCapped: []bool{true, false},
			wantReason: "group llm: share 3 of 10, limit 3 (9 free)",
		},
		{
			name: "minimums that take the whole budget leave nothing to share",
			groups: []GroupLoad{
				{Name: "a", Min: 6, Max: 10, Held: 6, Ask: 10, Wanted: 10, Backlog: 100, OldestWait: time.Minute},
				{Name: "b", Min: 4, Max: 10, Held: 4, Ask: 10, Wanted: 10, Backlog: 100, OldestWait: time.Minute},
			},
			wantShare: []int{6, 4}, wantLimit: []int{6, 4},
			wantReason: "group a: share 6 of 10, limit 6 (6 free)",
		},
		{
			name: "a group whose main restarted is below its minimum: the other yields idle ones at once",
			groups: []GroupLoad{
				{Name: "a", Min: 3, Max: 10, Held: 0, Ask: 3, Wanted: 3},
				{Name: "b", Min: 0, Max: 10, Held: 10, Ask: 2, Wanted: 2, Backlog: 2},
			},
			wantShare: []int{3, 2}, wantLimit: []int{0, 2}, wantYield: []bool{false, true},
			wantReason: "group a: share 3 of 10, limit 0 (0 free)",
		},
		{
			name: "short but not waiting long: the other gives back only after its keepalive",
			groups: []GroupLoad{
				with(video, 1, 3, 3, time.Second),
				with(audio, 9, 9, 2, 0),
			},
			wantShare: []int{3, 7}, wantLimit: []int{1, 7}, wantYield: []bool{false, false},
			wantReason: "group video: share 3 of 10, limit 1 (1 free)",
		},
		{
			name: "short for longer than RebalanceAfter with its tasks reserved in its main (no broker wait): the other yields",
			groups: []GroupLoad{
				{Name: "video", Min: 1, Max: 10, Held: 2, Ask: 4, Wanted: 4, Backlog: 4, Runtime: 12 * time.Second, ShortFor: 6 * time.Second},
				{Name: "audio", Min: 0, Max: 10, Held: 8, Ask: 0, Wanted: 0, Runtime: 500 * time.Millisecond},
			},
			wantShare: []int{4, 0}, wantLimit: []int{2, 0}, wantYield: []bool{false, true},
			wantReason: "group video: share 4 of 10, limit 2 (2 free)",
		},
		{
			name: "a burst short of room while long tasks run: idle ones move at once, busy ones stay (their tasks outlast the burst)",
			groups: []GroupLoad{
				{Name: "video", Min: 0, Max: 10, Held: 8, Ask: 8, Wanted: 8, Runtime: 25 * time.Second},
				{Name: "audio", Min: 0, Max: 10, Held: 2, Ask: 10, Wanted: 10, Backlog: 40, Runtime: 500 * time.Millisecond, OldestWait: 6 * time.Second},
			},
			wantShare: []int{1, 9}, wantLimit: []int{1, 2}, wantYield: []bool{true, false}, wantRetire: []bool{false, false},
			wantReason: "group video: share 1 of 10, held at 1 while group audio is short",
		},
		{
			name: "short but the host has room for it: it grows into the room, nobody yields",
			groups: []GroupLoad{
				{Name: "video", Min: 1, Max: 10, Held: 2, Ask: 4, Wanted: 4, Backlog: 2, Runtime: 12 * time.Second, ShortFor: 6 * time.Second},
				{Name: "audio", Min: 0, Max: 10, Held: 4, Ask: 0, Wanted: 0, Runtime: 500 * time.Millisecond},
			},
			wantShare: []int{4, 0}, wantLimit: []int{4, 0}, wantYield: []bool{false, false},
			wantReason: "group video: share 4 of 10, limit 4 (6 free)",
		},
		{
			name: "leaving processes count against the host until they exit",
			groups: []GroupLoad{
				{Name: "a", Min: 0, Max: 10, Held: 5, Leaving: 3, Ask: 2, Wanted: 2, Backlog: 2},
				{Name: "b", Min: 0, Max: 10, Held: 0, Ask: 8, Wanted: 8, Backlog: 8},
			},
			wantShare: []int{2, 8}, wantLimit: []int{5, 5},
			wantReason: "group a: share 2 of 10, held at 5 while group b is short",
		},
		{
			name: "a schedule's lower host max shrinks every share",
			groups: []GroupLoad{
				with(video, 0, 4, 4, 0),
				with(audio, 0, 4, 4, 0),
			},
			budget:    Budget{Max: 4, RebalanceAfter: 5 * time.Second},
			wantShare: []int{3, 1}, wantLimit: []int{3, 1},
			wantReason: "group video: share 3 of 4, held at 3 while group audio is short",
		},
		{
			name: "an unknown runtime counts as the known ones' mean",
			groups: []GroupLoad{
				{Name: "new", Min: 0, Max: 10, Ask: 10, Wanted: 10, Backlog: 10},
				{Name: "old", Min: 0, Max: 10, Ask: 10, Wanted: 10, Backlog: 10, Runtime: 3 * time.Second},
			},
			wantShare: []int{5, 5}, wantLimit: []int{5, 5},
			wantReason: "group new: share 5 of 10",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.budget
			if b.Max == 0 {
				b = budget
			}
			got := Allocate(tt.groups, b)
			for i, a := range got {
				if a.Share != tt.wantShare[i] || a.Limit != tt.wantLimit[i] {
					t.Errorf("%s: share %d limit %d, want share %d limit %d (%s)", a.Name, a.Share, a.Limit, tt.wantShare[i], tt.wantLimit[i], a.Reason)
				}
				if tt.wantYield != nil && a.Yield != tt.wantYield[i] {
					t.Errorf("%s: yield %v, want %v (%s)", a.Name, a.Yield, tt.wantYield[i], a.Reason)
				}
				if tt.wantRetire != nil && a.Retire != tt.wantRetire[i] {
					t.Errorf("%s: retire %v, want %v (%s)", a.Name, a.Retire, tt.wantRetire[i], a.Reason)
				}
				if tt.wantCapped != nil && a.Capped != tt.wantCapped[i] {
					t.Errorf("%s: capped %v, want %v", a.Name, a.Capped, tt.wantCapped[i])
				}
			}
			if !strings.Contains(got[0].Reason, tt.wantReason) {
				t.Errorf("reason %q, want it to contain %q", got[0].Reason, tt.wantReason)
			}
		})
	}
}

// TestAllocateNeverAboveHostMax checks, over many loads, that the groups'
// limits together never pass the host max, and no limit passes its cap.
func TestAllocateNeverAboveHostMax(t *testing.T) {
	b := Budget{Max: 10, RebalanceAfter: 5 * time.Second}
	for held := range 11 {
		for ask := range 11 {
			groups := []GroupLoad{
				{Name: "a", Min: 1, Max: 4, Held: held * 4 / 10, Ask: min(ask, 4), Wanted: ask, Backlog: int64(ask * 3), Runtime: 20 * time.Second},
				{Name: "b", Min: 0, Max: 10, Held: held - held*4/10, Ask: max(10-ask, 0), Wanted: 10 - ask, Backlog: int64(10 - ask), Runtime: time.Second},
			}
			got := Allocate(groups, b)
			sum := 0
			for i, a := range got {
				others := held - groups[i].Held
				if a.Limit+others > b.Max {
					t.Errorf("held %d ask %d: %s limit %d with %d held elsewhere passes max %d", held, ask, a.Name, a.Limit, others, b.Max)
				}
				if a.Limit > groups[i].Max+groups[i].Leaving {
					t.Errorf("held %d ask %d: %s limit %d above its cap %d", held, ask, a.Name, a.Limit, groups[i].Max)
				}
				sum += a.Share
			}
			if sum > b.Max {
				t.Errorf("held %d ask %d: shares add up to %d > %d", held, ask, sum, b.Max)
			}
		}
	}
}

func TestDecideUnderBudget(t *testing.T) {
	p := Config{Min: 0, Max: 10, TasksPerWorker: 1, Keepalive: 30 * time.Second}
	tests := []struct {
		name        string
		obs         Observation
		wantDesired int
		wantStart   int
		wantStop    []string
		wantRetire  int
		wantReason  string
		min         int // the group's minimum (Config.Min)
	}{
		{
			name:        "the ceiling holds a scale-up below max",
			obs:         Observation{Waiting: 8, BrokerOK: true, Budget: &Allocation{Limit: 3}, Workers: []WorkerView{busy("w1", 1, 1, 0)}},
			wantDesired: 3, wantStart: 2, wantReason: "(host budget: 3 alive allowed)",
		},
		{
			name: "leaving processes take room under the ceiling",
			obs: Observation{Waiting: 8, BrokerOK: true, Budget: &Allocation{Limit: 3}, Workers: []WorkerView{
				busy("w1", 1, 1, 0), {Name: "w2", Slot: 2, Phase: PhaseStopping}}},
			wantDesired: 2, wantStart: 1,
		},
		{
			name: "above the ceiling, idle ones wait for their keepalive",
			obs: Observation{BrokerOK: true, Waiting: 3, Budget: &Allocation{Limit: 1}, Workers: []WorkerView{
				busy("w1", 1, 1, 0), idle("w2", 2, time.Second), idle("w3", 3, time.Minute)}},
			wantDesired: 1, wantStop: []string{"w3"},
		},
		{
			name: "yield: idle ones above the ceiling go at once, then busy ones retire",
			obs: Observation{BrokerOK: true, Waiting: 3, Budget: &Allocation{Limit: 1, Yield: true, Retire: true}, Workers: []WorkerView{
				busy("w1", 1, 1, 0), idle("w2", 2, time.Second), busy("w3", 3, 1, 0)}},
			wantDesired: 1, wantStop: []string{"w2"}, wantRetire: 1, wantReason: "retiring 1 busy",
		},
		{
			name:        "yield, every process busy with a backlog: retire down to the limit",
			obs:         Observation{BrokerOK: true, Waiting: 8, Budget: &Allocation{Limit: 2, Yield: true, Retire: true}, Workers: busyN(4, 1)},
			wantDesired: 2, wantRetire: 2,
		},
		{
			name:        "yield without Retire: a short group's backlog clears before a busy task here would end: nothing retires",
			obs:         Observation{BrokerOK: true, Waiting: 8, Budget: &Allocation{Limit: 2, Yield: true}, Workers: busyN(4, 1)},
			wantDesired: 2, wantRetire: 0,
		},
		{
			name:        "no yield: busy ones above the ceiling are never retired",
			obs:         Observation{BrokerOK: true, Waiting: 8, Budget: &Allocation{Limit: 2}, Workers: busyN(4, 1)},
			wantDesired: 2,
		},
		{
			name:        "yield never retires below the group's minimum",
			obs:         Observation{BrokerOK: true, Waiting: 8, Budget: &Allocation{Limit: 2, Yield: true, Retire: true}, Workers: busyN(4, 1)},
			min:         3,
			wantDesired: 2, wantRetire: 1,
		},
		{
			name:        "yield never retires below what the demand needs within the limit",
			obs:         Observation{BrokerOK: true, Waiting: 0, Budget: &Allocation{Limit: 4, Yield: true, Retire: true}, Workers: busyN(4, 1)},
			wantDesired: 4,
		},
		{
			name: "the retiring ones are leaving: none more once the rest fit",
			obs: Observation{BrokerOK: true, Waiting: 8, Budget: &Allocation{Limit: 4, Yield: true, Retire: true}, Workers: []WorkerView{
				busy("w1", 1, 1, 0), busy("w2", 2, 1, 0),
				{Name: "w3", Slot: 3, Phase: PhaseDraining, Running: 1}, {Name: "w4", Slot: 4, Phase: PhaseDraining, Running: 1}}},
			wantDesired: 2,
		},
		{
			name:        "a stale broker reading retires nothing",
			obs:         Observation{BrokerOK: false, Waiting: 8, Budget: &Allocation{Limit: 2, Yield: true, Retire: true}, Workers: busyN(4, 1)},
			wantDesired: 2, wantReason: "broker reading is stale",
		},
		{
			name: "only busy ones retire, never a starting one",
			obs: Observation{BrokerOK: true, Waiting: 1, Budget: &Allocation{Limit: 1, Yield: true, Retire: true}, Workers: []WorkerView{
				{Name: "w1", Slot: 1, Phase: PhaseStarting}, {Name: "w2", Slot: 2, Phase: PhaseStarting}, busy("w3", 3, 1, 0)}},
			wantDesired: 1, wantRetire: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := p
			p.Min = tt.min
			d := Decide(tt.obs, t0, p)
			if d.Desired != tt.wantDesired || d.Start != tt.wantStart || strings.Join(d.StopNames(), ",") != strings.Join(tt.wantStop, ",") {
				t.Errorf("desired %d start %d stop %v, want %d %d %v (%s)", d.Desired, d.Start, d.StopNames(), tt.wantDesired, tt.wantStart, tt.wantStop, d.Reason)
			}
			if d.Retire != tt.wantRetire {
				t.Errorf("retire %d, want %d (%s)", d.Retire, tt.wantRetire, d.Reason)
			}
			if !strings.Contains(d.Reason, tt.wantReason) {
				t.Errorf("reason %q, want %q in it", d.Reason, tt.wantReason)
			}
			for _, s := range d.Stop {
				if tt.obs.Budget.Yield && s.Reason != StopRebalance {
					t.Errorf("stop %s reason %s, want %s", s.Name, s.Reason, StopRebalance)
				}
			}
		})
	}
}
