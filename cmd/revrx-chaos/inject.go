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
	case faultPoisonOnce:
		msgs := malformed
		if r.p.name == "short" {
			i := r.rng.IntN(len(malformed))
			msgs = malformed[i : i+1]
		}
		if err := r.pushPoison(msgs); err != nil {
			r.logf("malformed messages: %v", err)
			return nil
		}
		r.recordPush(ctx, f.kind, msgs, make([]string, len(msgs)))
		r.logf("pushed %d malformed message(s) (%s)", len(msgs), r.poisonFate())
	case faultPoisonLoop:
		m := loopingPoison(r.rng)
		raw := m.encode()
		if err := r.pushPoison([]string{raw}); err != nil {
			r.logf("crash-looping message: %v", err)
			return nil
		}
		r.mu.Lock()
		r.poison = append(r.poison, m.ID)
		r.mu.Unlock()
		r.recordPush(ctx, f.kind, []string{raw}, []string{m.ID})
		r.logf("pushed crash-looping message %s (%s)", m.ID, r.poisonFate())
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
