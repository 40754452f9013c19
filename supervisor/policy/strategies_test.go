package policy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // fixed zone rules, whatever the machine has
)

func busyN(n, running int) []WorkerView {
	var ws []WorkerView
	for i := 1; i <= n; i++ {
		ws = append(ws, busy(workerName(i), i, running, 0))
	}
	return ws
}

func TestTolerance(t *testing.T) {
	p := Config{Min: 0, Max: 20, TasksPerWorker: 1, Keepalive: time.Second, Tolerance: 0.1}
	for _, tc := range []struct {
		waiting int64
		want    int
	}{
		{0, 10},  // 10 running on 10: ratio 1.0
		{1, 10},  // 11/10 = 1.1: within the band
		{2, 12},  // 12/10 = 1.2: outside
		{10, 20}, // 20/10
	} {
		d := Decide(Observation{Waiting: tc.waiting, BrokerOK: true, Workers: busyN(10, 1)}, t0, p)
		if d.Desired != tc.want {
			t.Errorf("tolerance 0.1, 10 busy, %d waiting: Desired = %d, want %d (%s)", tc.waiting, d.Desired, tc.want, d.Reason)
		}
	}
	// Below the band: 8 running on 10 workers (ratio 0.8) wants 8.
	ws := append(busyN(8, 1), idle("w9", 9, time.Hour), idle("wa", 10, time.Hour))
	if d := Decide(Observation{BrokerOK: true, Workers: ws}, t0, p); d.Desired != 8 || len(d.Stop) != 2 {
		t.Errorf("ratio 0.8: Desired %d, stops %v, want 8 and two stops", d.Desired, d.StopNames())
	}
	// Inside the band downwards: 9 running on 10 (0.9) holds 10.
	ws = append(busyN(9, 1), idle("wa", 10, time.Hour))
	if d := Decide(Observation{BrokerOK: true, Workers: ws}, t0, p); d.Desired != 10 || len(d.Stop) != 0 {
		t.Errorf("ratio 0.9: Desired %d, stops %v, want 10 held", d.Desired, d.StopNames())
	}
}

func TestQueueWaitTarget(t *testing.T) {
	p := Config{Min: 1, Max: 10, TasksPerWorker: 4, Keepalive: time.Second, TargetWait: 10 * time.Second}
	tests := []struct {
		name         string
		oldest       time.Duration
		waiting      int64
		want         int
		wantStrategy Strategy
	}{
		// Two workers running 4 tasks each, 2 more waiting: depth says
		// ceil(10/4) = 3; a 30 s wait against 10 s asks for 3× the workers,
		// capped at one per waiting message: 2 + 2 = 4.
		{"wait over target scales beyond depth", 30 * time.Second, 2, 4, StrategyWait},
		{"wait under target leaves it to depth", 5 * time.Second, 2, 3, StrategyQueue},
		{"wait just over target adds at least one", 11 * time.Second, 2, 3, StrategyQueue},
		{"no waiting message, no wait proposal", 30 * time.Second, 0, 2, StrategyQueue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(Observation{Waiting: tt.waiting, OldestWait: tt.oldest, BrokerOK: true, Workers: busyN(2, 4)}, t0, p)
			if d.Desired != tt.want || d.Strategy != tt.wantStrategy {
				t.Errorf("Decide() = %d by %s, want %d by %s (%s)", d.Desired, d.Strategy, tt.want, tt.wantStrategy, d.Reason)
			}
		})
	}
	if got := waitProposal(11*time.Second, 5, 3, p); got != 4 {
		t.Errorf("waitProposal(11s over 10s, 3 workers) = %d, want 4 (at least one more)", got)
	}
}

