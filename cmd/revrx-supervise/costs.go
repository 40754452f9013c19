package main

import (
	"errors"
	"maps"
	"math"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The series `report` reads from /metrics.
const (
	metricProcessSeconds = "revrx_process_seconds_total"
	metricHeldSeconds    = "revrx_held_process_seconds_total"
	metricHeldUsed       = "revrx_held_processes_used_total"
	metricTasksCompleted = "revrx_tasks_completed_total"
	metricQueueWait      = "revrx_queue_wait_seconds"
	metricStartupLead    = "revrx_startup_lead_seconds"
	metricStartTime      = "process_start_time_seconds"
)

// errNoCostMetrics: the supervisor exports no revrx_process_seconds_total
// (it predates them).
var errNoCostMetrics = errors.New("no " + metricProcessSeconds + " in /metrics: the supervisor is older than this command")

// groupCost is what one queue group's processes (Group "" without groups)
// cost and did since its supervisor started, as its counters say.
type groupCost struct {
	Group                string
	Tasks                float64            // completed, every outcome
	Busy, Idle, Starting float64            // process-seconds by state
	Held, Used           map[string]float64 // held idle process-seconds, held processes put to work; by holder
	Wait                 []bucket           // queue wait, every queue's buckets summed, by bound
	Lead                 float64            // the start-up lead in seconds; 0 when not exported
}

// all is the process-seconds in every state.
func (g groupCost) all() float64 { return g.Busy + g.Idle + g.Starting }

// idleShare is Idle over all, NaN with no process-seconds.
func (g groupCost) idleShare() float64 { return ratio(g.Idle, g.all()) }

// perTask is all process-seconds per task completed, NaN with no task.
func (g groupCost) perTask() float64 { return ratio(g.all(), g.Tasks) }

func ratio(a, b float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a / b
}

// costReport is a supervisor's costs by group, sorted by name, and when it
// started (zero if it does not say).
type costReport struct {
	Started time.Time
	Groups  []groupCost
}

// readCosts reads the cost figures of every queue group from the families
// of one /metrics exposition.
func readCosts(fams map[string]*dto.MetricFamily) (costReport, error) {
	if fams[metricProcessSeconds] == nil {
		return costReport{}, errNoCostMetrics
	}
	groups := map[string]*groupCost{}
	get := func(m *dto.Metric) *groupCost {
		name := label(m, "group")
		if groups[name] == nil {
			groups[name] = &groupCost{Group: name, Held: map[string]float64{}, Used: map[string]float64{}}
		}
		return groups[name]
	}
	for _, m := range fams[metricProcessSeconds].GetMetric() {
		g, v := get(m), m.GetCounter().GetValue()
		switch label(m, "state") {
		case "busy":
			g.Busy += v
		case "idle":
			g.Idle += v
		case "starting":
			g.Starting += v
		}
	}
	for _, m := range fams[metricTasksCompleted].GetMetric() {
		get(m).Tasks += m.GetCounter().GetValue()
	}
	for _, m := range fams[metricHeldSeconds].GetMetric() {
		get(m).Held[label(m, "by")] += m.GetCounter().GetValue()
	}
	for _, m := range fams[metricHeldUsed].GetMetric() {
		get(m).Used[label(m, "by")] += m.GetCounter().GetValue()
	}
	for _, m := range fams[metricStartupLead].GetMetric() {
		get(m).Lead = m.GetGauge().GetValue()
	}
	waits := readWaits(fams[metricQueueWait], get)
	var r costReport
	for _, m := range fams[metricStartTime].GetMetric() {
		r.Started = time.Unix(0, int64(m.GetGauge().GetValue()*1e9))
	}
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		g := groups[name]
		for _, le := range slices.Sorted(maps.Keys(waits[name])) {
			g.Wait = append(g.Wait, bucket{le: le, count: waits[name][le]})
		}
		r.Groups = append(r.Groups, *g)
	}
	return r, nil
}

// readWaits sums the buckets of every queue's wait histogram of fam by
// group: group -> upper bound -> cumulative count, +Inf included.
func readWaits(fam *dto.MetricFamily, get func(*dto.Metric) *groupCost) map[string]map[float64]float64 {
	waits := map[string]map[float64]float64{}
	for _, m := range fam.GetMetric() {
		g := get(m).Group
		if waits[g] == nil {
			waits[g] = map[float64]float64{}
		}
		h := m.GetHistogram()
		for _, b := range h.GetBucket() {
			if le := b.GetUpperBound(); !math.IsInf(le, 1) { // the text format lists +Inf too: the count
				waits[g][le] += float64(b.GetCumulativeCount())
			}
		}
		waits[g][math.Inf(1)] += float64(h.GetSampleCount())
	}
	return waits
}

// label is the value of m's label name, "" if it has none.
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
