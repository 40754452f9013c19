package policy

import (
	"fmt"
	"time"
)

// GroupLoad is one queue group as Allocate sees it at one instant: its
// range, the processes it holds and what its own Decide asks for.
type GroupLoad struct {
	Name     string
	Min, Max int // the group's guaranteed minimum and its cap (at most the host's max)
	// Held is the processes that count against the host budget for this
	// group: alive ones, leaving ones included (for another group than the
	// one asking, what it may still grow to under its last grant).
	Held    int
	Leaving int // of Held, the processes on their way out
	// Ask is what the group's own Decide wants within Min..Max; Wanted is
	// the same before its cap (Wanted > Max: the cap is being hit).
	Ask, Wanted int
	Backlog     int64         // tasks no process runs yet: waiting in the broker or reserved by its main
	Runtime     time.Duration // mean task runtime measured; 0 if none yet
	OldestWait  time.Duration // the oldest message's wait in its queues
	// ShortFor is how long the group has been short of its share (below
	// it by Allocation.Short), so far: its tasks wait, in the broker or
	// reserved in its worker main, where OldestWait cannot see them.
	ShortFor time.Duration
}

// current is the group's processes that count towards its desired count.
func (g GroupLoad) current() int { return g.Held - g.Leaving }

// Budget is the host budget the groups share.
type Budget struct {
	Max int // pool processes on the host, leaving ones included, at every instant
	// RebalanceAfter is how long a group short of its share must have
	// waited (its oldest message, or its time short) before other groups
	// give up their idle processes above their shares at once rather than
	// after their keepalive. A group below its minimum never waits for it.
	RebalanceAfter time.Duration
	// Schedules are the host's time-of-day bounds (no Group): a max= in
	// force lowers Max; Location is their time zone (nil: local).
	Schedules []Schedule
	Location  *time.Location
}

// At is the budget in force at now: Max lowered by a schedule's max= that
// applies then.
func (b Budget) At(now time.Time) Budget {
	if len(b.Schedules) > 0 {
		_, b.Max, _ = Config{Max: b.Max, Schedules: b.Schedules, Location: b.Location}.Bounds(now)
	}
	return b
}

// Allocation is one group's part of the host budget at one instant.
type Allocation struct {
	Name string
	// Share is what the group would hold if every process were free: its
	// minimum, plus the spare capacity it wins by time-to-clear, never
	// above its ask or its cap.
	Share int
	// Limit caps the processes the group may have alive now, leaving ones
	// included: at most what the other groups leave free of the host max,
	// and its share (or what it holds, if more, while no other group is
	// short), plus its leaving ones.
	Limit int
	// Yield: another group is short, the host has no free room for it,
	// and it has waited past RebalanceAfter (or is below its minimum): idle
	// processes above Limit go now, not after their keepalive. Busy ones
	// are never stopped.
	Yield bool
	Short bool // it holds fewer processes than its share
	// Retire: with Yield, busy processes above Limit may be retired (take
	// no new task, stop once their task ends), because a short group's
	// backlog would take longer to clear on what it holds than this
	// group's tasks take to run: a retired process frees its slot in time
	// to help. Else only idle processes move.
	Retire bool
	Capped bool   // its demand asks for more than its cap
	Reason string // one line naming the group and what set Limit
}

// Allocate splits the host budget between the groups (see Share, Limit
// and Yield). It is pure. Each group's minimum is guaranteed first; the
// rest goes, one process at a time, to the group whose backlog would take
// longest to clear per process (tasks not yet running x mean runtime /
// share: where waiting is worst), up to its ask, which covers its running
// tasks too; a group whose runtime is not known yet counts the mean of the
// known ones (one second if none is). Processes never move by force: a group
// above its share gives back only idle ones, which Decide picks.
func Allocate(groups []GroupLoad, b Budget) []Allocation {
	work := workByGroup(groups)
	shares := shareOut(groups, work, b.Max)
	out := make([]Allocation, len(groups))
	for i, g := range groups {
		out[i] = allocation(groups, work, shares, i, b)
		out[i].Capped = g.Wanted > g.Max
		out[i].Short = g.current() < shares[i]
	}
	return out
}

