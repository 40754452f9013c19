package main

import (
	"math/rand/v2"
	"slices"
	"time"
)

// faultKind is one kind of injected fault.
type faultKind string

const (
	faultKillMain      faultKind = "SIGKILL worker main"
	faultKillChild     faultKind = "SIGKILL pool child"
	faultBrokerRestart faultKind = "broker restart"
	faultPoisonOnce    faultKind = "malformed messages"
	faultPoisonLoop    faultKind = "crash-looping message"
	faultEventJunk     faultKind = "celeryev garbage"
)

// publishStep is a batch of tasks.sleep messages published together, at
// an offset from the start of the load.
type publishStep struct {
	at        time.Duration
	durations []float64 // one task each, seconds
}

// faultStep is one fault at an offset from the start of the load.
type faultStep struct {
	at   time.Duration
	kind faultKind
	down time.Duration // broker restart: how long the broker stays down (RabbitMQ: before its start begins)
	n    int           // garbage: how many messages
}

// plan is a whole chaos run, drawn from the seed.
type plan struct {
	name         string
	publishes    []publishStep
	faults       []faultStep
	sigtermBurst int           // tasks published before the supervisor's SIGTERM; 0 = no SIGTERM phase
	sigtermAt    time.Duration // offset of that burst
	drainTimeout time.Duration // how long the backlog may take to finish at the end
	deadline     time.Duration // hard limit on the whole run
}

// planner draws a plan's random parts from one seeded generator.
type planner struct {
	rng *rand.Rand
	p   plan
}

// secs turns float seconds into a Duration.
func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// jitter is at ± spread seconds.
func (pl *planner) jitter(at, spread float64) time.Duration {
	return secs(at + (pl.rng.Float64()*2-1)*spread)
}

// duration draws one task's length: mostly short, some up to 2 s.
func (pl *planner) duration() float64 {
	switch r := pl.rng.Float64(); {
	case r < 0.70:
		return 0.05 + pl.rng.Float64()*0.35
	case r < 0.95:
		return 0.4 + pl.rng.Float64()*0.6
	default:
		return 1.0 + pl.rng.Float64()
	}
}

// burst publishes between lo and hi tasks at once, at `at` seconds.
func (pl *planner) burst(at float64, lo, hi int) {
	n := lo + pl.rng.IntN(hi-lo+1)
	d := make([]float64, n)
	for i := range d {
		d[i] = pl.duration()
	}
	pl.p.publishes = append(pl.p.publishes, publishStep{at: secs(at), durations: d})
}

// storm is bursts of lo..hi tasks from `from` to `to` seconds, gapLo..gapHi
// seconds apart.
func (pl *planner) storm(from, to, gapLo, gapHi float64, lo, hi int) {
	for at := from; at < to; at += gapLo + pl.rng.Float64()*(gapHi-gapLo) {
		pl.burst(at, lo, hi)
	}
}

// trickle is one task every `every` seconds from `from` to `to`.
func (pl *planner) trickle(from, to, every float64) {
	for at := from; at < to; at += every {
		pl.burst(at, 1, 1)
	}
}

// fault adds a fault at `at` seconds, jittered by 1.5 s.
func (pl *planner) fault(at float64, kind faultKind) {
	f := faultStep{at: pl.jitter(at, 1.5), kind: kind, n: 12 + pl.rng.IntN(10)}
	if kind == faultBrokerRestart {
		f.down = secs(2 + pl.rng.Float64()*3)
	}
	pl.p.faults = append(pl.p.faults, f)
}

// fullPlan is `make chaos`: about 1,000 tasks over about 2.5 minutes.
func fullPlan(rng *rand.Rand) plan {
	pl := &planner{rng: rng, p: plan{name: "full", drainTimeout: 90 * time.Second, deadline: 10 * time.Minute}}
	pl.storm(0, 20, 2, 4, 25, 45)    // storm: scale up to MAX
	pl.burst(26, 40, 60)             // after a quiet gap: a burst during the scale-down
	pl.storm(34, 64, 2.5, 4, 20, 40) // storm with faults
	pl.trickle(34, 64, 0.8)
	pl.burst(72, 40, 60) // reversal again
	pl.storm(78, 104, 2.5, 4, 20, 35)
	pl.trickle(106, 118, 0.5) // low load around the last kill, then quiet
	for _, at := range []float64{8, 45, 90, 115} {
		pl.fault(at, faultEventJunk)
	}
	pl.fault(12, faultKillMain)
	pl.fault(40, faultKillChild)
	pl.fault(44, faultPoisonOnce)
	pl.fault(48, faultKillMain)
	pl.fault(52, faultPoisonLoop)
	pl.fault(60, faultBrokerRestart)
	pl.fault(82, faultKillMain)
	pl.fault(92, faultBrokerRestart)
	pl.fault(98, faultKillChild)
	pl.fault(112, faultKillMain)
	pl.p.sigtermAt, pl.p.sigtermBurst = pl.jitter(136, 1), 70+rng.IntN(20)
	return pl.p
}

// shortPlan is the -short run (the one make test runs): about 150 tasks
// over about 40 s, three kills, a malformed message and, with the pool
// engine (loop true: its worker main quarantines it at once and carries
// on), a crash-looping one; no Redis restart and no SIGTERM phase, whose
// outcomes depend on races kombu loses (the full run reports them): a Redis
// outage can strand a live worker's messages in unacked (its ack and its
// own restore both fail while Redis is down, and it forgets them), and a
// whole worker dying of the looping message can have a BRPOP in flight
// that pops it again and is never read, so the poison itself vanishes
// instead of being quarantined (TestPoisonMessageIsQuarantined covers that
// engine's quarantine deterministically).
func shortPlan(rng *rand.Rand, loop bool) plan {
	pl := &planner{rng: rng, p: plan{name: "short", drainTimeout: 35 * time.Second, deadline: 4 * time.Minute}}
	pl.storm(0, 12, 2, 3, 12, 20)
	pl.burst(17, 15, 25)
	pl.trickle(21, 29, 0.4)
	pl.burst(25, 15, 20)
	pl.fault(5, faultKillMain)
	pl.fault(9, faultKillChild)
	pl.fault(10, faultEventJunk)
	pl.fault(23, faultPoisonOnce)
	pl.fault(27, faultKillMain)
	if loop {
		pl.fault(16, faultPoisonLoop)
	}
	return pl.p
}

// tasks is how many tasks the plan publishes in all.
func (p plan) tasks() int {
	n := p.sigtermBurst
	for _, s := range p.publishes {
		n += len(s.durations)
	}
	return n
}

// without is the plan's faults but those of the kinds given.
func (p plan) without(kinds ...faultKind) []faultStep {
	var out []faultStep
	for _, f := range p.faults {
		if !slices.Contains(kinds, f.kind) {
			out = append(out, f)
		}
	}
	return out
}
