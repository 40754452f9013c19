package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// verdict is one expectation and whether it held.
type verdict struct {
	want, got string
	ok        bool
}

// summarize prints the result table and the Expected/Result lines, and
// reports whether every expectation held.
func (r *run) summarize(w io.Writer, lo leftovers) bool {
	c := r.countTasks(lo)
	t := &table{}
	r.taskRows(t, c, lo)
	empty, last := r.unackedAfterKill()
	r.brokerRows(t, lo, empty, last)
	most, mostAt, above := r.samp.peak()
	t.add("most worker processes alive", "%d (MAX %d) at t=%.1fs; above MAX for %.1fs (counted in /proc every 100 ms)",
		most, r.cfg.max, r.since(mostAt), above.Seconds())
	r.faultRows(t)
	fmt.Fprintf(w, "\n== chaos result: %s run, seed %d, %s\n", r.p.name, r.cfg.seed, time.Since(r.t0).Round(time.Second))
	t.write(w)
	vs := []verdict{
		{"0 lost", fmt.Sprintf("%d lost", len(c.lost)), len(c.lost) == 0},
		r.unackedVerdict(empty, last, lo),
		{fmt.Sprintf("never above MAX (%d)", r.cfg.max), fmt.Sprintf("at most %d", most), most <= r.cfg.max},
	}
	if r.term != nil {
		ok := r.term.exitCode == 0 && r.term.took <= r.term.limit
		vs = append(vs, verdict{fmt.Sprintf("SIGTERM: exit 0 within %.0fs", r.term.limit.Seconds()),
			fmt.Sprintf("exit %d after %.1fs", r.term.exitCode, r.term.took.Seconds()), ok})
	}
	return writeVerdicts(w, vs)
}

// unackedVerdict is the "unacked empty within 15 s of the last kill" check.
func (r *run) unackedVerdict(empty time.Duration, last time.Time, lo leftovers) verdict {
	want := fmt.Sprintf("unacked empty within %.0fs of the last kill", unackedWindow.Seconds())
	switch {
	case last.IsZero():
		return verdict{want, "no kill happened", true}
	case empty < 0:
		return verdict{want, fmt.Sprintf("never empty after the last kill (%d left)", lo.unacked), false}
	}
	return verdict{want, fmt.Sprintf("empty %.1fs after it", empty.Seconds()), empty <= unackedWindow}
}

func writeVerdicts(w io.Writer, vs []verdict) bool {
	var want, got []string
	all := true
	for _, v := range vs {
		mark := "ok"
		if !v.ok {
			mark, all = "FAIL", false
		}
		want = append(want, v.want)
		got = append(got, v.got+" "+mark)
	}
	fmt.Fprintf(w, "Expected: %s\n", strings.Join(want, "; "))
	res := "PASS"
	if !all {
		res = "FAIL"
	}
	fmt.Fprintf(w, "Result:   %s -> %s\n", strings.Join(got, "; "), res)
	return all
}

// taskRows are the task counts.
func (r *run) taskRows(t *table, c taskCounts, lo leftovers) {
	t.add("published", "%d tasks.sleep (+%d malformed/poison on the queue, %d garbage on celeryev)%s",
		c.published, r.poisonPushed(), r.junk, ifNonzero(c.uncertain, ", %d more of uncertain fate (reply lost)"))
	t.add("ran (distinct ids started)", "%d; finished %d; started but never finished %d (%d on a SIGKILLed pool child: Celery acks those as WorkerLostError)",
		c.ran, c.finished, c.unfinished, c.unfinishedByChildKill)
	t.add("lost", "%d%s%s", len(c.lost), lostIDs(c.lost), ifNonzero(c.lostNearDeath,
		"; %d published within 2 s before a worker main died: a message kombu 5.2's BRPOP handed to a dying worker is in no Redis key"))
	t.add("never ran, still held", "queue %d, unacked %d, quarantine %d", c.queued, c.inUnacked, c.quarantined)
	var causes []string
	for _, k := range []twiceCause{causeMainKilled, causeChildKilled, causeDied, causeNoDeath} {
		if n := c.causes[k]; n > 0 {
			causes = append(causes, fmt.Sprintf("%s: %d", k, n))
		}
	}
	t.add("run twice", "%d ids with >1 start%s%s", c.twice, bracket(causes), ifNonzero(c.allRunsFinished, "; %d of them had finished their first run: its ack died with the worker"))
	t.add("restored", "%s (revrx_tasks_restored_total)", r.metricText("revrx_tasks_restored_total"))
	q := "n/a (no " + quarantineKey + " key)"
	if lo.quarantineKey {
		q = fmt.Sprintf("%d in %s", lo.quarantined, quarantineKey)
	}
	t.add("quarantined", "%s (revrx_tasks_quarantined_total); %s", r.metricText("revrx_tasks_quarantined_total"), q)
	for _, id := range r.poison {
		where := lo.locate(id)
		if where == "" {
			where = "gone from Redis"
		}
		t.add("crash-looping message", "%s: %s", id, where)
	}
	t.add("worker stalls", "%s (revrx_worker_stalls_total)", r.metricText("revrx_worker_stalls_total"))
	t.add("worker restarts", "%s (revrx_worker_restarts_total)", r.labelled("revrx_worker_restarts_total", "reason"))
}