// allocation is group i's Limit, Yield, Retire and Reason given every group's work and share.
func allocation(groups []GroupLoad, work []float64, shares []int, i int, b Budget) Allocation {
	g := groups[i]
	a := Allocation{Name: g.Name, Share: shares[i]}
	free := b.Max
	short, urgent, deficit, slow := "", false, 0, false
	for j, o := range groups {
		if j == i {
			continue
		}
		free -= o.Held
		if o.current() < shares[j] {
			short, deficit = o.Name, deficit+shares[j]-o.current()
			urgent = urgent || o.current() < o.Min || max(o.OldestWait, o.ShortFor) >= b.RebalanceAfter
			clear := time.Duration(work[j] / float64(max(o.current(), 1)) * float64(time.Second))
			slow = slow || o.current() < o.Min || clear > g.Runtime
		}
	}
	// Only when the host has no room left for them: else they grow into it.
	urgent = urgent && deficit > free-g.Held
	free = max(free, 0)
	switch {
	case short == "":
		// No more than it asks for (or holds): room it reserved and did
		// not use would hold back a group that asks next, until its own
		// next tick gave it back.
		a.Limit = min(free, max(a.Share, g.current())+g.Leaving)
		a.Reason = fmt.Sprintf("group %s: share %d of %d, limit %d (%d free)", g.Name, a.Share, b.Max, a.Limit, free)
	default:
		a.Limit = min(free, a.Share+g.Leaving)
		a.Yield = urgent && g.current() > a.Share
		a.Retire = a.Yield && slow
		a.Reason = fmt.Sprintf("group %s: share %d of %d, held at %d while group %s is short", g.Name, a.Share, b.Max, a.Limit, short)
		if a.Yield {
			a.Reason += ": idle processes above the share go now"
		}
	}
	return a
}

// shareOut gives each group its minimum, then the rest of max one process
// at a time to the group with the most work per process, up to its ask.
func shareOut(groups []GroupLoad, work []float64, maxProcs int) []int {
	shares := make([]int, len(groups))
	left := maxProcs
	for i, g := range groups {
		shares[i] = g.Min
		left -= g.Min
	}
	for ; left > 0; left-- {
		best := -1
		for i, g := range groups {
			if shares[i] >= min(max(g.Ask, g.Min), g.Max) {
				continue
			}
			if best < 0 || before(work[i], shares[i], groups[i], work[best], shares[best], groups[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		shares[best]++
	}
	return shares
}

// before reports whether a group with work wa and share sa (load ga) should
// get the next process before one with wb, sb (gb): more work per process
// first (no process at all first of all), then the longer oldest wait; the
// earlier group on a tie.
func before(wa float64, sa int, ga GroupLoad, wb float64, sb int, gb GroupLoad) bool {
	switch {
	case sa == 0 && sb == 0:
		if wa != wb {
			return wa > wb
		}
	case sa == 0 || sb == 0:
		return sa == 0
	default:
		// wa/sa > wb/sb without division
		if l, r := wa*float64(sb), wb*float64(sa); l != r {
			return l > r
		}
	}
	return ga.OldestWait > gb.OldestWait
}

// workByGroup is each group's backlog times its mean runtime in seconds; an
// unknown runtime counts the mean of the known ones, or one second.
func workByGroup(groups []GroupLoad) []float64 {
	var sum time.Duration
	known := 0
	for _, g := range groups {
		if g.Runtime > 0 {
			sum += g.Runtime
			known++
		}
	}
	fallback := time.Second
	if known > 0 {
		fallback = sum / time.Duration(known)
	}
	work := make([]float64, len(groups))
	for i, g := range groups {
		rt := g.Runtime
		if rt <= 0 {
			rt = fallback
		}
		work[i] = float64(g.Backlog) * rt.Seconds()
	}
	return work
}