func TestGuard(t *testing.T) {
	base := Config{Min: 1, Max: 10, TasksPerWorker: 1, Keepalive: time.Minute,
		Guard: Guard{MaxCPU: 0.8, MaxMemory: 0.85, CriticalMemory: 0.95, MaxWorkerMemory: 500 << 20}}
	tests := []struct {
		name        string
		obs         Observation
		wantDesired int
		wantBlocked BlockedReason
		wantStops   []Stop
	}{
		{
			name:        "cpu above max blocks a scale-up",
			obs:         Observation{Waiting: 5, BrokerOK: true, Host: HostUsage{CPU: 0.9, Memory: 0.5, OK: true}, Workers: busyN(2, 1)},
			wantDesired: 2, wantBlocked: BlockedCPU,
		},
		{
			name:        "memory above max blocks a scale-up",
			obs:         Observation{Waiting: 5, BrokerOK: true, Host: HostUsage{CPU: 0.1, Memory: 0.9, OK: true}, Workers: busyN(2, 1)},
			wantDesired: 2, wantBlocked: BlockedMemory,
		},
		{
			name:        "an invalid host reading never blocks",
			obs:         Observation{Waiting: 5, BrokerOK: true, Host: HostUsage{CPU: 1, Memory: 1}, Workers: busyN(2, 1)},
			wantDesired: 7,
		},
		{
			name: "critical memory sheds idle workers before the keepalive",
			obs: Observation{BrokerOK: true, Host: HostUsage{Memory: 0.97, OK: true}, Workers: []WorkerView{
				busy("w1", 1, 1, 0), idle("w2", 2, time.Second), idle("w3", 3, 2*time.Second)}},
			wantDesired: 1,
			wantStops:   []Stop{{"w3", StopMemoryPressure}, {"w2", StopMemoryPressure}},
		},
		{
			name: "a worker over its memory limit is replaced once idle, never while busy",
			obs: Observation{Waiting: 1, BrokerOK: true, Workers: []WorkerView{
				{Name: "w1", Slot: 1, Phase: PhaseBusy, Running: 1, Memory: 900 << 20},
				{Name: "w2", Slot: 2, Phase: PhaseIdle, IdleSince: t0, Memory: 600 << 20}}},
			wantDesired: 2,
			wantStops:   []Stop{{"w2", StopWorkerMemory}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.obs, t0, base)
			if d.Desired != tt.wantDesired || d.Blocked != tt.wantBlocked || !slices.Equal(d.Stop, tt.wantStops) {
				t.Errorf("Decide() = desired %d blocked %q stops %v, want %d %q %v (%s)",
					d.Desired, d.Blocked, d.Stop, tt.wantDesired, tt.wantBlocked, tt.wantStops, d.Reason)
			}
		})
	}
}

func TestParseScheduleGroup(t *testing.T) {
	s, err := ParseSchedule("Mon-Fri 08:00-18:00 min=3 group=video")
	if err != nil || s.Group != "video" || s.Min != 3 {
		t.Fatalf("ParseSchedule = %+v, %v; want group video min 3", s, err)
	}
}

func TestParseSchedule(t *testing.T) {
	tests := []struct {
		spec     string
		wantErr  string
		days     string // weekdays active, Sun first, as 0/1
		start    int
		end      int
		min, max int
	}{
		{spec: "Mon-Fri 08:00-18:00 min=6", days: "0111110", start: 480, end: 1080, min: 6, max: -1},
		{spec: "Sat,Sun 00:00-24:00 min=0 max=2", days: "1000001", start: 0, end: 1440, min: 0, max: 2},
		{spec: "Fri-Mon 22:00-06:00 min=4", days: "1100011", start: 1320, end: 360, min: 4, max: -1},
		{spec: "09:00-10:00 min=2", days: "1111111", start: 540, end: 600, min: 2, max: -1},
		{spec: "* 09:00-10:00 max=3", days: "1111111", start: 540, end: 600, min: -1, max: 3},
		{spec: "", wantErr: "empty"},
		{spec: "Mon-Fri", wantErr: "needs a time range"},
		{spec: "Funday 08:00-09:00 min=1", wantErr: "days"},
		{spec: "Mon 8am-9am min=1", wantErr: "not HH:MM-HH:MM"},
		{spec: "Mon 08:00-09:00 workers=3", wantErr: "not min=N or max=N"},
		{spec: "Mon 08:00-09:00", wantErr: "needs a time range"},
		{spec: "Mon 08:00-09:00 min=-1", wantErr: "not min=N"},
		{spec: "Mon 08:00-09:00 group=video", wantErr: "sets neither min= nor max="},
		{spec: "Mon 08:00-09:00 min=1 group=", wantErr: "not min=N or max=N"},
	}
	for _, tt := range tests {
		s, err := ParseSchedule(tt.spec)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "accepted") {
				t.Errorf("ParseSchedule(%q) error = %v, want one with %q and the accepted form", tt.spec, err, tt.wantErr)
			}
			continue
		}
		var days strings.Builder
		for _, on := range s.Days {
			days.WriteString(map[bool]string{true: "1", false: "0"}[on])
		}
		if err != nil || days.String() != tt.days || s.Start != tt.start || s.End != tt.end || s.Min != tt.min || s.Max != tt.max {
			t.Errorf("ParseSchedule(%q) = days %s %d-%d min %d max %d, %v; want %s %d-%d %d %d",
				tt.spec, days.String(), s.Start, s.End, s.Min, s.Max, err, tt.days, tt.start, tt.end, tt.min, tt.max)
		}
	}
}

