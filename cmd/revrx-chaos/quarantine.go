package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// poisonPush is one push of malformed or crash-looping messages onto the
// queue. The pool engine's worker main quarantines each itself, as the raw
// bytes it popped, and carries on (pool/ext revrx_intake.py guarded_read):
// the mode's watchPoison fills in when. (A whole worker crashes on them instead:
// crashloop.go.)
type poisonPush struct {
	kind faultKind
	at   time.Time
	raw  []string
	ids  []string // task ids of the well-formed ones ("" for garbage)
	main int      // the live worker main at the push (0: none seen)

	// Set by the mode's watchPoison: how many of raw were in the quarantine list
	// at its last look, how long after the push the last of them arrived
	// (-1: not all within quarantineWatch), and the live worker main then.
	found    int
	after    time.Duration
	mainThen int
}

// quarantineWatch is how long watchPoison looks for a push's messages
// in the quarantine list: they wait behind the backlog in the queue (a
// message LPUSHed is popped last).
const quarantineWatch = 60 * time.Second

// recordPush remembers a push of poison messages and, with the pool
// engine, watches them reach the quarantine list.
func (r *run) recordPush(ctx context.Context, kind faultKind, raw, ids []string) {
	p := &poisonPush{kind: kind, at: time.Now(), raw: raw, ids: ids, main: r.liveMain(), after: -1}
	r.mu.Lock()
	r.pushes = append(r.pushes, p)
	r.mu.Unlock()
	if r.cfg.poolEngine() {
		r.watchers.Add(1)
		go func() {
			defer r.watchers.Done()
			r.b.watchPoison(ctx, p)
		}()
	}
}

// liveMain is the worker main alive in the last sample (the lowest PID if
// there were several; 0: none).
func (r *run) liveMain() int {
	mains := r.samp.aliveMains()
	if len(mains) == 0 {
		return 0
	}
	return slices.Min(mains)
}

// watchPoison polls the quarantine list every 100 ms, on a connection
// of its own, until every message of p is in it as the bytes pushed. A
// failed read (Redis restarting) is a miss, not an answer.
func (m *redisMode) watchPoison(ctx context.Context, p *poisonPush) {
	rc := harness.NewClient(m.redis.Addr)
	defer rc.Reset()
	m.r.watchQuarantine(ctx, p, 100*time.Millisecond, func() (func(i int) bool, error) {
		list, err := harness.Strings(rc.Do("LRANGE", quarantineKey, "0", "-1"))
		return func(i int) bool { return slices.Contains(list, p.raw[i]) }, err
	})
}

// watchQuarantine reads the quarantine every interval through read (whose
// answer tells, for each message of p, whether it is there; an error is a
// miss, not an answer) until every message of p is in it, for up to
// quarantineWatch, and records how many are there and when all were.
func (r *run) watchQuarantine(ctx context.Context, p *poisonPush, interval time.Duration, read func() (func(i int) bool, error)) {
	for time.Since(p.at) < quarantineWatch {
		if in, err := read(); err == nil {
			found := 0
			for i := range p.raw {
				if in(i) {
					found++
				}
			}
			after, main := time.Since(p.at), r.liveMain()
			r.mu.Lock()
			p.found = found
			if found == len(p.raw) {
				p.after, p.mainThen = after, main
			}
			r.mu.Unlock()
			if found == len(p.raw) {
				return
			}
		}
		if harness.Sleep(ctx, interval) != nil {
			return
		}
	}
}

// mainKilledBetween reports whether the harness SIGKILLed worker main pid
// between from and to.
func (r *run) mainKilledBetween(pid int, from, to time.Time) bool {
	for _, k := range r.kills {
		if k.kind == faultKillMain && k.main == pid && !k.at.Before(from) && !k.at.After(to) {
			return true
		}
	}
	return false
}

// poisonTrail is what the AOF shows of one poison message: pushed onto the
// queue (ours and any put-back), popped, pushed onto the quarantine list.
type poisonTrail struct{ pushed, popped, quarantined int }

// poisonTrails follows each raw message (or, put back re-encoded, its task
// id) through the AOF.
func poisonTrails(cmds []aofCommand, p *poisonPush) []poisonTrail {
	out := make([]poisonTrail, len(p.raw))
	match := func(v string) int {
		id, _ := messageIdent(v)
		for i, m := range p.raw {
			if v == m || (p.ids[i] != "" && id == p.ids[i]) {
				return i
			}
		}
		return -1
	}
	queueReplay{
		onPush: func(_ int, v string) {
			if i := match(v); i >= 0 {
				out[i].pushed++
			}
		},
		onPop: func(_ int, v string) {
			if i := match(v); i >= 0 {
				out[i].popped++
			}
		},
		onOther: func(_ int, op string, c aofCommand) {
			if (op == "LPUSH" || op == "RPUSH") && c[1] == quarantineKey {
				for _, v := range c[2:] {
					if i := slices.Index(p.raw, v); i >= 0 {
						out[i].quarantined++
					}
				}
			}
		},
	}.run(cmds)
	return out
}

