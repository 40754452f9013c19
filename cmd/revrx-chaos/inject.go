package main

import (
	"context"
	"fmt"
)

// inject carries out one fault. Only a failure of the harness itself (a
// broker that does not come back) is an error.
func (r *run) inject(ctx context.Context, f faultStep) error {
	switch f.kind {
	case faultKillMain, faultKillChild:
		r.killWorker(ctx, f.kind)
	case faultBrokerRestart:
		r.logf("%s restart: %s, down %.1fs", r.cfg.broker, r.b.stopWhat(), f.down.Seconds())
		res := r.restartBroker(ctx, f.down)
		r.mu.Lock()
		r.restarts = append(r.restarts, res)
		r.mu.Unlock()
		if res.err != nil {
			return fmt.Errorf("%s restart: %w", r.cfg.broker, res.err)
		}
		r.logf("supervisor: broker_up 0 after %s, back to 1 %s after %s was up", dur(res.sawZero), dur(res.recovered), r.brokerName())
	case faultPoisonOnce, faultPoisonLoop:
		r.injectPoison(ctx, f.kind)
	case faultEventJunk:
		if err := r.publishJunk(ctx, f.n); err != nil {
			r.logf("celeryev garbage: %v", err)
			return nil
		}
		r.logf("published %d garbage messages on the celeryev %s", f.n, r.b.eventsWhere())
	}
	return nil
}

// poisonFate is what the engine does with a poison message.
func (r *run) poisonFate() string {
	if r.cfg.poolEngine() {
		return "the worker main moves each to " + quarantineKey + " as it pops it, and carries on"
	}
	return "each crashes the worker that takes it"
}

// injectPoison pushes malformed messages (all of them; one at random in
// the short run) or a crash-looping one onto the chaos queue, the mode's
// way, and watches them reach the quarantine.
func (r *run) injectPoison(ctx context.Context, kind faultKind) {
	r.gate.RLock()
	raw, ids, err := r.b.pushPoison(kind, r.p.name == "short")
	r.gate.RUnlock()
	if err != nil {
		r.logf("%s: %v", kind, err)
		return
	}
	if kind == faultPoisonLoop {
		r.mu.Lock()
		r.poison = append(r.poison, ids...)
		r.mu.Unlock()
	}
	r.recordPush(ctx, kind, raw, ids)
	r.logf("pushed %d %s (%s)", len(raw), kind, r.poisonFate())
}
