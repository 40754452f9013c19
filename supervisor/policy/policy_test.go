package policy

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func idle(name string, slot int, since time.Duration) WorkerView {
	return WorkerView{Name: name, Slot: slot, Phase: PhaseIdle, IdleSince: t0.Add(-since)}
}

func busy(name string, slot, running, received int) WorkerView {
	return WorkerView{Name: name, Slot: slot, Phase: PhaseBusy, Running: running, Received: received}
}

// workerName is the node name of slot, as the supervisor's tests name workers.
func workerName(slot int) string { return "worker" + string(rune('0'+slot)) + "@h" }

func TestDecide(t *testing.T) {
	p := Config{Min: 3, Max: 10, TasksPerWorker: 1, Keepalive: 30 * time.Second}
	tests := []struct {
		name        string
		obs         Observation
		policy      *Config
		wantDesired int
		wantStart   int
		wantStop    []string
		wantReclaim []string
		wantReason  string
	}{
		{
			name:        "empty pool starts min",
			obs:         Observation{BrokerOK: true},
			wantDesired: 3, wantStart: 3, wantReason: "-> 3 by min",
		},
		{
			name: "backlog grows at once",
			obs: Observation{Waiting: 5, BrokerOK: true, Workers: []WorkerView{
				busy("w1", 1, 1, 1), busy("w2", 2, 1, 0), idle("w3", 3, time.Second)}},
			wantDesired: 8, wantStart: 5, wantReason: "5 waiting, 1 reserved, 2 running -> 8",
		},
		{
			name:        "never above max",
			obs:         Observation{Waiting: 40, BrokerOK: true, Workers: []WorkerView{busy("w1", 1, 1, 0)}},
			wantDesired: 10, wantStart: 9, wantReason: "-> 10 by queue (max 10)",
		},
		{
			name: "stale broker reading may still scale up",
			obs: Observation{Waiting: 4, BrokerOK: false, Workers: []WorkerView{
				idle("w1", 1, time.Hour), idle("w2", 2, time.Hour), idle("w3", 3, time.Hour)}},
			wantDesired: 4, wantStart: 1, wantReason: "4 waiting, 0 reserved, 0 running -> 4 by queue",
		},
		{
			name: "stale broker reading never scales down",
			obs: Observation{BrokerOK: false, Workers: []WorkerView{
				idle("w1", 1, time.Hour), idle("w2", 2, time.Hour), idle("w3", 3, time.Hour), idle("w4", 4, time.Hour)}},
			wantDesired: 3, wantReason: "broker reading is stale",
		},
		{
			name: "only workers idle for the keepalive are stopped",
			obs: Observation{BrokerOK: true, Workers: []WorkerView{
				idle("w1", 1, time.Minute), idle("w2", 2, 29*time.Second), idle("w3", 3, time.Minute),
				idle("w4", 4, 31*time.Second), idle("w5", 5, 10*time.Second)}},
			wantDesired: 3, wantStop: []string{"w3", "w1"}, wantReason: "0 waiting, 0 reserved, 0 running -> 3 by min",
		},
		{
			name: "busy workers are never stopped, even above desired",
			obs: Observation{BrokerOK: true, Workers: []WorkerView{
				busy("w1", 1, 1, 0), busy("w2", 2, 0, 1), busy("w3", 3, 1, 0), busy("w4", 4, 1, 0), idle("w5", 5, time.Hour)}},
			wantDesired: 4, wantStop: []string{"w5"}, wantReason: "0 waiting, 1 reserved, 3 running -> 4 by queue",
		},
		{
			name: "longest idle first, highest slot on a tie",
			obs: Observation{BrokerOK: true, Workers: []WorkerView{
				idle("w1", 1, time.Minute), idle("w2", 2, time.Minute), idle("w3", 3, 2*time.Minute),
				idle("w4", 4, time.Minute), idle("w5", 5, time.Minute)}},
			wantDesired: 3, wantStop: []string{"w3", "w5"}, wantReason: "0 waiting, 0 reserved, 0 running -> 3 by min",
		},
		{
			name: "starting workers count and are never stopped",
			obs: Observation{BrokerOK: true, Workers: []WorkerView{
				{Name: "w1", Slot: 1, Phase: PhaseStarting}, {Name: "w2", Slot: 2, Phase: PhaseStarting},
				{Name: "w3", Slot: 3, Phase: PhaseStarting}, {Name: "w4", Slot: 4, Phase: PhaseStarting}}},
			wantDesired: 3, wantReason: "0 waiting, 0 reserved, 0 running -> 3 by min",
		},
		{
			name: "stopping workers do not count towards desired",
			obs: Observation{Waiting: 3, BrokerOK: true, Workers: []WorkerView{
				{Name: "w1", Slot: 1, Phase: PhaseStopping}, idle("w2", 2, 0), idle("w3", 3, 0)}},
			wantDesired: 3, wantStart: 1, wantReason: "3 waiting, 0 reserved, 0 running -> 3 by min",
		},
		{
			name: "backoff workers count: no extra spawn for a crash loop",
			obs: Observation{BrokerOK: true, Workers: []WorkerView{
				{Name: "w1", Slot: 1, Phase: PhaseBackoff}, {Name: "w2", Slot: 2, Phase: PhaseBackoff},
				{Name: "w3", Slot: 3, Phase: PhaseBackoff}}},
			wantDesired: 3, wantReason: "0 waiting, 0 reserved, 0 running -> 3 by min",
		},
		{
			name:   "a burst during a scale-down takes back draining workers before starting",
			policy: &Config{Min: 1, Max: 4, TasksPerWorker: 1, Keepalive: time.Second},
			obs: Observation{Waiting: 4, BrokerOK: true, Workers: []WorkerView{
				idle("w1", 1, 0), {Name: "w3", Slot: 3, Phase: PhaseDraining}, {Name: "w2", Slot: 2, Phase: PhaseDraining},
				{Name: "w4", Slot: 4, Phase: PhaseStopping}}},
			wantDesired: 4, wantReclaim: []string{"w2", "w3"},
			wantReason: "1 held: 3 leaving workers still count against max 4, taking back 2 draining",
		},
		{
			name:   "leaving workers count against max: never above max processes",
			policy: &Config{Min: 1, Max: 4, TasksPerWorker: 1, Keepalive: time.Second},
			obs: Observation{Waiting: 10, BrokerOK: true, Workers: []WorkerView{
				idle("w1", 1, 0), {Name: "w2", Slot: 2, Phase: PhaseStopping}, {Name: "w3", Slot: 3, Phase: PhaseStopping}}},
			wantDesired: 4, wantStart: 1, wantReason: "2 held: 2 leaving workers still count against max 4",
		},
		{
			name:   "tasks per worker divides demand, rounding up",
			policy: &Config{Min: 0, Max: 10, TasksPerWorker: 4, Keepalive: time.Second},
			obs:    Observation{Waiting: 9, BrokerOK: true},
			// ceil(9/4) = 3
			wantDesired: 3, wantStart: 3, wantReason: "9 waiting, 0 reserved, 0 running -> 3 by queue",
		},
		{
			name:        "min 0 and no demand stops every idle worker",
			policy:      &Config{Min: 0, Max: 2, TasksPerWorker: 1, Keepalive: time.Second},
			obs:         Observation{BrokerOK: true, Workers: []WorkerView{idle("w1", 1, time.Minute), idle("w2", 2, 2*time.Second)}},
			wantDesired: 0, wantStop: []string{"w1", "w2"}, wantReason: "0 waiting, 0 reserved, 0 running -> 0 by min",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := p
			if tt.policy != nil {
				pol = *tt.policy
			}
			got := Decide(tt.obs, t0, pol)
			if got.Desired != tt.wantDesired || got.Start != tt.wantStart || !slices.Equal(got.StopNames(), tt.wantStop) ||
				!slices.Equal(got.Reclaim, tt.wantReclaim) {
				t.Errorf("Decide() = desired %d start %d stop %v reclaim %v, want desired %d start %d stop %v reclaim %v (reason %q)",
					got.Desired, got.Start, got.StopNames(), got.Reclaim, tt.wantDesired, tt.wantStart, tt.wantStop, tt.wantReclaim, got.Reason)
			}
			if tt.wantReason == "" {
				t.Fatalf("case %q asserts no reason (Decide says %q)", tt.name, got.Reason)
			}
			if !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("Decide().Reason = %q, want it to contain %q", got.Reason, tt.wantReason)
			}
		})
	}
}