func TestScheduleBounds(t *testing.T) {
	must := func(spec string) Schedule {
		s, err := ParseSchedule(spec)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	newYork, _ := time.LoadLocation("America/New_York")
	office := Config{Min: 1, Max: 10, Location: berlin, Schedules: []Schedule{must("Mon-Fri 08:00-18:00 min=6")}}
	night := Config{Min: 3, Max: 10, Location: berlin, Schedules: []Schedule{must("Fri 22:00-06:00 min=0 max=2")}}
	dst := Config{Min: 1, Max: 10, Location: newYork, Schedules: []Schedule{must("Sun 01:00-03:00 min=5")}}
	utc := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	tests := []struct {
		name   string
		p      Config
		at     time.Time
		lo, hi int
	}{
		{"weekday office hours, summer (CEST)", office, utc("2026-07-01T06:30:00Z"), 6, 10}, // 08:30 local
		{"before office hours, summer", office, utc("2026-07-01T05:30:00Z"), 1, 10},         // 07:30
		{"17:30 UTC is after hours in summer", office, utc("2026-07-01T16:30:00Z"), 1, 10},  // 18:30 CEST
		{"the same 16:30 UTC is office hours in winter", office, utc("2026-12-01T16:30:00Z"), 6, 10},
		{"Saturday is not Mon-Fri", office, utc("2026-07-04T09:00:00Z"), 1, 10},
		{"Friday night before midnight", night, utc("2026-11-27T22:30:00Z"), 0, 2}, // Fri 23:30
		{"Saturday morning after midnight", night, utc("2026-11-28T04:00:00Z"), 0, 2},
		{"Saturday 06:00 ends it", night, utc("2026-11-28T05:00:00Z"), 3, 10},
		{"Thursday night is not Friday's", night, utc("2026-11-26T23:30:00Z"), 3, 10},
		{"DST day: 01:30 EST is inside", dst, utc("2026-03-08T06:30:00Z"), 5, 10},
		{"DST day: 03:30 EDT, one real hour later, is outside", dst, utc("2026-03-08T07:30:00Z"), 1, 10},
	}
	for _, tt := range tests {
		lo, hi, _ := tt.p.Bounds(tt.at)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("%s: Bounds(%s) = %d, %d, want %d, %d", tt.name, tt.at, lo, hi, tt.lo, tt.hi)
		}
	}
	d := Decide(Observation{BrokerOK: true}, utc("2026-07-01T06:30:00Z"), Config{
		Min: 1, Max: 10, TasksPerWorker: 1, Keepalive: time.Second, Location: berlin, Schedules: office.Schedules})
	if d.Desired != 6 || d.Strategy != StrategySchedule || !strings.Contains(d.Reason, "by schedule") {
		t.Errorf("Decide in office hours = %d by %s (%s), want 6 by schedule", d.Desired, d.Strategy, d.Reason)
	}
}

// run feeds Decide a sequence of instants, carrying history and applying
// each decision to a pool of busy workers, and returns the desired counts.
func run(t *testing.T, p Config, current int, steps []step) []int {
	t.Helper()
	var h History
	var got []int
	for _, s := range steps {
		ws := make([]WorkerView, current)
		for i := range ws {
			ws[i] = WorkerView{Name: workerName(i + 1), Slot: i + 1, Phase: PhaseIdle, IdleSince: t0.Add(-time.Hour)}
		}
		d := Decide(Observation{Waiting: s.waiting, BrokerOK: true, Workers: ws, History: h}, t0.Add(s.at), p)
		h = d.History
		current += d.Start - len(d.Stop)
		got = append(got, d.Desired)
	}
	return got
}

type step = struct {
	at      time.Duration
	waiting int64
}

