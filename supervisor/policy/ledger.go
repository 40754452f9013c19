package policy

import (
	"fmt"
	"slices"
	"time"
)

// Ledger is the book of a host budget that several queue groups share, each
// asking for its part on its own clock (Grant): it keeps every group's last
// load and last allocation. It keeps the host's invariant across groups
// that decide at different instants: a group is never granted more room
// than the host max leaves after what every other group holds or may still
// grow to under its own last grant, so the processes alive on the host,
// leaving ones included, never pass the max. It is pure (no clock, no I/O)
// and not safe for concurrent use: the supervisor's HostBudget locks
// around it, the simulator calls it from one goroutine.
type Ledger struct {
	budget Budget
	loads  []GroupLoad
	grants []Allocation
	short  []time.Time // since when each group has been short of its share; zero if it is not
}

// NewLedger returns the ledger of budget b shared by the named groups; each
// group's minimum and cap are in mins and caps, in the same order. Until a
// group first asks, it counts as holding nothing and asking for its minimum,
// and its last grant is its minimum.
func NewLedger(b Budget, names []string, mins, caps []int) *Ledger {
	l := &Ledger{budget: b, short: make([]time.Time, len(names))}
	for i, n := range names {
		l.loads = append(l.loads, GroupLoad{Name: n, Min: mins[i], Max: caps[i], Ask: mins[i], Wanted: mins[i]})
		l.grants = append(l.grants, Allocation{Name: n, Share: mins[i], Limit: mins[i]})
	}
	return l
}

// Budget is the host budget the ledger shares out.
func (l *Ledger) Budget() Budget { return l.budget }

// Grant records load as its group's state at now and returns the group's
// allocation: Allocate over every group's last load, where each other
// group holds the larger of what it reported and its last grant's Limit,
// and every group's ShortFor is the time since the ledger first saw it
// short of its share (Allocation.Short), without a break. A group the
// ledger does not know gets an error naming it.
func (l *Ledger) Grant(load GroupLoad, now time.Time) (Allocation, error) {
	i := slices.IndexFunc(l.loads, func(g GroupLoad) bool { return g.Name == load.Name })
	if i < 0 {
		return Allocation{}, fmt.Errorf("host budget: no group %q", load.Name)
	}
	l.loads[i] = load
	loads := slices.Clone(l.loads)
	for j := range loads {
		if j != i { // what it may still grow to under its last grant counts too
			loads[j].Held = max(loads[j].Held, l.grants[j].Limit)
		}
		if !l.short[j].IsZero() {
			loads[j].ShortFor = now.Sub(l.short[j])
		}
	}
	all := Allocate(loads, l.budget.At(now))
	for j, a := range all {
		switch {
		case !a.Short:
			l.short[j] = time.Time{}
		case l.short[j].IsZero():
			l.short[j] = now
		}
	}
	l.grants[i] = all[i]
	return l.grants[i], nil
}

// Allocations returns every group's last allocation, in the groups' order.
func (l *Ledger) Allocations() []Allocation { return slices.Clone(l.grants) }

// LoadOf is a group's load as its own loop reports it to the ledger: obs is
// what it sees now, free the decision its own policy takes without the
// budget (Budget nil), lo..hi its bounds now, runtime the moving mean of its
// task runtimes (0 if none yet). Every process it has counts as held; the
// draining and stopping ones as leaving too.
func LoadOf(name string, obs Observation, free Decision, lo, hi int, runtime time.Duration) GroupLoad {
	leaving, running := 0, int64(0)
	for _, w := range obs.Workers {
		if w.Phase.leaving() {
			leaving++
		}
		running += int64(w.Running)
	}
	return GroupLoad{
		Name: name, Min: lo, Max: hi, Held: len(obs.Workers), Leaving: leaving,
		Ask: free.Desired, Wanted: free.Wanted, Backlog: max(free.Demand-running, 0),
		Runtime: runtime, OldestWait: obs.OldestWait,
	}
}

// RuntimeWeight is how much each new task runtime weighs in a group's
// moving mean of runtimes (GroupLoad.Runtime).
const RuntimeWeight = 0.2

// NextRuntime is the moving mean of task runtimes in seconds after one of
// sample seconds, from mean (0: none yet, and the sample is the mean).
func NextRuntime(mean, sample float64) float64 {
	if mean == 0 {
		return sample
	}
	return mean + RuntimeWeight*(sample-mean)
}
