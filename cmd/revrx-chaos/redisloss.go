package main

// The Redis mode's lost tasks, explained from the AOF.

import (
	"fmt"
	"strings"
	"time"
)

// explainLosses explains each lost task from the AOF: a loss is excused
// when the AOF proves it ("proven: ...").
func (m *redisMode) explainLosses(c taskCounts) map[string]lossProof {
	out := map[string]lossProof{}
	for id, text := range m.proveLosses(c) {
		out[id] = lossProof{text: text, excused: strings.HasPrefix(text, "proven")}
	}
	return out
}

// lostWant is the Redis loss expectation.
func (*redisMode) lostWant() string {
	return "0 lost (but a message popped by a worker as it died and never in unacked, proven from the AOF)"
}

// proveLosses says of each lost task what the AOF shows: "proven: ..."
// (popped from the queue as a worker died, never in unacked) or
// "unproven: ...".
func (m *redisMode) proveLosses(c taskCounts) map[string]string {
	r, proof := m.r, map[string]string{}
	if len(c.lost) == 0 {
		return proof
	}
	cmds, err := readAOF(m.redis.Dir)
	if err != nil {
		for _, id := range c.lost {
			proof[id] = "unproven: AOF unreadable: " + err.Error()
		}
		return proof
	}
	ids := map[string]bool{}
	for _, id := range c.lost {
		ids[id] = true
	}
	pub, _ := r.pub.ids()
	deaths := r.deathTimes()
	for id, p := range proveLost(cmds, ids) {
		switch {
		case !p.pushed:
			proof[id] = "unproven: its LPUSH is not in the AOF"
		case !p.popped:
			proof[id] = "unproven: never popped from the queue, yet in no key"
		case p.reachedUnacked:
			proof[id] = "unproven: popped, then written to unacked: the supervisor or kombu should have kept it"
		default:
			lo, hi := p.after, p.before
			if lo.IsZero() {
				lo = pub[id]
			}
			if hi.IsZero() {
				hi = time.Now()
			}
			var death time.Time
			for _, d := range deaths {
				if !d.Before(lo.Add(-time.Second)) && !d.After(hi.Add(time.Second)) {
					death = d
					break
				}
			}
			held := "no SADD to a held set"
			if p.heldSADD {
				held = "its tag added to a held set but never to unacked"
			}
			if death.IsZero() {
				proof[id] = fmt.Sprintf("unproven: popped (AOF command %d, between t=%.1fs and t=%.1fs), never in unacked, %s, but no worker died then", p.popAt, r.since(lo), r.since(hi), held)
			} else {
				proof[id] = fmt.Sprintf("proven: popped (AOF command %d, between t=%.1fs and t=%.1fs), never in unacked, %s; a worker main died at t=%.1fs", p.popAt, r.since(lo), r.since(hi), held, r.since(death))
			}
		}
	}
	return proof
}
