package main

import (
	"fmt"
	"io"
	"sort"
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
	r.lostProof = r.b.explainLosses(c)
	t := &table{}
	r.taskRows(t, c, lo)
	empty, from := r.unackedAfterQuiet()
	r.brokerRows(t, lo, empty, from)
	backV := r.b.backRows(t)
	maxV := r.processRow(t)
	r.faultRows(t)
	r.b.rows(t)
	r.stockRows(t, c)
	fmt.Fprintf(w, "\n== chaos result: %s run, seed %d, %s\n", r.p.name, r.cfg.seed, time.Since(r.t0).Round(time.Second))
	t.write(w)
	vs := []verdict{
		r.lostVerdict(c),
		backV,
		r.unackedVerdict(empty, lo),
		maxV,
	}
	vs = append(vs, r.b.verdicts(lo)...)
	if v, ok := r.shrinkVerdict(); ok {
		vs = append(vs, v)
	}
	if r.term != nil {
		ok := r.term.exitCode == 0 && r.term.took <= r.term.limit
		vs = append(vs, verdict{fmt.Sprintf("SIGTERM: exit 0 within %.0fs", r.term.limit.Seconds()),
			fmt.Sprintf("exit %d after %.1fs", r.term.exitCode, r.term.took.Seconds()), ok})
	}
	return writeVerdicts(w, vs)
}

// processRow prints the most worker processes alive at once and returns
// the MAX verdict. With the pool engine they are pool processes, and at
// most one worker main may be alive at any time.
func (r *run) processRow(t *table) verdict {
	most, at, above, mains := r.samp.peak()
	key, detail := "most worker processes alive", "worker mains"
	want := fmt.Sprintf("never above MAX (%d)", r.cfg.max)
	got, ok := fmt.Sprintf("at most %d", most), most <= r.cfg.max
	if r.cfg.poolEngine() {
		key = "most pool processes alive"
		detail = fmt.Sprintf("the worker main's live children, starting and stopping ones included, and any a dead main left; the main itself not counted, at most %d main(s) at once", mains)
		want = fmt.Sprintf("never above MAX (%d) pool processes, one worker main", r.cfg.max)
		got, ok = fmt.Sprintf("at most %d, %d main(s) at once", most, mains), ok && mains <= 1
	}
	t.add(key, "%d (MAX %d) at t=%.1fs; above MAX for %.1fs (%s; counted in /proc every 100 ms)", most, r.cfg.max, r.since(at), above.Seconds(), detail)
	return verdict{want, got, ok}
}

// unackedVerdict is the "unacked empty within 15 s of the later of the last
// kill and the end of the load" check.
func (r *run) unackedVerdict(empty time.Duration, lo leftovers) verdict {
	want := fmt.Sprintf("unacked empty within %.0fs of the later of the last kill and the end of the load", unackedWindow.Seconds())
	if empty < 0 {
		return verdict{want, fmt.Sprintf("never empty after %s (%d left)", r.quietWhat(), lo.unacked), false}
	}
	return verdict{want, fmt.Sprintf("empty %.1fs after %s", empty.Seconds(), r.quietWhat()), empty <= unackedWindow}
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
	near := "; %d published within 2 s before a worker main died"
	if r.cfg.broker == brokerRedis {
		near += ": a message kombu 5.2's BRPOP handed to a dying worker is in no Redis key"
	}
	t.add("lost", "%d%s%s", len(c.lost), lostIDs(c.lost), ifNonzero(c.lostNearDeath, near))
	for _, id := range c.lost {
		t.add("  lost "+id, "%s", r.lostProof[id].text)
	}
	t.add("never ran, still held", "queue %d, unacked %d, quarantine %d", c.queued, c.inUnacked, c.quarantined)
	var causes []string
	for _, k := range []twiceCause{causeMainKilled, causeChildKilled, causeRestart, causeDied, causeNoDeath} {
		if n := c.causes[k]; n > 0 {
			causes = append(causes, fmt.Sprintf("%s: %d", k, n))
		}
	}
	t.add("run twice", "%d ids with >1 start%s%s", c.twice, bracket(causes), ifNonzero(c.allRunsFinished, "; %d of them had finished their first run: its ack was lost with its worker or its broker connection"))
	t.add("restored", "%s (revrx_tasks_restored_total)", r.metricText("revrx_tasks_restored_total"))
	q := "n/a (no " + quarantineKey + " key)"
	if r.cfg.broker == brokerRabbit {
		q = "n/a (no " + quarantineKey + " queue)"
	}
	if lo.quarantineKey {
		q = fmt.Sprintf("%d in %s", lo.quarantined, quarantineKey)
	}
	t.add("quarantined", "%s (revrx_tasks_quarantined_total); %s", r.metricText("revrx_tasks_quarantined_total"), q)
	for _, id := range r.poison {
		where := lo.locate(id)
		if where == "" {
			where = "gone from " + r.brokerName()
		}
		t.add("crash-looping message", "%s: %s", id, where)
	}
	t.add("worker stalls", "%s (revrx_worker_stalls_total)", r.metricText("revrx_worker_stalls_total"))
	t.add("worker restarts", "%s (revrx_worker_restarts_total)", r.labelled("revrx_worker_restarts_total", "reason"))
}

