package policy

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// decideCelery is Celery's own --autoscale algorithm (celery/worker/autoscale.py
// in 5.2.6, docs/celery-on-redis.md, "Celery's --autoscale algorithm"), applied to worker
// processes for side-by-side
// comparison:
//
//   - qty is what the pool has reserved: Celery prefetches up to
//     Max × prefetch-multiplier messages, so qty = min(demand, Max × multiplier),
//     where demand counts waiting, received and running tasks;
//   - up: when min(qty, Max) exceeds the workers, start the difference at once
//     and remember the time of this scale-up;
//   - down: on the periodic check (every keepalive since start) and, as
//     Celery runs maybe_scale on every task message too, whenever messages
//     are flowing (something waiting or reserved at this decision); only if
//     the last scale-up is more than a keepalive ago, straight down to
//     max(qty, Min) in one step, stopping idle workers, the oldest slot first.
//     It never scales down if it never scaled up.
//
// Unlike Celery it cannot stop a busy worker: a busy one is skipped, where
// Celery's shrink may pick a process with an assigned task (celery#7266).
func decideCelery(obs Observation, now time.Time, p Config) Decision {
	h := obs.History
	d := Decision{Strategy: StrategyCelery, History: History{LastScaleUp: h.LastScaleUp, LastCheck: h.LastCheck}}
	l := tally(obs.Workers)
	d.Current, d.Demand = l.current, l.demand(obs.Waiting)
	mult := max(p.PrefetchMultiplier, 1)
	qty := int(min(d.Demand, int64(p.Max*mult)))
	d.Wanted = qty
	inputs := fmt.Sprintf("qty %d (%d waiting, %d reserved, %d running)", qty, obs.Waiting, l.received, l.running)
	if d.History.LastCheck.IsZero() {
		d.History.LastCheck = now
	}

	if up := min(qty, p.Max); up > d.Current {
		d.Desired = up
		d.History.LastScaleUp = now
		d.Reason = fmt.Sprintf("%s -> %d by celery", inputs, up)
		d.grow(obs.Workers, p.Max)
		return d
	}
	d.Desired = max(d.Current, p.Min)
	d.Reason = fmt.Sprintf("%s -> %d by celery", inputs, d.Desired)
	if d.Desired > d.Current {
		d.grow(obs.Workers, p.Max)
	}
	messages := obs.Waiting > 0 || l.received > 0
	if now.Sub(d.History.LastCheck) >= p.Keepalive {
		d.History.LastCheck = now
	} else if !messages {
		return d
	}
	down := max(qty, p.Min)
	if !obs.BrokerOK || down >= d.Current || d.History.LastScaleUp.IsZero() ||
		now.Sub(d.History.LastScaleUp) <= p.Keepalive {
		return d
	}
	d.Desired = down
	d.Reason = fmt.Sprintf("%s -> %d by celery (keepalive %s since the last scale-up)", inputs, down, p.Keepalive)
	var idle []WorkerView
	for _, w := range obs.Workers {
		if w.Idle() {
			idle = append(idle, w)
		}
	}
	slices.SortFunc(idle, func(a, b WorkerView) int { return cmp.Compare(a.Slot, b.Slot) })
	for _, w := range idle[:min(len(idle), d.Current-down)] {
		d.Stop = append(d.Stop, Stop{Name: w.Name, Reason: StopIdle})
	}
	return d
}
