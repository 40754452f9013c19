package main

// The RabbitMQ mode's rows and expectations. The Redis mode's own
// evidence has no counterpart here and is dropped: the AOF (RabbitMQ
// keeps no log of what it delivered, and needs none: it requeues a dead
// consumer's messages itself, so no loss is excused), the held sets and
// the unacked hash (no restore by the supervisor: the requeue is
// rabbitrequeue.go's expectation), put-backs of a message a live worker
// had taken again (the broker never requeues a live consumer's
// delivery). The stock pool_shrink storm is Celery's own loss whatever
// the broker, shown by the Redis run.

import (
	"fmt"
	"strings"
)

// noPoison says why the poison faults are left out on RabbitMQ with the
// whole-worker engine.
const noPoison = "left out on RabbitMQ with the whole-worker engine: plain Celery workers ack or reject a malformed message there (no quarantine), and the supervisor has no restorer on RabbitMQ to quarantine a crash-looping one after deaths"

// explainLosses: nothing excuses a loss on RabbitMQ.
func (m *rabbitMode) explainLosses(c taskCounts) map[string]lossProof {
	pub, _ := m.r.pub.ids()
	out := map[string]lossProof{}
	for _, id := range c.lost {
		out[id] = lossProof{text: fmt.Sprintf("published at t=%.1fs (the broker confirmed it), never started, in no queue at the end", m.r.since(pub[id]))}
	}
	return out
}

func (*rabbitMode) lostWant() string { return "0 lost" }

// rows are the garbage on celeryev, the queues at the end, and the
// quarantines (or why the poison faults were left out).
func (m *rabbitMode) rows(t *table) {
	r := m.r
	undecoded := r.metricText("revrx_events_undecoded_total")
	t.add("celeryev garbage", "%d published (confirmed) on the celeryev topic exchange; revrx_events_undecoded_total %s", r.junk, undecoded)
	var qs []string
	for _, q := range m.final {
		qs = append(qs, q.String())
	}
	t.add("queues at the end", "%s (rabbitmqctl list_queues, after the last supervisor's stop)", strings.Join(qs, "; "))
	if m.poisonFaults() {
		r.quarantineRows(t)
	} else {
		t.add("malformed/crash-looping messages", "%s", noPoison)
	}
	if !r.cfg.short {
		t.add("stock pool_shrink storm", "not run on RabbitMQ (Celery's own loss under pool_shrink, whatever the broker: the Redis run shows it)")
	}
}

// verdicts: the garbage counted, the poison quarantined once each (the
// pool engine), no worker crash, each restart seen and recovered from by
// the supervisor and the workers, nothing left in any queue.
func (m *rabbitMode) verdicts(lo leftovers) []verdict {
	r := m.r
	var vs []verdict
	if r.junk > 0 {
		u, _ := r.metricSum("revrx_events_undecoded_total")
		vs = append(vs, verdict{fmt.Sprintf("celeryev garbage counted in revrx_events_undecoded_total (%d)", r.junk),
			fmt.Sprintf("%g counted", u), u == float64(r.junk)})
	}
	if m.poisonFaults() {
		vs = append(vs, m.quarantineVerdicts(lo)...)
	}
	vs = append(vs, r.noCrashVerdict())
	if v, ok := m.restartVerdict(); ok {
		vs = append(vs, v)
	}
	left := fmt.Sprintf("%d ready in %s, %d unacked in all queues", lo.queued, chaosQueue, lo.unacked)
	if len(lo.others) > 0 {
		left += "; " + strings.Join(lo.others, "; ")
	}
	return append(vs, verdict{"nothing left ready or unacked in any queue (rabbitmqctl)", left,
		lo.queued == 0 && lo.unacked == 0 && len(lo.others) == 0})
}

// restartVerdict: at each restart the supervisor reported the failed
// reads (revrx_broker_up 0, revrx_broker_errors_total up) and read the
// broker again, and the workers consumed again (ok false: no restart).
func (m *rabbitMode) restartVerdict() (verdict, bool) {
	r := m.r
	if len(r.restarts) == 0 {
		return verdict{}, false
	}
	var got []string
	ok := true
	for i, res := range r.restarts {
		good := res.sawZero >= 0 && res.errors > 0 && res.recovered >= 0 && res.consumers >= 0
		ok = ok && good
		got = append(got, fmt.Sprintf("#%d: broker_up 0 after %s, %g errors, broker_up 1 %s and workers consuming %s after it answered",
			i+1, dur(res.sawZero), res.errors, dur(res.recovered), dur(res.consumers)))
	}
	return verdict{"each broker restart: failed reads reported (broker_up 0, errors counted), the supervisor and the workers back",
		strings.Join(got, "; "), ok}, true
}
