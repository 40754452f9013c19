package simulate

import "time"

// How long forks take. The pool engine's main forks the processes one
// decision asks for at once; they compete for the CPU and come online
// together, SpawnTime + ForkEach per further process after the decision.
// Celery's main (SerialForks) forks one process at a time in its own
// thread: each is online SpawnTime after the previous one is, so a fork
// that a later message asks for waits for the ones still under way.

// fork starts n workers at t and sets when each comes online.
func (s *sim) fork(t time.Duration, n int) {
	if n <= 0 {
		return
	}
	together := t + s.m.SpawnTime + time.Duration(n-1)*s.m.ForkEach
	for range n {
		w := s.add(t)
		switch {
		case s.m.SerialForks:
			s.lastFork = max(s.lastFork, t) + s.m.SpawnTime
			w.onlineAt = s.lastFork
		default:
			w.onlineAt = together
		}
	}
}
