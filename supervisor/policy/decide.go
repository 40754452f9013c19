package policy

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// proposal is one strategy's count of workers, with its name.
type proposal struct {
	count    int
	strategy Strategy
}

// Decide computes the desired number of workers and the actions that move the
// pool towards it. It is pure: no I/O and no clock reads, now is given.
//
// Each active strategy proposes a count and the largest wins (as HPA combines
// metrics); then the resource guard, the bounds (MIN raised or lowered by a
// schedule) and the HPA behavior apply. Up is immediate unless the behavior
// limits it. Down only stops workers that are idle, each idle for at least
// the keepalive, never a busy or starting one, and never while the broker
// reading is stale; under memory pressure idle workers are shed early.
func Decide(obs Observation, now time.Time, p Config) Decision {
	if p.Algorithm == AlgorithmCelery {
		return decideCelery(obs, now, p)
	}
	d := Decision{History: obs.History.prune(now, p.Behavior)}
	l := tally(obs.Workers)
	l.received += obs.Reserved
	d.Current, d.Demand = l.current, l.demand(obs.Waiting)
	floor, hi, sched := p.Bounds(now)
	hi, budget := budgetBound(obs, l, hi)
	lo := min(floor, hi)
	best := propose(obs, d.Demand, d.Current, lo, sched, p)
	d.Wanted, d.Strategy = best.count, best.strategy
	d.Desired = d.limit(min(max(d.Wanted, lo), hi), lo, hi, obs.Host, now, p)
	d.explain(obs, l, lo, hi)
	if budget && d.Wanted > hi {
		d.Reason += fmt.Sprintf(" (host budget: %d alive allowed)", obs.Budget.Limit)
	}
	d.Reason += forecastNote(obs.Forecast, d, hi, budget)
	d.trackSurplus(now)
	d.move(obs, now, p, floor)
	d.History.record(now, len(d.Reclaim)+d.Start-len(d.Stop)-d.Retire)
	return d
}

// budgetBound lowers hi to what the host budget's limit leaves for
// workers that count towards the desired count, and reports whether it did.
func budgetBound(obs Observation, l load, hi int) (int, bool) {
	if obs.Budget == nil {
		return hi, false
	}
	leaving := len(obs.Workers) - l.current
	if room := max(obs.Budget.Limit-leaving, 0); room < hi {
		return room, true
	}
	return hi, false
}

// load is what the workers hold, as Decide counts it.
type load struct {
	received int // tasks received (prefetched) and not started
	running  int // tasks running
	current  int // workers that count towards the desired count (all but leaving ones)
}

// tally sums the tasks the workers hold and counts the ones not leaving.
func tally(workers []WorkerView) load {
	var l load
	for _, w := range workers {
		l.received += w.Received
		l.running += w.Running
		if !w.Phase.leaving() {
			l.current++
		}
	}
	return l
}

// demand is the work the pool is asked for: the waiting messages plus the
// tasks the workers hold.
func (l load) demand(waiting int64) int64 {
	return waiting + int64(l.received) + int64(l.running)
}

// propose returns the largest count the strategies propose: the lower bound
// lo in force (by StrategySchedule when a schedule set it, sched being its
// spec, else by StrategyMin), the queue depth, the queue wait, the learned
// forecast. On a tie the earlier one in that order wins.
func propose(obs Observation, demand int64, current, lo int, sched string, p Config) proposal {
	best := proposal{count: lo, strategy: StrategyMin}
	if sched != "" {
		best.strategy = StrategySchedule
	}
	for _, c := range []proposal{
		{queueProposal(demand, current, p), StrategyQueue},
		{waitProposal(obs.OldestWait, obs.Waiting, current, p), StrategyWait},
		{obs.Forecast, StrategyForecast},
	} {
		if c.count > best.count {
			best = c
		}
	}
	return best
}

// limit applies the host guard and then the HPA behavior to target (the
// wanted count within the bounds lo..hi) and returns the desired count. A
// scale-up the guard forbids holds at d.Current; with a behavior, its result
// is clamped to lo..hi again. It sets d.Blocked when the guard forbids a
// scale-up or, failing that, when the behavior cuts one, and records the
// behavior's recommendation in d.History.
func (d *Decision) limit(target, lo, hi int, host HostUsage, now time.Time, p Config) int {
	if target > d.Current {
		if why := p.Guard.blocksUp(host); why != "" {
			target, d.Blocked = d.Current, why
		}
	}
	if p.Behavior == nil {
		return target
	}
	limited := p.Behavior.apply(target, d.Current, now, &d.History)
	if limited != target && target > d.Current && d.Blocked == "" {
		d.Blocked = BlockedBehavior
	}
	return min(max(limited, lo), hi)
}

