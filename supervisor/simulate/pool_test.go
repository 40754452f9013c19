package simulate

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// poolTestModel is the pool engine's mechanism with its default timings
// but without the calibrated overheads, so instants stay round: forks
// ready in 0.15 s however many, tasks starting at once and lasting exactly
// their task_seconds, stops gone in 0.05 s, polls every second from 0, a
// decision 0.1 s after a broker change, multiplier 1.
func poolTestModel(lo, hi int, keepalive time.Duration) Model {
	m := PoolModel(policy.Config{Min: lo, Max: hi, TasksPerWorker: 1, Keepalive: keepalive, PrefetchMultiplier: 1})
	m.ForkEach, m.StartDelay, m.RunOverhead = 0, 0, 0
	return m
}

// instant is the pool as a test expects it at a fixed instant.
type instant struct {
	t       float64
	phases  string
	waiting int // in the broker
	held    int // in the worker main, taken by no process
}

// checkInstants runs s through each instant in turn and compares.
func checkInstants(t *testing.T, s *sim, want []instant) {
	t.Helper()
	for _, at := range want {
		s.until(t, sec(at.t))
		if got := s.phases(); got != at.phases || s.waiting() != at.waiting || len(s.held) != at.held {
			t.Errorf("at %.2f s: %q, %d waiting, %d held; want %q, %d, %d",
				at.t, got, s.waiting(), len(s.held), at.phases, at.waiting, at.held)
		}
	}
}

// record wraps s's Decide and returns what it saw and decided, by instant.
func record(s *sim) (obs map[time.Duration]policy.Observation, dec map[time.Duration]policy.Decision) {
	obs, dec = map[time.Duration]policy.Observation{}, map[time.Duration]policy.Decision{}
	s.decide = func(o policy.Observation, now time.Time, p policy.Config) policy.Decision {
		d := policy.Decide(o, now, p)
		obs[now.Sub(s.start)], dec[now.Sub(s.start)] = o, d
		return d
	}
	return obs, dec
}

func TestPoolModel(t *testing.T) {
	m := PoolModel(policy.Config{Min: 1, Max: 4, TasksPerWorker: 1, Keepalive: time.Second})
	if !m.Pool() || m.Concurrency != 1 || m.Prefetch != 0 || m.Multiplier != 1 || m.SpawnTime != DefaultPoolSpawnTime ||
		m.ForkEach != DefaultPoolForkEach || m.StartDelay != DefaultPoolStartDelay || m.RunOverhead != DefaultRunOverhead ||
		m.StopTime != DefaultPoolStopTime || m.ChangeSettle != DefaultChangeSettle || m.ChangeGap != DefaultChangeGap {
		t.Errorf("PoolModel = %+v", m)
	}
	if err := m.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	// The change wake-ups are the supervisor's own.
	if DefaultChangeSettle != supervisor.ChangeSettle || DefaultChangeGap != supervisor.MinChangeGap {
		t.Errorf("change settle %s, gap %s; want supervisor's %s, %s",
			DefaultChangeSettle, DefaultChangeGap, supervisor.ChangeSettle, supervisor.MinChangeGap)
	}
}

func TestPoolBurstOnMinProcesses(t *testing.T) {
	// MIN 2 idle processes, six 10 s tasks at 0.3 s: two start at once, the
	// change brings a decision at 0.4 s that forks four; the main fetches
	// their four tasks at once (held, not waiting), and they start when
	// the forks are ready, at 0.55 s. The decision at 0.5 s (the fetch was
	// a change) counts the held tasks as demand and forks no more.
	s := newTestSim(t, mustTrace(t, "0.3 6 10\n"), poolTestModel(2, 6, 30*time.Second), 2*time.Second)
	obs, dec := record(s)
	const starting = " process3:starting process4:starting process5:starting process6:starting"
	checkInstants(t, s, []instant{
		{0.3, "process1:busy process2:busy", 4, 0},
		{0.39, "process1:busy process2:busy", 4, 0},
		{0.4, "process1:busy process2:busy" + starting, 0, 4},
		{0.54, "process1:busy process2:busy" + starting, 0, 4},
		{0.55, "process1:busy process2:busy process3:busy process4:busy process5:busy process6:busy", 0, 0},
	})
	if o, d := obs[400*time.Millisecond], dec[400*time.Millisecond]; o.Waiting != 4 || o.Reserved != 0 || d.Start != 4 {
		t.Errorf("decision at 0.4 s: %d waiting, %d reserved, start %d; want 4, 0, 4", o.Waiting, o.Reserved, d.Start)
	}
	if o, d := obs[500*time.Millisecond], dec[500*time.Millisecond]; o.Waiting != 0 || o.Reserved != 4 || d.Start != 0 {
		t.Errorf("decision at 0.5 s: %d waiting, %d reserved, start %d; want 0, 4, 0", o.Waiting, o.Reserved, d.Start)
	}
	want := []time.Duration{0, 0, 250 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond}
	if r := s.until(t, 2*time.Second).result(); !slices.Equal(r.Waits, want) || r.Starts != 4 || r.PeakWorkers != 6 {
		t.Errorf("waits %v, starts %d, peak %d; want %v, 4, 6", r.Waits, r.Starts, r.PeakWorkers, want)
	}
}