func TestBehaviorDefaultsMatchHPA(t *testing.T) {
	b := Behavior{}.WithDefaults()
	p := Config{Min: 2, Max: 50, TasksPerWorker: 1, Keepalive: time.Second, Behavior: &b}
	// Up: max(100%, 4 pods) per 15 s: 2 -> 6 -> (within 15 s) 6 -> 12 -> 24.
	got := run(t, p, 2, []step{{0, 40}, {5 * time.Second, 40}, {16 * time.Second, 40}, {32 * time.Second, 40}})
	if want := []int{6, 6, 12, 24}; !slices.Equal(got, want) {
		t.Errorf("scale-up with HPA defaults = %v, want %v", got, want)
	}
	// Down: a 300 s stabilization window holds the highest recent
	// recommendation, then 100% per 15 s.
	b2 := Behavior{}.WithDefaults()
	p = Config{Min: 0, Max: 50, TasksPerWorker: 1, Keepalive: time.Second, Behavior: &b2}
	got = run(t, p, 10, []step{{0, 10}, {60 * time.Second, 0}, {299 * time.Second, 0}, {301 * time.Second, 0}})
	if want := []int{10, 10, 10, 0}; !slices.Equal(got, want) {
		t.Errorf("scale-down with HPA defaults = %v, want %v", got, want)
	}
}