// explain sets d.Reason from the inputs (waiting, reserved and running
// tasks, the oldest wait, the learned forecast), the desired count and its strategy, the bound
// that clamped it and a blocked scale-up. d.Desired, d.Strategy and
// d.Blocked must be final; the actions append to the reason afterwards.
func (d *Decision) explain(obs Observation, l load, lo, hi int) {
	inputs := fmt.Sprintf("%d waiting, %d reserved, %d running", obs.Waiting, l.received, l.running)
	if obs.OldestWait > 0 {
		inputs += fmt.Sprintf(", oldest waiting %s", obs.OldestWait.Round(100*time.Millisecond))
	}
	if obs.Forecast > 0 {
		inputs += fmt.Sprintf(", forecast %d", obs.Forecast)
	}
	d.Reason = fmt.Sprintf("%s -> %d by %s%s", inputs, d.Desired, d.Strategy, boundNote(*d, lo, hi))
	if d.Blocked != "" {
		d.Reason += fmt.Sprintf(" (scale-up blocked: %s)", d.Blocked)
	}
}

// forecastNote says when the learned forecast asks for more than the
// decision gives, and what clipped it: the upper bound in force (MAX, a
// schedule's max= or the host budget) or a blocked scale-up (the guard, the
// behavior), or the host budget when budget says it lowered hi.
func forecastNote(forecast int, d Decision, hi int, budget bool) string {
	if forecast <= d.Desired {
		return ""
	}
	switch {
	case forecast > hi && budget:
		return fmt.Sprintf(" (forecast %d clipped to %d by the host budget)", forecast, d.Desired)
	case forecast > hi:
		return fmt.Sprintf(" (forecast %d clipped to %d by max %d)", forecast, d.Desired, hi)
	case d.Blocked != "":
		return fmt.Sprintf(" (forecast %d clipped to %d: scale-up blocked: %s)", forecast, d.Desired, d.Blocked)
	}
	return fmt.Sprintf(" (forecast %d clipped to %d)", forecast, d.Desired)
}

// trackSurplus keeps d.History.SurplusSince: zero while d.Desired is at
// least d.Current, else the instant the pool first went above it.
func (d *Decision) trackSurplus(now time.Time) {
	if d.Desired >= d.Current {
		d.History.SurplusSince = time.Time{}
	} else if d.History.SurplusSince.IsZero() {
		d.History.SurplusSince = now
	}
}

// move sets the actions that bring the pool towards d.Desired: take back and
// start workers when it is below (grow); nothing while the broker reading is
// stale (the reason says so when a scale-down waits for it); else stop the
// workers stopIdle picks and, when the group yields, retire busy ones
// (retireBusy) down to floor (the minimum before the host budget) at least.
func (d *Decision) move(obs Observation, now time.Time, p Config, floor int) {
	switch {
	case d.Desired > d.Current:
		maxProcs := p.Max
		if obs.Budget != nil {
			maxProcs = min(maxProcs, obs.Budget.Limit)
		}
		d.grow(obs.Workers, maxProcs)
	case !obs.BrokerOK:
		if d.Desired < d.Current {
			d.Reason += fmt.Sprintf(", holding %d: broker reading is stale", d.Current)
		}
	default:
		d.stopIdle(obs, now, p)
		d.retireBusy(obs, floor)
	}
}

// retireBusy sets d.Retire when the group may retire (Budget.Retire) and its
// processes that count, less the idle ones stopped now, are still above
// both d.Desired (its demand within the limit) and floor (its minimum):
// that many busy ones are retired, at most as many as are busy. Never
// without Yield: a busy process is otherwise left alone.
func (d *Decision) retireBusy(obs Observation, floor int) {
	if obs.Budget == nil || !obs.Budget.Retire {
		return
	}
	busy := 0
	for _, w := range obs.Workers {
		if w.Phase == PhaseBusy {
			busy++
		}
	}
	over := d.Current - len(d.Stop) - max(d.Desired, floor, 0)
	if d.Retire = min(over, busy); d.Retire <= 0 {
		d.Retire = 0
		return
	}
	d.Reason += fmt.Sprintf(", retiring %d busy after their current task (another group waits)", d.Retire)
}

