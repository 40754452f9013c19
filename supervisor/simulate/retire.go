package simulate

import (
	"cmp"
	"slices"
	"time"
)

// Retiring busy processes (the pool engine with queue groups): a retiring
// process takes no new task, finishes the one it runs, and is stopped by its
// main once it is idle; a decision can take it back (Decision.Reclaim)
// before that. Its main's prefetch counts only the processes not retiring,
// and the policy sees it as draining: against the host budget, not towards
// its group's desired count, its task no demand.

// retire marks n busy processes retiring, those whose task started most
// recently first (as the extension does: revrx_retire.py), and returns
// how many it marked.
func (s *sim) retire(n int) int {
	var busy []*worker
	for _, w := range s.workers {
		if w.accepting() && !w.retiring && len(w.running) > 0 {
			busy = append(busy, w)
		}
	}
	slices.SortFunc(busy, func(a, b *worker) int {
		if c := cmp.Compare(s.lastStart(b), s.lastStart(a)); c != 0 {
			return c
		}
		return cmp.Compare(b.slot, a.slot)
	})
	busy = busy[:min(n, len(busy))]
	for _, w := range busy {
		w.retiring = true
	}
	return len(busy)
}

// lastStart is when w's most recent task started.
func (s *sim) lastStart(w *worker) time.Duration {
	var t time.Duration
	for _, i := range w.running {
		t = max(t, s.tasks[i].start)
	}
	return t
}

// reclaim takes the named retiring processes back and returns how many.
func (s *sim) reclaim(names []string) int {
	n := 0
	for _, w := range s.workers {
		if w.retiring && slices.Contains(names, w.name) {
			w.retiring = false
			n++
		}
	}
	return n
}

// settleRetiring stops, at t, every retiring process that has become idle.
func (s *sim) settleRetiring(t time.Duration) {
	for _, w := range s.workers {
		if w.retiring && w.tasks() == 0 {
			w.retiring, w.stopping, w.goneAt = false, true, t+s.m.StopTime
		}
	}
}