func TestBehaviorPolicies(t *testing.T) {
	sec := func(s int32) *int32 { return &s }
	tests := []struct {
		name  string
		b     Behavior
		min   int
		start int
		steps []step
		want  []int
	}{
		{
			name: "up 1 pod per 10s",
			b:    Behavior{ScaleUp: Rules{StabilizationWindowSeconds: sec(0), Policies: []StepPolicy{{StepPods, 1, 10}}}},
			min:  1, start: 1, steps: []step{{0, 5}, {5 * time.Second, 5}, {10 * time.Second, 5}, {21 * time.Second, 5}},
			want: []int{2, 2, 3, 4},
		},
		{
			name: "select Min picks the smaller step",
			b: Behavior{ScaleUp: Rules{StabilizationWindowSeconds: sec(0), SelectPolicy: SelectMin,
				Policies: []StepPolicy{{StepPods, 4, 60}, {StepPercent, 50, 60}}}},
			min: 4, start: 4, steps: []step{{0, 20}}, want: []int{6},
		},
		{
			name: "scale-up disabled",
			b:    Behavior{ScaleUp: Rules{SelectPolicy: SelectDisabled}},
			min:  2, start: 2, steps: []step{{0, 20}, {time.Minute, 20}}, want: []int{2, 2},
		},
		{
			// 2 until the recommendation of 2 leaves the 30 s window; then 8,
			// limited by the default rate to max(2+100%, 2+4) = 6.
			name: "scale-up stabilization takes the lowest recent recommendation",
			b:    Behavior{ScaleUp: Rules{StabilizationWindowSeconds: sec(30)}},
			min:  1, start: 2, steps: []step{{0, 2}, {10 * time.Second, 8}, {20 * time.Second, 8}, {41 * time.Second, 8}},
			want: []int{2, 2, 2, 6},
		},
		{
			name: "down 50% per minute after no stabilization",
			b: Behavior{ScaleDown: Rules{StabilizationWindowSeconds: sec(0),
				Policies: []StepPolicy{{StepPercent, 50, 60}}}},
			min: 0, start: 8, steps: []step{{0, 8}, {time.Second, 0}, {2 * time.Second, 0}, {62 * time.Second, 0}},
			want: []int{8, 4, 4, 2},
		},
		{
			name: "scale-down disabled",
			b:    Behavior{ScaleDown: Rules{SelectPolicy: SelectDisabled}},
			min:  0, start: 5, steps: []step{{0, 5}, {time.Hour, 0}}, want: []int{5, 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b.WithDefaults()
			if err := b.Validate(); err != nil {
				t.Fatal(err)
			}
			p := Config{Min: tt.min, Max: 50, TasksPerWorker: 1, Keepalive: time.Second, Behavior: &b}
			if got := run(t, p, tt.start, tt.steps); !slices.Equal(got, tt.want) {
				t.Errorf("desired = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestStepKindSpelling: the kinds read and write as the HPA API spells them.
func TestStepKindSpelling(t *testing.T) {
	b, err := json.Marshal(DefaultBehavior().ScaleUp.Policies)
	if want := `[{"type":"Percent","value":100,"periodSeconds":15},{"type":"Pods","value":4,"periodSeconds":15}]`; err != nil || string(b) != want {
		t.Errorf("json.Marshal(the default scale-up policies) = %s, %v; want %s", b, err, want)
	}
	var sp StepPolicy
	if err := json.Unmarshal([]byte(`{"type":"Pods","value":2,"periodSeconds":10}`), &sp); err != nil || sp.Type != StepPods {
		t.Errorf("json.Unmarshal(type Pods) = %+v, %v; want Type StepPods", sp, err)
	}
}

func TestBehaviorValidate(t *testing.T) {
	tests := []struct {
		b    Behavior
		want string
	}{
		{Behavior{ScaleUp: Rules{SelectPolicy: "Sometimes"}}.WithDefaults(), "behavior.scaleUp.selectPolicy"},
		{Behavior{ScaleDown: Rules{Policies: []StepPolicy{{"Workers", 1, 10}}}}.WithDefaults(), `behavior.scaleDown.policies[0].type "Workers": accepted: Pods, Percent`},
		{Behavior{ScaleDown: Rules{Policies: []StepPolicy{{StepPods, 0, 10}}}}.WithDefaults(), "behavior.scaleDown.policies[0].value"},
		{Behavior{ScaleUp: Rules{Policies: []StepPolicy{{StepPods, 1, 0}}}}.WithDefaults(), "behavior.scaleUp.policies[0].periodSeconds"},
		{Behavior{ScaleUp: Rules{StabilizationWindowSeconds: ptr(int32(-1))}}.WithDefaults(), "behavior.scaleUp.stabilizationWindowSeconds -1"},
		// Without defaults a window is nil, and Decide would dereference it.
		{Behavior{ScaleDown: Rules{SelectPolicy: SelectMax}}, "behavior.scaleUp.stabilizationWindowSeconds: missing"},
		// Both directions wrong: always the first one, scaleUp.
		{Behavior{ScaleUp: Rules{SelectPolicy: "x"}, ScaleDown: Rules{SelectPolicy: "y"}}.WithDefaults(), "behavior.scaleUp.selectPolicy"},
	}
	for _, tt := range tests {
		for range 20 { // map iteration once made the "first" error random
			if err := tt.b.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%+v.Validate() = %v, want an error containing %q", tt.b, err, tt.want)
			}
		}
	}
	p := Config{Min: 1, Max: 5, TasksPerWorker: 1, Keepalive: time.Second, Behavior: &Behavior{}}
	if err := p.Validate(); err == nil {
		t.Fatal("Config.Validate accepted a behavior with nil windows (Decide panics on it)")
	}
}

func TestGuardValidateOrder(t *testing.T) {
	g := Guard{MaxCPU: 2, MaxMemory: -1, CriticalMemory: 3}
	for range 20 {
		if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "max cpu") {
			t.Fatalf("Validate() = %v, want the first field, max cpu", err)
		}
	}
}

func TestCeleryAlgorithm(t *testing.T) {
	p := Config{Algorithm: AlgorithmCelery, Min: 2, Max: 6, TasksPerWorker: 1, Keepalive: 30 * time.Second, PrefetchMultiplier: 1}
	got := run(t, p, 2, []step{
		{0, 0},                 // at MIN, never scaled up
		{40 * time.Second, 0},  // periodic check: never scaled up -> never down
		{45 * time.Second, 10}, // qty = min(10, 6) -> up to 6 at once
		{50 * time.Second, 0},  // idle, but the check runs every keepalive
		{70 * time.Second, 0},  // check at 70: last scale-up 25 s ago, not > keepalive
		{95 * time.Second, 0},  // not yet a keepalive since the last check (70)
		{100 * time.Second, 0}, // check: 55 s since the scale-up: straight down to MIN
	})
	if want := []int{2, 2, 6, 6, 6, 6, 2}; !slices.Equal(got, want) {
		t.Errorf("celery policy desired = %v, want %v", got, want)
	}
	// The oldest slot goes first, busy workers are skipped.
	h := History{LastScaleUp: t0.Add(-time.Hour), LastCheck: t0.Add(-time.Hour)}
	ws := []WorkerView{idle("w1", 1, 0), busy("w2", 2, 1, 0), idle("w3", 3, 0), idle("w4", 4, 0)}
	d := Decide(Observation{BrokerOK: true, Workers: ws, History: h}, t0, Config{
		Algorithm: AlgorithmCelery, Min: 1, Max: 4, TasksPerWorker: 1, Keepalive: time.Second})
	if want := []string{"w1", "w3", "w4"}; !slices.Equal(d.StopNames(), want) {
		t.Errorf("celery shrink stops %v, want %v (every idle one, towards max(qty 1, min 1); the busy one stays)", d.StopNames(), want)
	}
}

func TestCombinationLargestWins(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	s, _ := ParseSchedule("00:00-24:00 min=5")
	p := Config{Min: 1, Max: 10, TasksPerWorker: 1, Keepalive: time.Second, TargetWait: time.Second,
		Location: berlin, Schedules: []Schedule{s}}
	for _, tc := range []struct {
		waiting  int64
		oldest   time.Duration
		want     int
		strategy Strategy
	}{
		{0, 0, 5, StrategySchedule},
		{7, 0, 7, StrategyQueue},
		{3, 4 * time.Second, 5, StrategySchedule}, // queue 3, wait min(4, 0+3)=3, schedule 5
		{30, 0, 10, StrategyQueue},
	} {
		d := Decide(Observation{Waiting: tc.waiting, OldestWait: tc.oldest, BrokerOK: true}, t0, p)
		if d.Desired != tc.want || d.Strategy != tc.strategy {
			t.Errorf("waiting %d oldest %s: %d by %s, want %d by %s", tc.waiting, tc.oldest, d.Desired, d.Strategy, tc.want, tc.strategy)
		}
	}
}

// TestSurplusKeepalive: under a trickle every worker has been busy a moment
// ago, so no one is idle for the keepalive; once the pool has been above the
// desired count for a keepalive, idle workers go anyway (never busy ones).
func TestSurplusKeepalive(t *testing.T) {
	p := Config{Min: 2, Max: 10, TasksPerWorker: 1, Keepalive: 30 * time.Second}
	ws := func(at time.Duration) []WorkerView {
		out := []WorkerView{busy("w1", 1, 1, 0)}
		for i := 2; i <= 6; i++ { // each ran a task i seconds ago
			out = append(out, WorkerView{Name: workerName(i), Slot: i, Phase: PhaseIdle, IdleSince: t0.Add(at - time.Duration(i)*time.Second)})
		}
		return out
	}
	var h History
	var stopped []string
	for _, at := range []time.Duration{0, 10 * time.Second, 29 * time.Second, 30 * time.Second} {
		d := Decide(Observation{BrokerOK: true, Workers: ws(at), History: h}, t0.Add(at), p)
		h = d.History
		if at < 30*time.Second && len(d.Stop) > 0 {
			t.Fatalf("at %s (surplus younger than the keepalive): stops %v, want none", at, d.StopNames())
		}
		stopped = d.StopNames()
	}
	if want := []string{workerName(6), workerName(5), workerName(4), workerName(3)}; !slices.Equal(stopped, want) {
		t.Errorf("after a keepalive of surplus: stops %v, want the 4 idle workers %v (down to 2, w1 busy)", stopped, want)
	}
	// The surplus clock restarts when the pool is no longer above desired.
	d := Decide(Observation{Waiting: 10, BrokerOK: true, Workers: ws(31 * time.Second), History: h}, t0.Add(31*time.Second), p)
	if !d.History.SurplusSince.IsZero() {
		t.Errorf("SurplusSince = %v after demand returned, want zero", d.History.SurplusSince)
	}
}

// TestCeleryShrinksOnMessages: Celery runs maybe_scale on every task message
// as well as every keepalive, so a message arriving after the keepalive
// shrinks the pool without waiting for the periodic check.
func TestCeleryShrinksOnMessages(t *testing.T) {
	p := Config{Algorithm: AlgorithmCelery, Min: 3, Max: 10, TasksPerWorker: 1, Keepalive: 30 * time.Second, PrefetchMultiplier: 1}
	var ws []WorkerView
	for i := 1; i <= 10; i++ {
		ws = append(ws, idle(workerName(i), i, time.Minute))
	}
	h := History{LastScaleUp: t0, LastCheck: t0.Add(30 * time.Second)}
	d := Decide(Observation{Waiting: 1, BrokerOK: true, Workers: ws, History: h}, t0.Add(36*time.Second), p)
	if d.Desired != 3 || len(d.Stop) != 7 {
		t.Errorf("message 36 s after the last scale-up: desired %d, %d stops; want 3 and 7", d.Desired, len(d.Stop))
	}
	d = Decide(Observation{BrokerOK: true, Workers: ws, History: h}, t0.Add(36*time.Second), p)
	if len(d.Stop) != 0 {
		t.Errorf("no message and no periodic check due: %d stops, want 0", len(d.Stop))
	}
}