func TestPoolWaitsWithMultiplier(t *testing.T) {
	// Two processes. A (10 s) runs on process1, B (1 s) on process2 from
	// 1 s; C arrives at 1.5 s. With multiplier 1 the main holds only the
	// running tasks, so C waits in the broker; with 2 the main holds it.
	// Either way it starts at 2 s on process2, which frees first: never
	// behind A, as a worker's own prefetch would leave it (TestPrefetch).
	for _, tc := range []struct {
		multiplier, waiting, reserved int
	}{{1, 1, 0}, {2, 0, 1}} {
		m := poolTestModel(2, 2, 30*time.Second)
		m.Multiplier = tc.multiplier
		s := newTestSim(t, mustTrace(t, "0 1 10\n1 1 1\n1.5 1 1\n"), m, 5*time.Second)
		obs, _ := record(s)
		s.until(t, sec(1.7))
		if o := obs[1600*time.Millisecond]; o.Waiting != int64(tc.waiting) || o.Reserved != tc.reserved {
			t.Errorf("multiplier %d: decision at 1.6 s saw %d waiting, %d reserved; want %d, %d",
				tc.multiplier, o.Waiting, o.Reserved, tc.waiting, tc.reserved)
		}
		s.until(t, sec(2.5))
		if c := s.tasks[2]; !c.started || c.start != 2*time.Second || !slices.Equal(s.workers[1].running, []int{2}) {
			t.Errorf("multiplier %d: C started %v at %s, process2 runs %v; want at 2s on process2", tc.multiplier, c.started, c.start, s.workers[1].running)
		}
	}
}

func TestPoolStopsOnlyIdleAfterKeepalive(t *testing.T) {
	// MIN 0, MAX 2, keepalive 2 s. The poll at 0 forks two processes,
	// ready at 0.15 s: process1 runs a 5 s task, process2 a 1 s one and is
	// idle from 1.15 s. It goes at the first decision 2 s later (the poll
	// at 4 s: no broker change in between), the busy process1 stays;
	// process1, idle from 5.15 s, goes at 8 s. A stopped process counts
	// for 0.05 s.
	s := newTestSim(t, mustTrace(t, "0 1 5\n0 1 1\n"), poolTestModel(0, 2, 2*time.Second), 10*time.Second)
	checkInstants(t, s, []instant{
		{0, "process1:starting process2:starting", 0, 2},
		{0.15, "process1:busy process2:busy", 0, 0},
		{1.2, "process1:busy process2:idle", 0, 0},
		{3.99, "process1:busy process2:idle", 0, 0},
		{4.0, "process1:busy process2:stopping", 0, 0},
		{4.05, "process1:busy", 0, 0},
		{7.99, "process1:idle", 0, 0},
		{8.0, "process1:stopping", 0, 0},
		{8.05, "", 0, 0},
	})
	r := s.until(t, 10*time.Second).result()
	if r.Starts != 2 || r.Stops != 2 || r.Finished != 2 {
		t.Errorf("starts %d stops %d finished %d; want 2 2 2", r.Starts, r.Stops, r.Finished)
	}
	if want := 8.05 + 4.05; r.SlotSeconds != want {
		t.Errorf("worker-seconds %g, want %g", r.SlotSeconds, want)
	}
}