// brokerRows are the unacked figures and the Redis restarts.
func (r *run) brokerRows(t *table, lo leftovers, empty time.Duration, last time.Time) {
	oldest := "none"
	if lo.hasOldest {
		oldest = fmt.Sprintf("%.1fs old", lo.oldest.Seconds())
	}
	t.add("left in unacked", "%d (oldest unacked_index entry: %s)", lo.unacked, oldest)
	switch {
	case last.IsZero():
		t.add("unacked empty after last kill", "no kill")
	case empty < 0:
		t.add("unacked empty after last kill", "never (last kill at t=%.1fs, %.0fs before the end)", r.since(last), time.Since(last).Seconds())
	default:
		t.add("unacked empty after last kill", "%.1fs (last kill at t=%.1fs)", empty.Seconds(), r.since(last))
	}
	for i, res := range r.restarts {
		t.add(fmt.Sprintf("redis restart #%d", i+1), "at t=%.1fs, down %.1fs; broker_up 0 seen %s after the stop; broker_up 1 again %s after Redis answered; events_up 1 again %s",
			r.since(res.at), res.down.Seconds(), dur(res.sawZero), dur(res.recovered), dur(res.eventsBack))
	}
}

// faultRows are the kills, the poison crashes and the supervisor's stops.
func (r *run) faultRows(t *table) {
	mains, children := 0, 0
	for _, k := range r.kills {
		if k.kind == faultKillMain {
			mains++
		} else {
			children++
		}
	}
	victims, rerun, slowest := r.victimReruns()
	t.add("kills", "%d worker mains, %d pool children; tasks running on killed mains: %d, started again: %d (slowest %.1fs after the kill)",
		mains, children, victims, rerun, slowest.Seconds())
	crashes, _ := r.logDigest()
	var cs []string
	for k, n := range crashes {
		cs = append(cs, fmt.Sprintf("%s %d", k, n))
	}
	t.add("worker crashes on poison", "%d %s (\"Unrecoverable error\" lines)", sum(crashes), bracket(cs))
	if r.term != nil {
		tr := r.term
		t.add("supervisor SIGTERM", "with %d workers (a worker starting: %v); exit %d after %.1fs (limit %.0fs); then %d queued, %d unacked; its workers alive 2s later: %d",
			tr.workers, tr.scalingUp, tr.exitCode, tr.took.Seconds(), tr.limit.Seconds(), tr.queuedAfter, tr.unackedAfter, tr.survivors)
	}
	if r.final != nil {
		t.add("final supervisor stop", "exit %d after %.1fs", r.final.exitCode, r.final.took.Seconds())
	}
}

func (r *run) poisonPushed() int {
	n := len(r.poison)
	for _, f := range r.p.faults {
		if f.kind == faultPoisonOnce {
			if r.p.name == "short" {
				n++
			} else {
				n += len(malformed)
			}
		}
	}
	return n
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func bracket(parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func ifNonzero(n int, format string) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(format, n)
}

func lostIDs(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	if len(ids) > 5 {
		return fmt.Sprintf(" (%s, ...)", strings.Join(ids[:5], ", "))
	}
	return " (" + strings.Join(ids, ", ") + ")"
}