// quarantineRows are the pool engine's quarantine of each push, one row
// each.
func (r *run) quarantineRows(t *table) {
	if !r.cfg.poolEngine() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pushes {
		when := fmt.Sprintf("not all within %.0fs", quarantineWatch.Seconds())
		if p.after >= 0 {
			when = fmt.Sprintf("after %.1fs", p.after.Seconds())
		}
		t.add("quarantined by the main", "%s at t=%.1fs: %d of %d in %s as pushed %s; worker main pid %d at the push, %d then",
			p.kind, r.since(p.at), p.found, len(p.raw), quarantineKey, when, p.main, p.mainThen)
	}
}

// quarantineVerdicts are the pool engine's poison expectations, one per
// kind of push: every message in the quarantine list as the exact bytes
// pushed (lo, read at the end), taken from the queue once and never put
// back nor quarantined twice (the AOF: a crash-looping message is
// quarantined at once, not after worker deaths), the worker main unchanged
// by them (the same PID once they were quarantined, unless the harness
// SIGKILLed it meanwhile), and no worker crash at all.
func (m *redisMode) quarantineVerdicts(lo leftovers) []verdict {
	r := m.r
	cmds, aofErr := readAOF(m.redis.Dir)
	final := strings.Split(lo.where[quarantineKey], "\n")
	trails := map[*poisonPush][]poisonTrail{}
	check := func(p *poisonPush, i int) (bool, string) {
		in := slices.Contains(final, p.raw[i])
		if aofErr != nil {
			return in, "AOF unreadable: " + aofErr.Error()
		}
		if trails[p] == nil {
			trails[p] = poisonTrails(cmds, p)
		}
		if tr := trails[p][i]; tr != (poisonTrail{1, 1, 1}) {
			return in, fmt.Sprintf("%q: AOF %d push(es) onto the queue, %d pop(s), %d onto %s", short(p.raw[i]), tr.pushed, tr.popped, tr.quarantined, quarantineKey)
		}
		return in, ""
	}
	var vs []verdict
	for _, kind := range []faultKind{faultPoisonOnce, faultPoisonLoop} {
		if v, ok := r.quarantineVerdict(kind, "as the raw bytes, each taken once", check); ok {
			vs = append(vs, v)
		}
	}
	return append(vs, r.noCrashVerdict())
}

// noCrashVerdict: no worker logged "Unrecoverable error".
func (r *run) noCrashVerdict() verdict {
	crashes, _ := r.logDigest()
	n := sum(crashes)
	return verdict{"no worker crash (\"Unrecoverable error\")", fmt.Sprintf("%d crashes", n), n == 0}
}

// quarantineCheck is the mode's check of message i of push p at the end:
// whether it is in the quarantine as the expectation wants it, and what
// the broker's evidence shows wrong with it ("" nothing).
type quarantineCheck func(p *poisonPush, i int) (in bool, bad string)

// quarantineVerdict checks the pushes of one kind (ok false: none): each
// message quarantined as check says, within quarantineWatch, the worker
// main unchanged; as says how it must be there.
func (r *run) quarantineVerdict(kind faultKind, as string, check quarantineCheck) (verdict, bool) {
	want := fmt.Sprintf("%s in %s %s, the worker main unchanged", kind, quarantineKey, as)
	if kind == faultPoisonLoop {
		want = "crash-looping message(s) quarantined at once by the worker main: " + want
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n, inQ, slowest, ok := 0, 0, time.Duration(0), true
	var bad []string
	for _, p := range r.pushes {
		if p.kind != kind {
			continue
		}
		n += len(p.raw)
		for i := range p.raw {
			in, why := check(p, i)
			if in {
				inQ++
			}
			if why != "" && !slices.Contains(bad, why) {
				bad = append(bad, why)
			}
		}
		slowest = max(slowest, p.after)
		switch {
		case p.after < 0:
			ok = false
			bad = append(bad, fmt.Sprintf("pushed at t=%.1fs: not all quarantined within %.0fs", r.since(p.at), quarantineWatch.Seconds()))
		case p.mainThen != p.main && !r.mainKilledBetween(p.main, p.at, p.at.Add(p.after)):
			ok = false
			bad = append(bad, fmt.Sprintf("pushed at t=%.1fs with worker main %d: main %d when quarantined %.1fs later, and no SIGKILL explains it",
				r.since(p.at), p.main, p.mainThen, p.after.Seconds()))
		}
	}
	if n == 0 {
		return verdict{}, false
	}
	got := fmt.Sprintf("%d of %d in %s, slowest %.1fs after its push", inQ, n, quarantineKey, slowest.Seconds())
	if len(bad) > 0 {
		got += " (" + strings.Join(bad, "; ") + ")"
	}
	return verdict{want, got, ok && inQ == n && len(bad) == 0}, true
}

// short is s cut to 40 bytes, for a message.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
