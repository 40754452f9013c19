package supervisor

import "github.com/revrx/revrx-supervise/supervisor/policy"

// holder is what keeps an idle process the demand does not need: the label
// "by" of revrx_held_process_seconds_total.
type holder string

// The holders. The first three are the floors a decision's Strategy names
// when the floor, not the demand, set the desired count.
const (
	heldByMin       = holder(policy.StrategyMin)
	heldBySchedule  = holder(policy.StrategySchedule)
	heldByForecast  = holder(policy.StrategyForecast)
	heldByKeepalive = holder("keepalive")
)

// holders lists every holder, in the order metrics and reports show them:
// the floors first, which are nearer the demand than the keepalive's.
var holders = []holder{heldByMin, heldBySchedule, heldByForecast, heldByKeepalive}

// holding is what keeps one tick's idle processes: how many processes the
// demand needs, and the idle ones held above that, by holder.
type holding struct {
	needed int
	held   map[holder]int // no zero entries
}

// holdingOf splits one tick's idle processes among what keeps them
// although the demand does not need them. Of inService processes
// (starting, idle or busy: leaving ones and those in backoff are not
// counted), needed = ceil(d.Demand / perWorker) serve the demand, and the
// idle ones above needed are held. Those above d.Desired wait out their
// keepalive (held by keepalive); the others are held by d.Strategy when it
// is a floor (min, schedule, forecast) and by nothing it names otherwise
// (a tolerance band, a stabilization window, the wait strategy), so they
// are left out.
func holdingOf(d policy.Decision, perWorker, inService, idle int) holding {
	h := holding{needed: policy.Needed(d, policy.Config{TasksPerWorker: perWorker}), held: map[holder]int{}}
	held := min(idle, max(0, inService-h.needed))
	keepalive := min(held, max(0, inService-d.Desired))
	if keepalive > 0 {
		h.held[heldByKeepalive] = keepalive
	}
	switch by := holder(d.Strategy); by {
	case heldByMin, heldBySchedule, heldByForecast:
		if n := held - keepalive; n > 0 {
			h.held[by] = n
		}
	}
	return h
}

// putToUse returns, by holder, how many of the processes held at prev a
// rise of the demand by cur put to work: the drop of each holder's count,
// all together at most the rise of the needed processes, a floor's
// processes before the keepalive's (they are nearer the demand). A
// process that left while held is not put to use. No zero entries.
func putToUse(prev, cur holding) map[holder]int {
	rise := max(0, cur.needed-prev.needed)
	used := map[holder]int{}
	for _, by := range holders {
		n := min(rise, max(0, prev.held[by]-cur.held[by]))
		if n > 0 {
			used[by] = n
			rise -= n
		}
	}
	return used
}
