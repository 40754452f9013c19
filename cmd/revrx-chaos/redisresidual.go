package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// residualEntry is one message left in unacked at the drain's end, with
// everything the harness knows of it: who holds it (each worker's
// revrx.held.* set), whether that worker is alive, what the record says of
// its task, and what that makes it.
type residualEntry struct {
	tag, id, name string
	age           time.Duration // since its unacked_index score (-1: no score)
	holders       []string      // "worker3@vm (alive, pid 123)" for each held set naming it
	runs          []string      // its task's starts in the record
	what          string        // the explanation
}

// residual reads what unacked holds now and explains each entry; it
// prints them at once too (the drain's end is when they matter).
func (m *redisMode) residual() residualDump {
	r := m.r
	all, err := harness.Strings(m.rc.Do("HGETALL", "unacked"))
	if err != nil || len(all) == 0 {
		return residualDump{}
	}
	scores := map[string]float64{}
	if zs, err := harness.Strings(m.rc.Do("ZRANGE", "unacked_index", "0", "-1", "WITHSCORES")); err == nil {
		for i := 0; i+1 < len(zs); i += 2 {
			f, _ := strconv.ParseFloat(zs[i+1], 64)
			scores[zs[i]] = f
		}
	}
	held := map[string][]string{} // tag -> workers whose set holds it
	keys, _ := m.rc.Keys()
	for _, k := range keys {
		w, ok := strings.CutPrefix(k, "revrx.held.")
		if !ok {
			continue
		}
		tags, _ := harness.Strings(m.rc.Do("HKEYS", k))
		for _, t := range tags {
			held[t] = append(held[t], w)
		}
	}
	r.rec.poll()
	starts, ends := r.rec.snapshot()
	crashes := r.workerCrashes()
	var out []residualEntry
	for i := 0; i+1 < len(all); i += 2 {
		e := residualEntry{tag: all[i], age: -1}
		e.id, e.name = messageIdent(all[i+1])
		if f, ok := scores[e.tag]; ok {
			e.age = time.Since(time.Unix(0, int64(f*1e9)))
		}
		e.what = r.explain(&e, held[e.tag], starts[e.id], ends[e.id], crashes)
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].age > out[j].age })
	dump := residualDump{n: len(out)}
	for _, e := range out {
		r.logf("left in unacked: %s", e.line())
		dump.lines = append(dump.lines, e.line())
	}
	return dump
}

// line is the entry on one line.
func (e residualEntry) line() string {
	age := "no unacked_index score"
	if e.age >= 0 {
		age = fmt.Sprintf("in unacked for %.1fs", e.age.Seconds())
	}
	holders := "none"
	if len(e.holders) > 0 {
		holders = strings.Join(e.holders, ", ")
	}
	runs := "never started"
	if len(e.runs) > 0 {
		runs = strings.Join(e.runs, "; ")
	}
	return fmt.Sprintf("task %s %s, delivery tag %s, %s; held by %s; record: %s => %s", e.id, e.name, e.tag, age, holders, runs, e.what)
}

// explain fills the entry's holders and runs and says what it is.
func (r *run) explain(e *residualEntry, holders []string, runs []runStart, ended int, crashes []workerCrash) string {
	killedChild := map[int]bool{}
	r.mu.Lock()
	for _, k := range r.kills {
		if k.kind == faultKillChild {
			killedChild[k.pid] = true
		}
	}
	r.mu.Unlock()
	liveHolder, liveMain := "", 0
	for _, w := range holders {
		pid, first, ok := r.samp.liveMainNamed(w)
		if !ok {
			e.holders = append(e.holders, w+" (no live worker of that name)")
			continue
		}
		e.holders = append(e.holders, fmt.Sprintf("%s (alive, main pid %d since t=%.1fs)", w, pid, r.since(first)))
		liveHolder, liveMain = w, pid
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].at < runs[j].at })
	for _, s := range runs {
		at := time.Unix(0, int64(s.at*1e9))
		note := ""
		if killedChild[s.pid] {
			note = ", pool child SIGKILLed"
		} else if harness.Alive(s.pid) {
			note = ", pool child alive"
		}
		e.runs = append(e.runs, fmt.Sprintf("started on %s pid %d at t=%.1fs%s", s.worker, s.pid, r.since(at), note))
	}
	if ended > 0 {
		e.runs = append(e.runs, fmt.Sprintf("finished %d time(s)", ended))
	}
	finished := ended > 0 && ended >= len(runs)
	var hung *workerCrash
	if liveHolder != "" {
		_, first, _ := r.samp.liveMainNamed(liveHolder)
		for i := range crashes {
			if c := crashes[i]; c.worker == liveHolder && c.at.After(first) {
				hung = &crashes[i]
			}
		}
	}
	switch {
	case hung != nil:
		return fmt.Sprintf("its worker %s logged \"Unrecoverable error: %s\" at t=%.1fs and has not exited since (main %s): a half-dead worker holding this message (task %s) until it is killed, which the supervisor does not restart",
			liveHolder, errShort(hung.err), r.since(hung.at), procState(liveMain), map[bool]string{true: "ran and finished, its ack never sent", false: "not finished"}[finished])
	case liveHolder != "" && finished:
		return "ran and finished, but its live worker never acked it"
	case liveHolder != "" && len(runs) > 0 && harness.Alive(runs[len(runs)-1].pid):
		return "a live worker's message, held while its task runs (benign)"
	case liveHolder != "":
		return "prefetched or in flight on a live worker"
	case len(holders) > 0:
		return "its worker is gone but it is still in unacked: the supervisor should have restored it"
	case len(runs) > 0 && killedChild[runs[len(runs)-1].pid]:
		return "the message of a SIGKILLed pool child, in no held set"
	}
	return "in no worker's held set (an exec'd worker, or a set that was never written)"
}
