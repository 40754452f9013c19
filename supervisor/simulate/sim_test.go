package simulate

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func mustTrace(t *testing.T, text string) Trace {
	t.Helper()
	tr, err := ParseTrace("test", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// testModel is a revrx model with round numbers: spawn 1.1 s, decisions
// every second from 0, no prefetch, a 0.1 s stop.
func testModel(lo, hi, concurrency int, keepalive time.Duration) Model {
	p := policy.Config{Min: lo, Max: hi, TasksPerWorker: concurrency, Keepalive: keepalive}
	m := RevrxModel(p, concurrency)
	m.Prefetch = 0
	return m
}

func newTestSim(t *testing.T, tr Trace, m Model, horizon time.Duration) *sim {
	t.Helper()
	s, err := newSim(tr, m, DefaultStart, horizon)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *sim) until(t *testing.T, at time.Duration) *sim {
	t.Helper()
	if err := s.runUntil(at); err != nil {
		t.Fatal(err)
	}
	return s
}

// phases lists each worker as name:phase/received+running.
func (s *sim) phases() string {
	var out []string
	for _, v := range s.views() {
		out = append(out, v.Name+":"+string(v.Phase))
	}
	return strings.Join(out, " ")
}

func TestSpawnDelay(t *testing.T) {
	s := newTestSim(t, mustTrace(t, "0 1 1\n"), testModel(0, 1, 1, 30*time.Second), 10*time.Second)
	if got := s.until(t, sec(1.0)).phases(); got != "worker1:starting" || s.waiting() != 1 {
		t.Errorf("at 1.0 s: workers %q, %d waiting; want worker1:starting and the task waiting", got, s.waiting())
	}
	if got := s.until(t, sec(1.1)).phases(); got != "worker1:busy" || s.waiting() != 0 {
		t.Errorf("at 1.1 s: workers %q, %d waiting; want worker1:busy, none waiting", got, s.waiting())
	}
	r := s.until(t, 10*time.Second).result()
	if !slices.Equal(r.Waits, []time.Duration{sec(1.1)}) || r.Finished != 1 || r.LastFinish != sec(2.1) {
		t.Errorf("waits %v, finished %d at %s; want [1.1s], 1 at 2.1s", r.Waits, r.Finished, r.LastFinish)
	}
	// One worker from 0 (starting counts) to the horizon: 10 slot-seconds.
	if r.SlotSeconds != 10 || r.Starts != 1 || r.Stops != 0 {
		t.Errorf("worker-seconds %g, starts %d, stops %d; want 10, 1, 0", r.SlotSeconds, r.Starts, r.Stops)
	}
}

func TestSlots(t *testing.T) {
	// One worker of two slots, MIN=MAX=1: two tasks run at once, the third
	// waits for a free slot.
	s := newTestSim(t, mustTrace(t, "0 3 1\n"), testModel(1, 1, 2, 30*time.Second), 5*time.Second)
	s.until(t, sec(0.5))
	if w := s.workers[0]; len(w.running) != 2 || s.waiting() != 1 {
		t.Errorf("at 0.5 s: %d running, %d waiting; want 2 and 1", len(w.running), s.waiting())
	}
	r := s.until(t, 5*time.Second).result()
	if want := []time.Duration{0, 0, time.Second}; !slices.Equal(r.Waits, want) {
		t.Errorf("waits %v, want %v", r.Waits, want)
	}
	if r.SlotSeconds != 10 { // 1 worker × 2 slots × 5 s
		t.Errorf("worker-seconds %g, want 10 (execution slots)", r.SlotSeconds)
	}
}

func TestPrefetch(t *testing.T) {
	// Two workers of one slot. A (10 s) goes to worker1, B (1 s) to
	// worker2, whose fetch had waited longer. C arrives as B ends: worker1
	// has been fetching since it took A, before worker2 took B, so with a
	// prefetch of one C is reserved behind A and waits 8 s while worker2
	// idles; without prefetch worker2 runs it at once.
	const trace = "0 1 10\n1 1 1\n2 1 1\n"
	for _, tc := range []struct {
		prefetch int
		phases   string
		received int
		waitC    time.Duration
	}{
		{1, "worker1:busy worker2:idle", 1, 8 * time.Second},
		{0, "worker1:busy worker2:busy", 0, 0},
	} {
		m := testModel(2, 2, 1, 30*time.Second)
		m.Prefetch = tc.prefetch
		s := newTestSim(t, mustTrace(t, trace), m, 20*time.Second).until(t, sec(2.5))
		views := s.views()
		if got := s.phases(); got != tc.phases || views[0].Received != tc.received || views[0].Running != 1 {
			t.Errorf("prefetch %d at 2.5 s: %s, worker1 received %d running %d; want %s, %d, 1",
				tc.prefetch, got, views[0].Received, views[0].Running, tc.phases, tc.received)
		}
		s.until(t, 20*time.Second)
		if c := s.tasks[2]; !c.started || c.start-c.at != tc.waitC {
			t.Errorf("prefetch %d: C waited %s, want %s", tc.prefetch, c.start-c.at, tc.waitC)
		}
	}
}

func TestStopsOnlyIdleAfterKeepalive(t *testing.T) {
	// MAX 2, keepalive 2 s, spawn 0.5 s. worker1 runs a 5 s task, worker2
	// two 1 s tasks and is idle from 2.5 s: it goes at the first decision
	// 2 s later (5 s), while the busy worker1 stays; worker1, idle from
	// 5.5 s, goes at 8 s. A stopped worker counts for the 0.1 s stop.
	m := testModel(0, 2, 1, 2*time.Second)
	m.SpawnTime = sec(0.5)
	s := newTestSim(t, mustTrace(t, "0 1 5\n0 2 1\n"), m, 10*time.Second)
	for _, at := range []struct {
		t    float64
		want string
	}{
		{0.4, "worker1:starting worker2:starting"},
		{2.6, "worker1:busy worker2:idle"},
		{4.9, "worker1:busy worker2:idle"},
		{5.0, "worker1:busy worker2:stopping"},
		{5.1, "worker1:busy"},
		{7.9, "worker1:idle"},
		{8.0, "worker1:stopping"},
		{8.1, ""},
	} {
		if got := s.until(t, sec(at.t)).phases(); got != at.want {
			t.Errorf("at %.1f s: %q, want %q", at.t, got, at.want)
		}
	}
	r := s.until(t, 10*time.Second).result()
	if r.Starts != 2 || r.Stops != 2 || r.DirectionChanges != 1 || r.Finished != 3 {
		t.Errorf("starts %d stops %d direction changes %d finished %d; want 2 2 1 3", r.Starts, r.Stops, r.DirectionChanges, r.Finished)
	}
	if want := 8.1 + 5.1; r.SlotSeconds != want {
		t.Errorf("worker-seconds %g, want %g", r.SlotSeconds, want)
	}
}

func TestObservation(t *testing.T) {
	// One worker on a 10 s task, two more waiting: Decide sees the queue,
	// the age of its oldest task, and the worker busy.
	var seen []policy.Observation
	s := newTestSim(t, mustTrace(t, "0 1 10\n1 2 1\n"), testModel(1, 1, 1, 30*time.Second), 3*time.Second)
	s.decide = func(obs policy.Observation, now time.Time, p policy.Config) policy.Decision {
		seen = append(seen, obs)
		return policy.Decide(obs, now, p)
	}
	s.until(t, 3*time.Second)
	if len(seen) != 4 {
		t.Fatalf("%d decisions in [0, 3 s], want 4", len(seen))
	}
	o := seen[2] // at 2 s
	if o.Waiting != 2 || o.OldestWait != time.Second || !o.BrokerOK || len(o.Workers) != 1 ||
		o.Workers[0].Phase != policy.PhaseBusy || o.Workers[0].Running != 1 {
		t.Errorf("observation at 2 s = %+v; want 2 waiting, oldest 1s, broker ok, worker1 busy running 1", o)
	}
	if o := seen[0]; o.Workers[0].Phase != policy.PhaseBusy {
		t.Errorf("at 0 s the MIN worker is %s, want busy (online from the start)", o.Workers[0].Phase)
	}
}

func TestIdleSinceIsVirtual(t *testing.T) {
	var last policy.Observation
	s := newTestSim(t, mustTrace(t, "0 1 1.5\n"), testModel(1, 1, 1, 30*time.Second), 4*time.Second)
	s.decide = func(obs policy.Observation, now time.Time, p policy.Config) policy.Decision {
		last = obs
		return policy.Decide(obs, now, p)
	}
	s.until(t, 3*time.Second)
	if w := last.Workers[0]; w.Phase != policy.PhaseIdle || !w.IdleSince.Equal(DefaultStart.Add(sec(1.5))) {
		t.Errorf("at 3 s worker1 is %s since %s, want idle since start + 1.5 s", w.Phase, w.IdleSince)
	}
}

func TestRejectsStopOfBusyWorker(t *testing.T) {
	for _, tc := range []struct{ name, state string }{{"worker1", "at 0.00 s: Decide stopped worker1 (busy)"}, {"worker9", "worker9 (unknown)"}} {
		name := tc.name
		s := newTestSim(t, mustTrace(t, "0 1 5\n"), testModel(1, 1, 1, 30*time.Second), 5*time.Second)
		s.decide = func(policy.Observation, time.Time, policy.Config) policy.Decision {
			return policy.Decision{Desired: 0, Stop: []policy.Stop{{Name: name, Reason: policy.StopIdle}}}
		}
		err := s.runUntil(5 * time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.state) || !strings.Contains(err.Error(), "not an idle worker") {
			t.Errorf("stop of %s: error %v, want one naming it as not an idle worker", name, err)
		}
	}
}

func TestDirectionChanges(t *testing.T) {
	// Scripted decisions: +1, +1, 0, -1 (flip), +2 (flip), -1 (flip).
	script := []int{1, 1, 0, -1, 2, -1}
	s := newTestSim(t, mustTrace(t, "100 1 1\n"), testModel(0, 5, 1, time.Second), 6*time.Second)
	s.m.SpawnTime = 0
	call := 0
	s.decide = func(obs policy.Observation, _ time.Time, _ policy.Config) policy.Decision {
		d := policy.Decision{}
		if call < len(script) {
			if n := script[call]; n > 0 {
				d.Start = n
			} else if n < 0 {
				d.Stop = []policy.Stop{{Name: obs.Workers[len(obs.Workers)-1].Name}}
			}
		}
		call++
		return d
	}
	r := s.until(t, 6*time.Second).result()
	if r.DirectionChanges != 3 || r.Starts != 4 || r.Stops != 2 {
		t.Errorf("direction changes %d, starts %d, stops %d; want 3, 4, 2", r.DirectionChanges, r.Starts, r.Stops)
	}
	if r.Published != 0 {
		t.Errorf("published %d, want 0: the only batch is after the horizon", r.Published)
	}
}

func TestCeleryModel(t *testing.T) {
	// Celery's pool: 12 tasks on MIN 2, MAX 6. The message wakes the
	// autoscaler 1 ms later; it asks for min(qty, MAX) = 6 processes at
	// once, and its main forks the 4 new ones one after the other, 0.18 s
	// each: online at 0.181, 0.361, 0.541 and 0.721 s.
	p := policy.Config{Min: 2, Max: 6, TasksPerWorker: 3, Keepalive: 30 * time.Second}
	m := CeleryModel(p)
	if m.Policy.Algorithm != policy.AlgorithmCelery || m.Concurrency != 1 || m.Prefetch != 0 || m.Policy.TasksPerWorker != 1 ||
		!m.SerialForks || m.PollInterval != p.Keepalive || m.PollOffset != p.Keepalive-DefaultCeleryReadyLead {
		t.Fatalf("CeleryModel = %+v", m)
	}
	s := newTestSim(t, mustTrace(t, "0 12 1\n"), m, 3*time.Second)
	if got := s.until(t, sec(0.1)); len(got.workers) != 6 {
		t.Errorf("at 0.1 s: %d processes, want 6", len(got.workers))
	}
	for _, tc := range []struct {
		at   float64
		want int
	}{{0.2, 3}, {0.4, 4}, {0.7, 5}, {0.75, 6}} {
		s.until(t, sec(tc.at))
		running := 0
		for _, w := range s.workers {
			running += len(w.running)
		}
		if running != tc.want {
			t.Errorf("at %.2f s: %d running, want %d (2 from the start, one more per 0.18 s fork)", tc.at, running, tc.want)
		}
	}
}

func TestModelValidate(t *testing.T) {
	base := testModel(1, 2, 1, time.Second)
	for _, tc := range []struct {
		name string
		edit func(*Model)
		want string
	}{
		{"concurrency", func(m *Model) { m.Concurrency = 0 }, "concurrency"},
		{"prefetch", func(m *Model) { m.Prefetch = -1 }, "prefetch"},
		{"spawn", func(m *Model) { m.SpawnTime = -1 }, "spawn"},
		{"poll", func(m *Model) { m.PollInterval = 0 }, "poll interval"},
		{"offset", func(m *Model) { m.PollOffset = m.PollInterval }, "poll offset"},
		{"policy", func(m *Model) { m.Policy.Max = 0 }, "max workers"},
	} {
		m := base
		tc.edit(&m)
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error about %s", tc.name, err, tc.want)
		}
	}
	if err := base.Validate(); err != nil {
		t.Errorf("Validate() = %v for a good model", err)
	}
}

func TestWaitPercentiles(t *testing.T) {
	var r Result
	for i := 1; i <= 20; i++ {
		r.Waits = append(r.Waits, time.Duration(i)*time.Second)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{50, 10 * time.Second}, {95, 19 * time.Second}, {100, 20 * time.Second}} {
		if got := r.Wait(tc.q); got != tc.want {
			t.Errorf("Wait(%g) = %s, want %s (nearest rank)", tc.q, got, tc.want)
		}
	}
	if got := (Result{}).Wait(95); got != 0 {
		t.Errorf("Wait of no tasks = %s, want 0", got)
	}
}

func TestSeries(t *testing.T) {
	var s Series
	s.add(0, 3)
	s.add(0, 4) // same instant: replaces
	s.add(1, 4) // unchanged: nothing
	s.add(2, 1)
	s.add(2, 4) // back to the previous value at the same instant: dropped
	want := Series{{0, 4}}
	if !slices.Equal(s, want) {
		t.Errorf("series = %v, want %v", s, want)
	}
}

func TestDefaultHorizon(t *testing.T) {
	m := testModel(1, 4, 1, 30*time.Second)
	short := mustTrace(t, "0 4 1\n")
	if h, err := DefaultHorizon(short, []Model{m}, DefaultStart); err != nil || h != MinHorizon {
		t.Errorf("DefaultHorizon(short) = %s, %v; want %s", h, err, MinHorizon)
	}
	// The last task ends at 101 s (online MIN worker, no wait): + 30 s.
	long := mustTrace(t, "100 1 1\n")
	if h, err := DefaultHorizon(long, []Model{m}, DefaultStart); err != nil || h != 131*time.Second {
		t.Errorf("DefaultHorizon(long) = %s, %v; want 131s", h, err)
	}
}
