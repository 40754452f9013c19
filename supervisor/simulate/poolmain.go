package simulate

import "time"

// The pool engine's worker main (EnginePool): it fetches from the broker for
// all its processes, up to its prefetch window, and hands each task it holds
// to a free process. The processes reserve nothing themselves.

// window is how many tasks the main may hold, running ones included:
// Multiplier per process neither stopping nor retiring. A starting process counts: the main
// raises its prefetch when it forks.
func (s *sim) window() int {
	n := 0
	for _, w := range s.workers {
		if !w.stopping && !w.retiring {
			n++
		}
	}
	return n * s.m.Multiplier
}

// mainHeld is what the main holds: its reserved tasks plus the running ones.
func (s *sim) mainHeld() int {
	n := len(s.held)
	for _, w := range s.workers {
		n += len(w.running)
	}
	return n
}

// dispatchMain fetches queued tasks, oldest first, while the main holds
// less than its window, then hands the tasks it holds, oldest first, to the
// idle process of the lowest index (revrx_dispatch, the engine's worker
// main: a trickle runs on few processes and the surplus reaches its
// keepalive).
func (s *sim) dispatchMain(t time.Duration) {
	for room := s.window() - s.mainHeld(); room > 0 && s.waiting() > 0; room-- {
		s.held = append(s.held, s.pop())
	}
	for len(s.held) > 0 {
		w := s.lowestIdle()
		if w == nil {
			return
		}
		s.begin(w, s.held[0], t)
		s.held = s.held[1:]
	}
}

// lowestIdle is the process of the lowest slot that takes tasks and runs
// none; nil if all are busy.
func (s *sim) lowestIdle() *worker {
	return s.withRoom(func(a, b *worker) bool { return a.slot < b.slot })
}