// brokerRows are the unacked figures and the broker restarts.
func (r *run) brokerRows(t *table, lo leftovers, empty time.Duration, from time.Time) {
	oldest := "none"
	if lo.hasOldest {
		oldest = fmt.Sprintf("%.1fs old", lo.oldest.Seconds())
	}
	if r.cfg.broker == brokerRedis {
		oldest = " (oldest unacked_index entry: " + oldest + ")"
	} else {
		oldest = " (rabbitmqctl, every queue)"
	}
	t.add("left in unacked", "%d at the end, after the last supervisor's stop%s; %d at the drain's end", lo.unacked, oldest, r.residual.n)
	for _, l := range r.residual.lines {
		t.add("  unacked at the drain's end", "%s", l)
	}
	if lo.finishedQueued > 0 {
		t.add("finished tasks queued again", "%d at the end (their message was put back after the task had run: it will run again)", lo.finishedQueued)
	}
	what := fmt.Sprintf("%s (t=%.1fs)", r.quietWhat(), r.since(from))
	if empty < 0 {
		t.add("unacked empty after the work", "never after %s; %.0fs before the end", what, time.Since(from).Seconds())
	} else {
		t.add("unacked empty after the work", "%.1fs after %s, the later of the last kill and the end of the load", empty.Seconds(), what)
	}
	for i, res := range r.restarts {
		more := ""
		if res.measured {
			more = fmt.Sprintf("; %g failed reads counted (revrx_broker_errors_total); workers consuming the queue again %s after it answered", res.errors, dur(res.consumers))
		}
		t.add(fmt.Sprintf("%s restart #%d", r.cfg.broker, i+1), "at t=%.1fs, down %.1fs; broker_up 0 seen %s after the stop; broker_up 1 again %s after %s answered; events_up 1 again %s%s",
			r.since(res.at), res.down.Seconds(), dur(res.sawZero), dur(res.recovered), r.brokerName(), dur(res.eventsBack), more)
	}
}

// brokerName is the broker as the rows name it.
func (r *run) brokerName() string {
	if r.cfg.broker == brokerRabbit {
		return "RabbitMQ"
	}
	return "Redis"
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
	sort.Strings(cs)
	t.add("worker crashes on poison", "%d %s (\"Unrecoverable error\" lines); %d of them by the crash-looping message(s)", sum(crashes), bracket(cs), loopCrashes(crashes))
	for _, c := range r.workerCrashes() {
		if pid, first, ok := r.samp.liveMainNamed(c.worker); ok && first.Before(c.at) {
			t.add("  crashed worker still alive", "%s logged \"Unrecoverable error: %s\" at t=%.1fs and was still alive at the end (%s)", c.worker, errShort(c.err), r.since(c.at), procState(pid))
		}
	}
	if r.term != nil {
		tr := r.term
		t.add("supervisor SIGTERM", "with %d workers (a worker starting: %v); exit %d after %.1fs (limit %.0fs); then %d queued, %d unacked; its workers alive 2s later: %d",
			tr.workers, tr.scalingUp, tr.exitCode, tr.took.Seconds(), tr.limit.Seconds(), tr.queuedAfter, tr.unackedAfter, tr.survivors)
	}
	if r.final != nil {
		t.add("final supervisor stop", "exit %d after %.1fs", r.final.exitCode, r.final.took.Seconds())
	}
}

// poisonPushed is how many malformed and crash-looping messages went onto
// the queue.
func (r *run) poisonPushed() int {
	n := 0
	for _, p := range r.pushes {
		n += len(p.raw)
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

// lostVerdict is "0 lost", but the losses the broker's evidence excuses
// (the mode's explainLosses: on Redis, the AOF proves a message popped by
// a worker as it died and never in unacked).
func (r *run) lostVerdict(c taskCounts) verdict {
	want := r.b.lostWant()
	if len(c.lost) == 0 {
		return verdict{want, "0 lost", true}
	}
	excused := 0
	for _, id := range c.lost {
		if r.lostProof[id].excused {
			excused++
		}
	}
	got := fmt.Sprintf("%d lost, %d of them excused by the broker's evidence", len(c.lost), excused)
	return verdict{want, got, excused == len(c.lost)}
}
