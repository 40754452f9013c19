package supervisor

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// The cost states of a process: the label "state" of
// revrx_process_seconds_total.
const (
	costBusy     = "busy"
	costIdle     = "idle"
	costStarting = "starting"
)

// costMetrics are the series of what the supervised processes cost.
type costMetrics struct {
	processSeconds *prometheus.CounterVec // by state
	heldSeconds    *prometheus.CounterVec // idle process-seconds, by holder
	heldUsed       *prometheus.CounterVec // held processes put to work, by holder
}

// newCostMetrics creates the cost series at 0 for every label value and
// registers them on reg.
func newCostMetrics(reg prometheus.Registerer) (*costMetrics, error) {
	m := &costMetrics{
		processSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "revrx_process_seconds_total",
			Help: "Process-seconds of the supervised processes (pool processes, or whole workers) by state: busy, idle, starting (draining and stopping ones count as idle unless running a task).",
		}, []string{"state"}),
		heldSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "revrx_held_process_seconds_total",
			Help: "Idle process-seconds kept above what the demand needed, by what kept them: min, schedule, forecast (the floor that set the desired count), keepalive (idle above the desired count).",
		}, []string{"by"}),
		heldUsed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "revrx_held_processes_used_total",
			Help: "Processes held idle (by min, schedule, forecast or keepalive) that a rise in demand then put to work, with no process to start.",
		}, []string{"by"}),
	}
	for _, c := range []prometheus.Collector{m.processSeconds, m.heldSeconds, m.heldUsed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	for _, st := range []string{costBusy, costIdle, costStarting} {
		m.processSeconds.WithLabelValues(st)
	}
	for _, by := range holders {
		m.heldSeconds.WithLabelValues(string(by))
		m.heldUsed.WithLabelValues(string(by))
	}
	return m, nil
}

// costTally is one tick's processes by cost state, and what holds the
// idle ones.
type costTally struct {
	busy, idle, starting int
	holding              holding
}

// tallyCost counts one tick's processes: views[i] is workers[i] as the
// policy sees it, d the tick's decision. A draining or stopping process is
// busy while it runs a task (a retiring pool process does), else idle; one
// in backoff has no process.
func tallyCost(d policy.Decision, perWorker int, views []policy.WorkerView, workers []Worker) costTally {
	var t costTally
	inService, idle := 0, 0
	for i, v := range views {
		switch v.Phase {
		case policy.PhaseBusy:
			t.busy++
			inService++
		case policy.PhaseIdle:
			t.idle++
			inService++
			idle++
		case policy.PhaseStarting:
			t.starting++
			inService++
		case policy.PhaseDraining, policy.PhaseStopping:
			if p := workers[i].Process; v.Running > 0 || (p != nil && p.Phase == ProcessRetiring) {
				t.busy++
			} else {
				t.idle++
			}
		}
	}
	t.holding = holdingOf(d, perWorker, inService, idle)
	return t
}

// costMeter accrues what the supervised processes cost, tick by tick: the
// time between two ticks is charged at the earlier tick's tally (the state
// the processes were in until this tick saw them), the first tick only
// starts the count. The loop calls tick; handleEvent counts finished tasks
// (finished) from its own goroutine.
type costMeter struct {
	m        *costMetrics
	window   *efficiencyRing
	finished atomic.Int64 // tasks finished since the start

	last         costTally
	lastAt       time.Time
	lastFinished int64
}

// tick accrues the time since the previous tick at its tally, and keeps t
// for the next one.
func (c *costMeter) tick(now time.Time, t costTally) {
	finished := c.finished.Load()
	if !c.lastAt.IsZero() {
		secs := max(0, now.Sub(c.lastAt).Seconds())
		prev := c.last
		e := Efficiency{TasksCompleted: finished - c.lastFinished, BusySeconds: secs * float64(prev.busy),
			IdleSeconds: secs * float64(prev.idle), StartingSeconds: secs * float64(prev.starting)}
		c.m.processSeconds.WithLabelValues(costBusy).Add(e.BusySeconds)
		c.m.processSeconds.WithLabelValues(costIdle).Add(e.IdleSeconds)
		c.m.processSeconds.WithLabelValues(costStarting).Add(e.StartingSeconds)
		for by, n := range prev.holding.held {
			c.m.heldSeconds.WithLabelValues(string(by)).Add(secs * float64(n))
		}
		for by, n := range putToUse(prev.holding, t.holding) {
			c.m.heldUsed.WithLabelValues(string(by)).Add(float64(n))
		}
		c.window.add(now, e)
	}
	c.last, c.lastAt, c.lastFinished = t, now, finished
}

// efficiency is the window's sums at now.
func (c *costMeter) efficiency(now time.Time) Efficiency { return c.window.view(now) }
