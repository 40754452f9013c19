package simulate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// Queue groups: one pool per group (each its own worker main, queue and
// Decide), all on one virtual clock, sharing one host budget through a
// policy.Ledger exactly as the supervisor's groups share their HostBudget.

// Group is one queue group of -Q: the queues its pool consumes and the
// range of processes it may have under the host budget.
type Group struct {
	Name     string   // as the supervisor names it: its queues joined by "+"
	Queues   []string // at least one; a queue belongs to one group
	Min, Max int      // 0 <= Min <= Max <= the host's Policy.Max
}

// GroupResult is what one group's pool did: its Result (Model is the
// group's: its name, its range as Policy.Min and Policy.Max).
type GroupResult struct {
	Group Group
	Result
}

// validateGroups checks the groups against the host budget: each has a
// name and queues, a range within the host max, no queue in two groups,
// and the minimums fit in the max together.
func (m Model) validateGroups() error {
	seen := map[string]string{}
	mins := 0
	for _, g := range m.Groups {
		if g.Name == "" || len(g.Queues) == 0 {
			return fmt.Errorf("group %q: a group needs a name and at least one queue", g.Name)
		}
		if g.Min < 0 || g.Min > g.Max || g.Max > m.Policy.Max {
			return fmt.Errorf("group %s: range %d-%d: want 0 <= min <= max <= the host max %d", g.Name, g.Min, g.Max, m.Policy.Max)
		}
		for _, q := range g.Queues {
			if other, ok := seen[q]; ok {
				return fmt.Errorf("queue %q is in groups %s and %s; a queue belongs to one group", q, other, g.Name)
			}
			seen[q] = g.Name
		}
		mins += g.Min
	}
	if mins > m.Policy.Max {
		return fmt.Errorf("the group minimums add up to %d, above the host max %d", mins, m.Policy.Max)
	}
	return nil
}

// SplitTrace gives each group the batches of its queues (QueueName), in
// the groups' order, each named after the trace and the group and with its
// ramp windows. A batch of
// a queue in no group is an error naming the queue and its line.
func SplitTrace(tr Trace, groups []Group) ([]Trace, error) {
	out := make([]Trace, len(groups))
	for i, g := range groups {
		out[i].Name, out[i].Ramps = tr.Name+"/"+g.Name, tr.Ramps
	}
	for _, b := range tr.Batches {
		q := b.QueueName()
		i := slices.IndexFunc(groups, func(g Group) bool { return slices.Contains(g.Queues, q) })
		if i < 0 {
			return nil, fmt.Errorf("%s:%d: queue %q is in no queue group (%s); -Q must name every queue of the trace",
				tr.Name, b.Line, q, groupNames(groups))
		}
		out[i].Batches = append(out[i].Batches, b)
	}
	return out, nil
}

func groupNames(groups []Group) string {
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.Name
	}
	return strings.Join(names, ", ")
}

// groupModel is m for one group's pool: the group's range, no groups.
func groupModel(m Model, g Group) Model {
	gm := m
	gm.Name, gm.Groups = g.Name, nil
	gm.Policy.Min, gm.Policy.Max, gm.Policy.Schedules = g.Min, g.Max, policy.SchedulesFor(m.Policy.Schedules, g.Name)
	return gm
}

// host is the groups' pools on one clock under one ledger.
type host struct {
	m                       Model
	sims                    []*sim
	queue, workers, desired Series // host-wide totals
	peak                    int    // the most processes alive together at an instant
}

// runGroups replays tr through m's groups from start for horizon (see
// newHost). The Result is host-wide (totals; Groups holds each group's own).
func runGroups(tr Trace, m Model, start time.Time, horizon time.Duration) (Result, error) {
	h, err := newHost(tr, m, start, horizon)
	if err != nil {
		return Result{}, err
	}
	if err := h.runUntil(horizon); err != nil {
		return Result{}, err
	}
	return h.result(horizon, tr.Tasks()), nil
}

// newHost sets up one pool per group of m, each with its queues' tasks of
// tr, its range and a ledger shared with the others. At each instant where
// anything happens to a group, that group steps, in the groups' order; a
// decision asks the ledger for the group's part first.
func newHost(tr Trace, m Model, start time.Time, horizon time.Duration) (*host, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	traces, err := SplitTrace(tr, m.Groups)
	if err != nil {
		return nil, err
	}
	names, mins, caps := make([]string, len(m.Groups)), make([]int, len(m.Groups)), make([]int, len(m.Groups))
	for i, g := range m.Groups {
		names[i], mins[i], caps[i] = g.Name, g.Min, g.Max
	}
	ledger := policy.NewLedger(policy.Budget{Max: m.Policy.Max, RebalanceAfter: m.RebalanceAfter,
		Schedules: policy.SchedulesFor(m.Policy.Schedules, ""), Location: m.Policy.Location}, names, mins, caps)
	h := &host{m: m}
	for i, g := range m.Groups {
		s, err := newSim(traces[i], groupModel(m, g), start, horizon)
		if err != nil {
			return nil, err
		}
		s.group, s.ledger = g.Name, ledger
		h.sims = append(h.sims, s)
	}
	return h, nil
}

// runUntil processes every instant up to and including limit.
func (h *host) runUntil(limit time.Duration) error {
	for {
		t := limit + 1
		for _, s := range h.sims {
			t = min(t, s.nextEvent())
		}
		if t > limit {
			break
		}
		for _, s := range h.sims {
			if s.nextEvent() != t {
				continue
			}
			if err := s.step(t); err != nil {
				return err
			}
		}
		h.record(t)
	}
	for _, s := range h.sims {
		s.advance(limit)
	}
	return nil
}

// record adds the host-wide totals at t once every group has stepped.
func (h *host) record(t time.Duration) {
	var waiting, alive, desired int
	for _, s := range h.sims {
		waiting += s.waiting()
		alive += len(s.workers)
		if n := len(s.res.Desired); n > 0 {
			desired += s.res.Desired[n-1].Value
		}
	}
	h.queue.add(t, waiting)
	h.workers.add(t, alive)
	h.desired.add(t, desired)
	h.peak = max(h.peak, alive)
}

// result sums the groups' results into the host's: tasks, waits,
// process-seconds, scaling events and decisions (in time order, each
// reason naming its group), waits during ramps; the series are the host-wide totals.
func (h *host) result(horizon time.Duration, tasks int) Result {
	r := Result{Model: h.m, Horizon: horizon, Tasks: tasks, PeakWorkers: h.peak,
		Queue: h.queue, Workers: h.workers, Desired: h.desired}
	for i, s := range h.sims {
		g := s.result()
		r.Groups = append(r.Groups, GroupResult{Group: h.m.Groups[i], Result: g})
		r.Published += g.Published
		r.Finished += g.Finished
		r.Waits = append(r.Waits, g.Waits...)
		r.RampWaits = append(r.RampWaits, g.RampWaits...)
		r.SlotSeconds += g.SlotSeconds
		r.Starts += g.Starts
		r.Stops += g.Stops
		r.DirectionChanges += g.DirectionChanges
		r.LastFinish = max(r.LastFinish, g.LastFinish)
		r.Decisions = append(r.Decisions, g.Decisions...)
	}
	slices.Sort(r.Waits)
	slices.SortStableFunc(r.Decisions, func(a, b Action) int { return cmp.Compare(a.At, b.At) })
	return r
}
