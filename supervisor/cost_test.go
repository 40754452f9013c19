package supervisor

import (
	"maps"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// TestProcessSecondsAccrue: each interval between two ticks is charged at
// the earlier tick's processes, by state; the idle ones min keeps are held
// by min, those above the desired count by keepalive; min's are put to use
// when tasks come; /status's efficiency sums the same.
func TestProcessSecondsAccrue(t *testing.T) {
	h := newHarness(t, policy.Config{Min: 2, Max: 3, TasksPerWorker: 1, Keepalive: time.Minute})
	cost := h.sup.m.cost
	want := func(what string, got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	h.tick(0)           // starts 2: none seen yet
	h.tick(time.Second) // 2 starting
	h.onlineAll()
	h.tick(2 * time.Second) // charges 2 s x 2 starting; 2 idle, held by min
	want("starting seconds", h.metric(cost.processSeconds.WithLabelValues(costStarting)), 4)
	want("idle seconds before any idle tick", h.metric(cost.processSeconds.WithLabelValues(costIdle)), 0)

	h.tick(10 * time.Second)
	want("idle seconds", h.metric(cost.processSeconds.WithLabelValues(costIdle)), 20)
	want("held by min", h.metric(cost.heldSeconds.WithLabelValues(string(heldByMin))), 20)

	h.depth = 3 // demand 3: min's two are put to use, a third starts
	h.tick(time.Second)
	want("held by min, used", h.metric(cost.heldUsed.WithLabelValues(string(heldByMin))), 2)
	h.onlineAll()
	for i, w := range []string{workerName(1), workerName(2), workerName(3)} {
		id := string(rune('a' + i))
		h.event("task-received", w, id)
		h.event("task-started", w, id)
	}
	h.depth = 0
	h.tick(time.Second) // charges 1 s at the 2 idle: the third started after the last tick looked
	h.tick(4 * time.Second)
	want("busy seconds", h.metric(cost.processSeconds.WithLabelValues(costBusy)), 12)
	h.event("task-succeeded", workerName(3), "c")
	h.tick(5 * time.Second) // 3 busy, then 2 busy and 1 idle above desired 2: held by keepalive
	h.tick(10 * time.Second)
	want("busy seconds", h.metric(cost.processSeconds.WithLabelValues(costBusy)), 12+15+20)
	want("held by keepalive", h.metric(cost.heldSeconds.WithLabelValues(string(heldByKeepalive))), 10)
	want("held by min", h.metric(cost.heldSeconds.WithLabelValues(string(heldByMin))), 22)
	want("idle seconds", h.metric(cost.processSeconds.WithLabelValues(costIdle)), 20+2+2+10)

	e := h.sup.Snapshot().Efficiency
	if e.TasksCompleted != 1 || e.BusySeconds != 47 || e.StartingSeconds != 4 || !e.Since.Equal(t0.Add(time.Second)) {
		t.Errorf("Snapshot().Efficiency = %+v, want 1 task, 47 busy, 4 starting seconds since t0+1s", e)
	}
	if all := e.ProcessSeconds(); e.IdleShare != e.IdleSeconds/all || e.SecondsPerTask != all {
		t.Errorf("Snapshot().Efficiency = %+v: ratios do not match its sums", e)
	}
}

// TestTallyCost: a leaving worker is busy while it runs a task (a whole
// worker's events say so; a retiring pool process always does), else
// idle; one in backoff is no process; only starting, idle and busy ones
// count towards what the demand needs.
func TestTallyCost(t *testing.T) {
	view := func(ph policy.Phase, running int) policy.WorkerView {
		return policy.WorkerView{Phase: ph, Running: running}
	}
	process := func(ph ProcessPhase) Worker { return Worker{Process: &Process{Phase: ph}} }
	views := []policy.WorkerView{
		view(policy.PhaseBusy, 1), view(policy.PhaseIdle, 0), view(policy.PhaseStarting, 0),
		view(policy.PhaseDraining, 1), view(policy.PhaseStopping, 0), view(policy.PhaseBackoff, 0),
		view(policy.PhaseDraining, 0), view(policy.PhaseStopping, 0),
	}
	workers := []Worker{{}, {}, {}, {}, {}, {}, process(ProcessRetiring), process(ProcessStopping)}
	got := tallyCost(policy.Decision{Demand: 1, Desired: 1, Strategy: policy.StrategyQueue}, 1, views, workers)
	want := costTally{busy: 3, idle: 3, starting: 1, holding: holding{needed: 1, held: map[holder]int{heldByKeepalive: 1}}}
	if got.busy != want.busy || got.idle != want.idle || got.starting != want.starting ||
		got.holding.needed != want.holding.needed || !maps.Equal(got.holding.held, want.holding.held) {
		t.Errorf("tallyCost() = %+v, want %+v", got, want)
	}
}
