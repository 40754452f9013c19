package supervisor

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// HostBudget is the host budget the supervisors of several queue groups
// share: each asks for its part at every tick (Grant), with what it holds
// and wants then; the others count with their last report. It keeps the
// host's invariant across groups that tick on their own: a group is never
// granted more room than the host max leaves after what every other group
// holds or may still grow to under its own last grant, so the processes
// alive on the host, stopping ones included, never pass the max. Safe for
// concurrent use.
type HostBudget struct {
	budget policy.Budget
	mu     sync.Mutex
	names  []string
	loads  []policy.GroupLoad
	grants []policy.Allocation
	short  []time.Time // since when each group has been short of its share; zero if it is not
}

// NewHostBudget returns the budget b shared by the named groups; each
// group's minimum and cap are in mins and caps, in the same order. Until a
// group first asks, it counts as holding nothing and asking for its minimum.
func NewHostBudget(b policy.Budget, names []string, mins, caps []int) *HostBudget {
	h := &HostBudget{budget: b, names: slices.Clone(names), short: make([]time.Time, len(names))}
	for i, n := range names {
		h.loads = append(h.loads, policy.GroupLoad{Name: n, Min: mins[i], Max: caps[i], Ask: mins[i], Wanted: mins[i]})
		h.grants = append(h.grants, policy.Allocation{Name: n, Share: mins[i], Limit: mins[i]})
	}
	return h
}

// Max is the host's budget of pool processes.
func (h *HostBudget) Max() int { return h.budget.Max }

// Grant records load as its group's state at now and returns the group's
// allocation; a group the budget does not know gets an error. It fills in
// every group's ShortFor from the allocations it made.
func (h *HostBudget) Grant(load policy.GroupLoad, now time.Time) (policy.Allocation, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := slices.Index(h.names, load.Name)
	if i < 0 {
		return policy.Allocation{}, fmt.Errorf("host budget: no group %q", load.Name)
	}
	h.loads[i] = load
	loads := slices.Clone(h.loads)
	for j := range loads {
		if j != i { // what it may still grow to under its last grant counts too
			loads[j].Held = max(loads[j].Held, h.grants[j].Limit)
		}
		if !h.short[j].IsZero() {
			loads[j].ShortFor = now.Sub(h.short[j])
		}
	}
	all := policy.Allocate(loads, h.budget)
	for j, a := range all {
		switch {
		case !a.Short:
			h.short[j] = time.Time{}
		case h.short[j].IsZero():
			h.short[j] = now
		}
	}
	h.grants[i] = all[i]
	return h.grants[i], nil
}

// Allocations returns every group's last allocation, in the groups' order.
func (h *HostBudget) Allocations() []policy.Allocation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.grants)
}

// GroupStatus is a queue group's part of the host budget, for /status.
type GroupStatus struct {
	Name    string `json:"name"`
	HostMax int    `json:"host_max"`
	Share   int    `json:"share"`  // by time-to-clear, if every process were free
	Limit   int    `json:"limit"`  // the most it may have alive now
	Yield   bool   `json:"yield"`  // idle processes above the limit go now
	Capped  bool   `json:"capped"` // its demand asks for more than its max
	Reason  string `json:"reason"`
}

// budgetMetrics are a group's series about its part of the host budget.
type budgetMetrics struct {
	share, limit, capped, hostMax prometheus.Gauge
}

func newBudgetMetrics(reg prometheus.Registerer) (*budgetMetrics, error) {
	m := &budgetMetrics{
		share:   gauge("revrx_group_share_workers", "The queue group's share of the host budget by time-to-clear (what it would hold if every process were free)."),
		limit:   gauge("revrx_group_limit_workers", "Pool processes the queue group may have alive now, stopping ones included, under the host budget."),
		capped:  gauge("revrx_group_capped", "1 while the queue group's demand asks for more processes than its cap (the cap is being hit), else 0."),
		hostMax: gauge("revrx_host_max_workers", "The host budget of pool processes all queue groups share (--autoscale MAX)."),
	}
	for _, c := range []prometheus.Collector{m.share, m.limit, m.capped, m.hostMax} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register budget metrics: %w", err)
		}
	}
	return m, nil
}

// budgetFor asks the host budget for this group's part, given the
// observation and the decision its own policy would take without it
// (free). Nil outside groups, or if the budget refuses.
func (s *Supervisor) budgetFor(obs policy.Observation, free policy.Decision, workers []Worker, now time.Time) *policy.Allocation {
	if s.cfg.Budget == nil {
		return nil
	}
	lo, hi, _ := s.cfg.Policy.Bounds(now)
	leaving := 0
	for _, w := range obs.Workers {
		if w.Phase == policy.PhaseDraining || w.Phase == policy.PhaseStopping {
			leaving++
		}
	}
	a, err := s.cfg.Budget.Grant(policy.GroupLoad{
		Name: s.cfg.Group, Min: lo, Max: hi, Held: len(obs.Workers), Leaving: leaving,
		Ask: free.Desired, Wanted: free.Wanted, Demand: free.Demand,
		Runtime: max(s.runtime.mean(), longestRunning(workers, now)), OldestWait: obs.OldestWait,
	}, now)
	if err != nil {
		s.log.Error("host budget", "err", err)
		return nil
	}
	if s.bm != nil {
		s.bm.share.Set(float64(a.Share))
		s.bm.limit.Set(float64(a.Limit))
		s.bm.capped.Set(boolFloat(a.Capped))
		s.bm.hostMax.Set(float64(s.cfg.Budget.Max()))
	}
	return &a
}

// longestRunning is how long the longest-running task of the pool's
// processes has run so far: a lower bound of the runtime before the first
// long task has finished.
func longestRunning(workers []Worker, now time.Time) time.Duration {
	var d time.Duration
	for _, w := range workers {
		if p := w.Process; p != nil && p.Phase == ProcessBusy && !p.Since.IsZero() {
			d = max(d, now.Sub(p.Since))
		}
	}
	return d
}

// runtimeMean is a moving mean of the group's task runtimes (each new one
// weighs runtimeWeight), for the host budget's time-to-clear.
type runtimeMean struct{ bits atomic.Uint64 }

const runtimeWeight = 0.2

func (r *runtimeMean) add(seconds float64) {
	for {
		old := r.bits.Load()
		m := math.Float64frombits(old)
		next := seconds
		if old != 0 {
			next = m + runtimeWeight*(seconds-m)
		}
		if r.bits.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

func (r *runtimeMean) mean() time.Duration {
	return time.Duration(math.Float64frombits(r.bits.Load()) * float64(time.Second))
}
