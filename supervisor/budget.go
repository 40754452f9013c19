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
// and wants then; the others count with their last report. It is a
// policy.Ledger (which keeps the host's invariant across groups that tick
// on their own: the processes alive on the host, stopping ones included,
// never pass the max) behind a lock. When a group's grant frees room it
// held, or finds it newly short of its share, the other groups' loops are
// woken (Woken) to take the room or give theirs back at once rather than
// at their next poll. Safe for concurrent use.
type HostBudget struct {
	mu       sync.Mutex
	ledger   *policy.Ledger
	names    []string
	reserved []int           // what each group holds or may grow to under its last grant
	short    []bool          // each group was short of its share at its last grant
	wake     []chan struct{} // one per group, capacity 1
}

// NewHostBudget returns the budget b shared by the named groups; each
// group's minimum and cap are in mins and caps, in the same order. Until a
// group first asks, it counts as holding nothing and asking for its minimum.
func NewHostBudget(b policy.Budget, names []string, mins, caps []int) *HostBudget {
	h := &HostBudget{ledger: policy.NewLedger(b, names, mins, caps), names: slices.Clone(names), reserved: slices.Clone(mins),
		short: make([]bool, len(names))}
	for range names {
		h.wake = append(h.wake, make(chan struct{}, 1))
	}
	return h
}

// Woken receives a value when another group's grant freed room of the host
// budget or found that group newly short; nil for a group the budget does
// not know.
func (h *HostBudget) Woken(group string) <-chan struct{} {
	if i := slices.Index(h.names, group); i >= 0 {
		return h.wake[i]
	}
	return nil
}

// Max is the host's budget of pool processes at now (a schedule's max=
// may lower it).
func (h *HostBudget) Max(now time.Time) int { return h.ledger.Budget().At(now).Max }

// ledgerMax is the host's configured budget, before schedules.
func (h *HostBudget) ledgerMax() int { return h.ledger.Budget().Max }

// Grant records load as its group's state at now and returns the group's
// allocation (policy.Ledger.Grant); a group the budget does not know gets
// an error.
func (h *HostBudget) Grant(load policy.GroupLoad, now time.Time) (policy.Allocation, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, err := h.ledger.Grant(load, now)
	if i := slices.Index(h.names, load.Name); err == nil {
		reserved := max(load.Held, a.Limit)
		if reserved < h.reserved[i] || a.Short && !h.short[i] {
			h.wakeOthers(i) // room to take, or a group that needs some
		}
		h.reserved[i], h.short[i] = reserved, a.Short
	}
	return a, err
}

// wakeOthers wakes every group's loop but group i's. h.mu must be held.
func (h *HostBudget) wakeOthers(i int) {
	for j, ch := range h.wake {
		if j == i {
			continue
		}
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Allocations returns every group's last allocation, in the groups' order.
func (h *HostBudget) Allocations() []policy.Allocation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ledger.Allocations()
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
	runtime := max(s.runtime.mean(), longestRunning(workers, now))
	a, err := s.cfg.Budget.Grant(policy.LoadOf(s.cfg.Group, obs, free, lo, hi, runtime), now)
	if err != nil {
		s.log.Error("host budget", "err", err)
		return nil
	}
	if s.bm != nil {
		s.bm.share.Set(float64(a.Share))
		s.bm.limit.Set(float64(a.Limit))
		s.bm.capped.Set(boolFloat(a.Capped))
		s.bm.hostMax.Set(float64(s.cfg.Budget.Max(now)))
	}
	return &a
}

// longestRunning is how long the longest-running task of the pool's
// processes has run so far: a lower bound of the runtime before the first
// long task has finished.
func longestRunning(workers []Worker, now time.Time) time.Duration {
	var d time.Duration
	for _, w := range workers {
		if p := w.Process; p != nil && (p.Phase == ProcessBusy || p.Phase == ProcessRetiring) && !p.Since.IsZero() {
			d = max(d, now.Sub(p.Since))
		}
	}
	return d
}

// runtimeMean is a moving mean of the group's task runtimes
// (policy.NextRuntime), for the host budget's time-to-clear.
type runtimeMean struct{ bits atomic.Uint64 }

func (r *runtimeMean) add(seconds float64) {
	for {
		old := r.bits.Load()
		next := policy.NextRuntime(math.Float64frombits(old), seconds)
		if r.bits.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

func (r *runtimeMean) mean() time.Duration {
	return time.Duration(math.Float64frombits(r.bits.Load()) * float64(time.Second))
}