// stopIdle sets d.Stop to the idle workers to stop (see stops) given how
// long the surplus has lasted. Once some are stopped the surplus timer
// restarts at now for what remains of it, if anything does.
func (d *Decision) stopIdle(obs Observation, now time.Time, p Config) {
	surplusFor := time.Duration(0)
	if !d.History.SurplusSince.IsZero() {
		surplusFor = now.Sub(d.History.SurplusSince)
	}
	d.Stop = stops(obs, now, p, d.Current-max(d.Desired, 0), surplusFor)
	if len(d.Stop) > 0 {
		// The surplus was acted on: what remains of it waits again.
		d.History.SurplusSince = time.Time{}
		if d.Current-len(d.Stop) > d.Desired {
			d.History.SurplusSince = now
		}
	}
}

// grow moves the pool up to Desired without ever exceeding max worker
// processes: it takes back draining workers first (the lowest slots), then
// starts new ones only in the room that the workers still alive, leaving
// ones included, leave under max. What the room cannot hold waits for the
// leaving workers to exit (Blocked "stopping").
func (d *Decision) grow(workers []WorkerView, maxProcs int) {
	need := d.Desired - d.Current
	var draining []WorkerView
	for _, w := range workers {
		if w.Phase == PhaseDraining {
			draining = append(draining, w)
		}
	}
	slices.SortFunc(draining, func(a, b WorkerView) int { return cmp.Compare(a.Slot, b.Slot) })
	for _, w := range draining[:min(need, len(draining))] {
		d.Reclaim = append(d.Reclaim, w.Name)
	}
	need -= len(d.Reclaim)
	room := max(maxProcs-len(workers), 0)
	d.Start = min(need, room)
	if held := need - d.Start; held > 0 {
		if d.Blocked == "" {
			d.Blocked = BlockedStopping
		}
		d.Reason += fmt.Sprintf(", %d held: %d leaving workers still count against max %d", held, len(workers)-d.Current, maxProcs)
	}
	if len(d.Reclaim) > 0 {
		d.Reason += fmt.Sprintf(", taking back %d draining", len(d.Reclaim))
	}
}

// queueProposal is demand over tasks-per-worker, rounded up, held at the
// current count while the ratio stays within the tolerance band.
func queueProposal(demand int64, current int, p Config) int {
	want := int((demand + int64(p.TasksPerWorker) - 1) / int64(p.TasksPerWorker))
	if p.Tolerance > 0 && current > 0 {
		ratio := float64(demand) / float64(current*p.TasksPerWorker)
		if ratio >= 1-p.Tolerance && ratio <= 1+p.Tolerance {
			return current
		}
	}
	return want
}

// boundNote names the limit that clamped the decision, if any.
func boundNote(d Decision, lo, hi int) string {
	switch {
	case d.Wanted > hi:
		return fmt.Sprintf(" (max %d)", hi)
	case d.Wanted < lo:
		return fmt.Sprintf(" (min %d)", lo)
	}
	return ""
}

// stops picks the workers to warm-stop: workers over their memory limit once
// idle (they are replaced on the next decision), then, up to excess, idle
// workers that have been idle for the keepalive, or any idle worker once the
// surplus itself has lasted the keepalive (surplusFor), or under memory
// pressure. The second rule matters under a trickle: the broker hands tasks
// to idle workers in turn, so each one's idle time keeps restarting while
// the pool as a whole stays far above what the demand needs.
func stops(obs Observation, now time.Time, p Config, excess int, surplusFor time.Duration) []Stop {
	workers, host := obs.Workers, obs.Host
	var out []Stop
	stopping := map[string]bool{}
	for _, w := range workers {
		if w.Idle() && p.Guard.MaxWorkerMemory > 0 && w.Memory > p.Guard.MaxWorkerMemory {
			out = append(out, Stop{Name: w.Name, Reason: StopWorkerMemory})
			stopping[w.Name] = true
		}
	}
	excess -= len(out)
	if excess <= 0 {
		return out
	}
	keepalive, reason := p.Keepalive, StopIdle
	switch {
	case p.Guard.underPressure(host):
		keepalive, reason = 0, StopMemoryPressure
	case obs.Budget != nil && obs.Budget.Yield:
		keepalive, reason = 0, StopRebalance
	case surplusFor >= p.Keepalive:
		keepalive = 0
	}
	var idle []WorkerView
	for _, w := range workers {
		if w.Idle() && !stopping[w.Name] && !w.IdleSince.IsZero() && now.Sub(w.IdleSince) >= keepalive {
			idle = append(idle, w)
		}
	}
	slices.SortFunc(idle, func(a, b WorkerView) int {
		if c := a.IdleSince.Compare(b.IdleSince); c != 0 {
			return c
		}
		return cmp.Compare(b.Slot, a.Slot)
	})
	for _, w := range idle[:min(excess, len(idle))] {
		out = append(out, Stop{Name: w.Name, Reason: reason})
	}
	return out
}