func TestPoolStoppingCountsAgainstMax(t *testing.T) {
	// MAX 2, keepalive 1 s, a stop that takes 0.5 s. Both processes stop
	// at the poll at 2 s; two tasks arrive at 2.01 s. The change brings a
	// decision at 2.11 s, but the stopping processes fill MAX: it forks
	// nothing (blocked "stopping"). They are gone at 2.5 s; the poll at
	// 3 s forks two, ready at 3.15 s. Decide never sees more than MAX.
	m := poolTestModel(0, 2, time.Second)
	m.StopTime = 500 * time.Millisecond
	s := newTestSim(t, mustTrace(t, "0 2 0.5\n2.01 2 1\n"), m, 5*time.Second)
	obs, dec := record(s)
	checkInstants(t, s, []instant{
		{1.99, "process1:idle process2:idle", 0, 0},
		{2.0, "process1:stopping process2:stopping", 0, 0},
		{2.11, "process1:stopping process2:stopping", 2, 0},
		{2.5, "", 2, 0},
		{2.99, "", 2, 0},
		{3.0, "process1:starting process2:starting", 0, 2},
		{3.15, "process1:busy process2:busy", 0, 0},
	})
	if d := dec[2110*time.Millisecond]; d.Start != 0 || d.Blocked != policy.BlockedStopping {
		t.Errorf("decision at 2.11 s: start %d, blocked %q; want 0, stopping", d.Start, d.Blocked)
	}
	for at, o := range obs {
		if len(o.Workers) > 2 {
			t.Errorf("at %s Decide saw %d processes, above MAX 2", at, len(o.Workers))
		}
	}
	r := s.until(t, 5*time.Second).result()
	if r.PeakWorkers != 2 || r.Wait(100) != 1140*time.Millisecond {
		t.Errorf("peak %d, longest wait %s; want 2, 1.14s", r.PeakWorkers, r.Wait(100))
	}
}

func TestChangeWakeUps(t *testing.T) {
	// MIN = MAX = 3 short tasks: no scaling, only the decision instants.
	ms := time.Millisecond
	for _, tc := range []struct {
		name         string
		settle, gap  time.Duration
		trace        string
		wantInstants []time.Duration
	}{
		// 0.3: a change, decided 0.1 s later; 0.35 arrives while that is
		// held, so it is decided 0.1 s after 0.4. 1.95 is covered by
		// the poll at 2.
		{"settle", 100 * ms, 50 * ms, "0.3 1 0.01\n0.35 1 0.01\n1.95 1 0.01\n",
			[]time.Duration{0, 400 * ms, 500 * ms, 1000 * ms, 2000 * ms}},
		// The gap from the previous decision (the poll at 1 s) rules.
		{"gap", 10 * ms, 500 * ms, "1.1 1 0.01\n", []time.Duration{0, 1000 * ms, 1500 * ms, 2000 * ms}},
		{"polls only", 0, 0, "0.3 1 0.01\n1.1 1 0.01\n", []time.Duration{0, 1000 * ms, 2000 * ms}},
	} {
		m := poolTestModel(3, 3, 30*time.Second)
		m.ChangeSettle, m.ChangeGap = tc.settle, tc.gap
		s := newTestSim(t, mustTrace(t, tc.trace), m, 2500*ms)
		obs, _ := record(s)
		s.until(t, 2500*ms)
		var got []time.Duration
		for at := range obs {
			got = append(got, at)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.wantInstants) {
			t.Errorf("%s: decisions at %v, want %v", tc.name, got, tc.wantInstants)
		}
	}
}

func TestPoolModelValidate(t *testing.T) {
	base := poolTestModel(1, 2, time.Second)
	for _, tc := range []struct {
		name string
		edit func(*Model)
		want string
	}{
		{"engine", func(m *Model) { m.Engine = "threads" }, `engine "threads": accepted: pool, workers`},
		{"concurrency", func(m *Model) { m.Concurrency = 2 }, "a pool process has 1 slot"},
		{"prefetch", func(m *Model) { m.Prefetch = 1 }, "reserves nothing"},
		{"multiplier", func(m *Model) { m.Multiplier = 0 }, "multiplier 0"},
		{"settle", func(m *Model) { m.ChangeSettle = time.Microsecond }, "change settle"},
		{"gap", func(m *Model) { m.ChangeGap = -1 }, "change gap"},
	} {
		m := base
		tc.edit(&m)
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error about %s", tc.name, err, tc.want)
		}
	}
}