func TestDecideUnmet(t *testing.T) {
	p := Config{Min: 1, Max: 4, TasksPerWorker: 2, Keepalive: time.Second}
	for _, tc := range []struct {
		waiting int64
		want    int
	}{{0, 0}, {8, 0}, {9, 1}, {20, 6}} {
		d := Decide(Observation{Waiting: tc.waiting, BrokerOK: true}, t0, p)
		if got := d.Unmet(p); got != tc.want {
			t.Errorf("Decide(waiting %d).Unmet() = %d, want %d", tc.waiting, got, tc.want)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		p    Config
		want string
	}{
		{Config{Min: 0, Max: 1, TasksPerWorker: 1, Keepalive: time.Second}, ""},
		{Config{Min: 0, Max: 0, TasksPerWorker: 1, Keepalive: time.Second}, "max workers"},
		{Config{Min: 4, Max: 3, TasksPerWorker: 1, Keepalive: time.Second}, "min workers"},
		{Config{Min: 0, Max: 3, TasksPerWorker: 0, Keepalive: time.Second}, "tasks per worker"},
		{Config{Min: 0, Max: 3, TasksPerWorker: 1}, "keepalive"},
	} {
		err := tc.p.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v.Validate() = %v, want error containing %q", tc.p, err, tc.want)
		}
	}
}

// TestNoFlappingAroundThreshold: demand oscillating around a worker boundary
// every second grows the pool once and never shrinks it within the keepalive.
func TestNoFlappingAroundThreshold(t *testing.T) {
	p := Config{Min: 1, Max: 10, TasksPerWorker: 1, Keepalive: 30 * time.Second}
	var h History
	workers := []WorkerView{busy("w1", 1, 1, 0), busy("w2", 2, 1, 0), busy("w3", 3, 1, 0), busy("w4", 4, 1, 0)}
	idleSince := map[string]time.Time{}
	starts, stops := 0, 0
	for i := range 25 {
		now := t0.Add(time.Duration(i) * time.Second)
		waiting := int64(i % 2) // 4 running + 0 or 1 waiting: 4 or 5 workers
		if len(workers) == 5 && waiting == 0 {
			if _, ok := idleSince["w5"]; !ok {
				idleSince["w5"] = now
			}
			workers[4] = WorkerView{Name: "w5", Slot: 5, Phase: PhaseIdle, IdleSince: idleSince["w5"]}
		}
		d := Decide(Observation{Waiting: waiting, BrokerOK: true, Workers: workers, History: h}, now, p)
		h = d.History
		starts += d.Start
		stops += len(d.Stop)
		for range d.Start {
			workers = append(workers, busy("w5", 5, 1, 0))
		}
	}
	if starts != 1 || stops != 0 {
		t.Errorf("25 s of demand oscillating 4/5: %d starts, %d stops; want 1 and 0", starts, stops)
	}
}
