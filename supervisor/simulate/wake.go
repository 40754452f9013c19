package simulate

import "time"

// wake is the supervisor's queue watch (supervisor/watch.go) on the virtual
// clock. A broker change (a task pushed or popped) brings a decision once it
// has settled and at least gap after the previous decision. A decision of
// any cause covers a change held for later; a change that arrives while one
// is held waits, as the notification does in its channel, and is held from
// the next decision on. Off while settle is 0.
type wake struct {
	settle, gap time.Duration
	held        bool          // a decision is due at at
	at          time.Duration // valid while held
	pending     bool          // a change arrived while one was held
	last        time.Duration // the last decision
}

// change records a broker change at t.
func (w *wake) change(t time.Duration) {
	switch {
	case w.settle <= 0:
	case w.held:
		w.pending = true
	default:
		w.held, w.at = true, t+max(w.settle, w.gap-(t-w.last))
	}
}

// due reports whether a change brings a decision at t.
func (w *wake) due(t time.Duration) bool { return w.held && w.at == t }

// decided records a decision at t, whatever brought it.
func (w *wake) decided(t time.Duration) {
	w.last, w.held = t, false
	if w.pending {
		w.pending = false
		w.change(t)
	}
}
