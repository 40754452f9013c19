package supervisor

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Host is the supervisors of several queue groups on one host, each with
// its own worker main and loop under one HostBudget, seen as one by the
// HTTP interface, the status command and EMF. Its methods are safe to call
// from any goroutine.
type Host struct {
	budget *HostBudget
	groups []*Supervisor
}

// NewHost returns the host view of groups, which share budget.
func NewHost(budget *HostBudget, groups ...*Supervisor) *Host {
	return &Host{budget: budget, groups: groups}
}

// Groups returns the groups' supervisors, in order.
func (h *Host) Groups() []*Supervisor { return slices.Clone(h.groups) }

// Snapshot is the host's status: every group's workers and queues
// together, the host budget as the policy's bounds, the sum of the groups'
// decisions and of their efficiencies, and each group's own status under
// Groups.
func (h *Host) Snapshot() Status {
	st := Status{Queues: map[string]QueueStatus{}, Broker: BrokerStatus{Up: true, EventsUp: true}}
	var reasons []string
	for i, g := range h.groups {
		gs := g.Snapshot()
		if i == 0 {
			st.Policy, st.AppHost, st.Settings, st.Host = gs.Policy, gs.AppHost, gs.Settings, gs.Host
			st.Policy.Min, st.Policy.MinNow = 0, 0
			st.Policy.Max = h.budget.ledgerMax()
			st.Broker.URL = gs.Broker.URL
		}
		if gs.Time.After(st.Time) { // the latest tick of any group
			st.Time = gs.Time
		}
		st.Broker.Up = st.Broker.Up && gs.Broker.Up
		st.Broker.EventsUp = st.Broker.EventsUp && gs.Broker.EventsUp
		if st.Broker.LastGood.IsZero() || gs.Broker.LastGood.Before(st.Broker.LastGood) {
			st.Broker.LastGood = gs.Broker.LastGood
		}
		maps.Copy(st.Queues, gs.Queues)
		st.Policy.Min += gs.Policy.Min
		st.Policy.MinNow += gs.Policy.MinNow
		st.Workers = append(st.Workers, gs.Workers...)
		st.LastDecision.Demand += gs.LastDecision.Demand
		st.LastDecision.Desired += gs.LastDecision.Desired
		st.LastDecision.Unmet += gs.LastDecision.Unmet
		st.Efficiency = st.Efficiency.plus(gs.Efficiency)
		if gs.LastDecision.Reason != "" {
			reasons = append(reasons, gs.LastDecision.Reason)
		}
		st.ShuttingDown = st.ShuttingDown || gs.ShuttingDown
		st.Forecast = addForecast(st.Forecast, gs.Forecast)
		gs.Settings = nil // the host's, above
		st.Groups = append(st.Groups, gs)
	}
	st.LastDecision.Reason = strings.Join(reasons, "; ")
	st.Policy.MaxNow = h.budget.Max(st.Time)
	return st
}

// addForecast adds a group's forecast to the host's sum so far (nil for
// none): the processes summed, ready once every group's is, the longest
// lead, the earliest learning start.
func addForecast(sum, g *ForecastStatus) *ForecastStatus {
	switch {
	case g == nil:
		return sum
	case sum == nil:
		c := *g
		return &c
	}
	sum.Workers += g.Workers
	sum.Ready, sum.Stored, sum.LeadMeasured = sum.Ready && g.Ready, sum.Stored && g.Stored, sum.LeadMeasured && g.LeadMeasured
	sum.LeadSeconds = max(sum.LeadSeconds, g.LeadSeconds)
	if !g.LearningSince.IsZero() && (sum.LearningSince.IsZero() || g.LearningSince.Before(sum.LearningSince)) {
		sum.LearningSince = g.LearningSince
	}
	return sum
}

// Timeline is the host's chart (each step's values summed over the
// groups) and the groups' last decisions, newest first.
func (h *Host) Timeline(now time.Time) ([]Sample, []DecisionEvent) {
	sums := map[time.Time]*Sample{}
	var decisions []DecisionEvent
	for _, g := range h.groups {
		samples, ds := g.Timeline(now)
		for _, s := range samples {
			at := s.At.Truncate(timelineStep)
			if sums[at] == nil {
				sums[at] = &Sample{At: at}
			}
			sums[at].Depth += s.Depth
			sums[at].Workers += s.Workers
			sums[at].Desired += s.Desired
		}
		decisions = append(decisions, ds...)
	}
	samples := make([]Sample, 0, len(sums))
	for _, s := range sums {
		samples = append(samples, *s)
	}
	slices.SortFunc(samples, func(a, b Sample) int { return a.At.Compare(b.At) })
	slices.SortFunc(decisions, func(a, b DecisionEvent) int { return b.At.Compare(a.At) })
	return samples, decisions[:min(len(decisions), timelineDecisions)]
}

// Live is nil while every group's loop ticks.
func (h *Host) Live() error { return h.each((*Supervisor).Live) }

// Ready is nil while every group is ready (its minimum up, among the rest).
func (h *Host) Ready() error { return h.each((*Supervisor).Ready) }

// ShuttingDown marks every group as stopping.
func (h *Host) ShuttingDown() {
	for _, g := range h.groups {
		g.ShuttingDown()
	}
}

// each joins check's errors over the groups, each prefixed by its group.
func (h *Host) each(check func(*Supervisor) error) error {
	var errs []error
	for _, g := range h.groups {
		if err := check(g); err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g.cfg.Group, err))
		}
	}
	return errors.Join(errs...)
}
