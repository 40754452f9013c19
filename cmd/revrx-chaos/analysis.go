package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// twiceCause names why a task started more than once, from its first run.
type twiceCause string

const (
	causeMainKilled  twiceCause = "first run's worker main SIGKILLed"
	causeChildKilled twiceCause = "first run's pool child SIGKILLed"
	causeRestart     twiceCause = "broker restarted between its runs"
	causeDied        twiceCause = "first run's worker died otherwise (crash or stop)"
	causeNoDeath     twiceCause = "first run's worker did not die"
)

// taskCounts is what the record says of the published tasks.
type taskCounts struct {
	published, uncertain, ran, finished int
	unfinished                          int // started, never finished
	unfinishedByChildKill               int // ... of which the pool child running it was SIGKILLed
	lost                                []string
	lostNearDeath                       int // lost, published within 2 s before a worker main died (SIGKILL or poison crash)
	queued, inUnacked, quarantined      int // regular tasks never started, found there
	twice                               int
	causes                              map[twiceCause]int
	allRunsFinished                     int // ran twice and every run finished: a real duplicate
}

// countTasks joins the published ids, the record and what Redis holds.
func (r *run) countTasks(lo leftovers) taskCounts {
	pub, unc := r.pub.ids()
	starts, ends := r.rec.snapshot()
	c := taskCounts{published: len(pub), uncertain: len(unc), causes: map[twiceCause]int{}}
	childKilled := map[int]bool{}
	for _, k := range r.kills {
		if k.kind == faultKillChild {
			childKilled[k.pid] = true
		}
	}
	for id := range unc {
		if len(starts[id]) > 0 {
			pub[id] = time.Time{} // it did land
		}
	}
	for id := range pub {
		runs := starts[id]
		switch {
		case len(runs) == 0:
			c.place(id, lo, unc[id])
			continue
		case ends[id] == 0:
			c.unfinished++
			if childKilled[runs[len(runs)-1].pid] {
				c.unfinishedByChildKill++
			}
		default:
			c.finished++
		}
		c.ran++
		if len(runs) > 1 {
			c.twice++
			c.causes[r.twiceCause(runs)]++
			if ends[id] >= len(runs) {
				c.allRunsFinished++
			}
		}
	}
	sort.Strings(c.lost)
	deaths := r.deathTimes()
	for _, id := range c.lost {
		for _, d := range deaths {
			if at := pub[id]; !d.Before(at) && d.Sub(at) <= 2*time.Second {
				c.lostNearDeath++
				break
			}
		}
	}
	return c
}

// deathTimes are the SIGKILLs of worker mains and the workers' poison
// crashes ("Unrecoverable error" lines, by their log time).
func (r *run) deathTimes() []time.Time {
	var out []time.Time
	for _, k := range r.kills {
		if k.kind == faultKillMain {
			out = append(out, k.at)
		}
	}
	for _, c := range r.workerCrashes() {
		if !c.at.IsZero() {
			out = append(out, c.at)
		}
	}
	return out
}

// place files a task that never started under where Redis holds it, or
// lost.
func (c *taskCounts) place(id string, lo leftovers, uncertain bool) {
	switch k := lo.locate(id); {
	case k == quarantineKey:
		c.quarantined++
	case k == "unacked":
		c.inUnacked++
	case k != "":
		c.queued++
	case !uncertain:
		c.lost = append(c.lost, id)
	}
}

// twiceCause classifies a task's repeated runs by what happened to the
// worker of its first run before its second began.
func (r *run) twiceCause(runs []runStart) twiceCause {
	sort.Slice(runs, func(i, j int) bool { return runs[i].at < runs[j].at })
	first, second := runs[0], runs[1]
	main := first.main
	if main == 0 {
		main = r.samp.mainOf(first.pid)
	}
	secondAt := time.Unix(0, int64(second.at*1e9))
	firstAt := time.Unix(0, int64(first.at*1e9))
	for _, k := range r.kills {
		if k.at.After(firstAt) && k.at.Before(secondAt) {
			if k.kind == faultKillMain && k.main == main {
				return causeMainKilled
			}
			if k.kind == faultKillChild && k.pid == first.pid {
				return causeChildKilled
			}
		}
	}
	for _, res := range r.restarts {
		// The first run began shortly before the stop (tasks last at most
		// 2 s) or while it was under way, the second after the stop began.
		if firstAt.After(res.at.Add(-5*time.Second)) && firstAt.Before(res.at.Add(res.down)) && res.at.Before(secondAt) {
			return causeRestart
		}
	}
	if last, gone, known := r.samp.seen(main); known && gone && last.Before(secondAt) {
		return causeDied
	}
	return causeNoDeath
}

// victimReruns counts the tasks running on SIGKILLed worker mains and how
// long the slowest took to start again (ok false: some never did).
func (r *run) victimReruns() (victims, rerun int, slowest time.Duration) {
	starts, _ := r.rec.snapshot()
	for _, k := range r.kills {
		if k.kind != faultKillMain {
			continue
		}
		for _, id := range k.victims {
			victims++
			for _, s := range starts[id] {
				at := time.Unix(0, int64(s.at*1e9))
				if at.After(k.at) {
					rerun++
					slowest = max(slowest, at.Sub(k.at))
					break
				}
			}
		}
	}
	return victims, rerun, slowest
}

// logDigest scans the supervisors' logs: the workers' "Unrecoverable error"
// lines (poison crashes) and the supervisor's own WARN/ERROR messages, once
// each.
func (r *run) logDigest() (crashes map[string]int, notes []string) {
	crashes = map[string]int{}
	seen := map[string]bool{}
	for _, s := range r.sups {
		b, _ := os.ReadFile(s.logPath)
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.Index(line, "Unrecoverable error: "); i >= 0 {
				kind, _, _ := strings.Cut(line[i+len("Unrecoverable error: "):], "(")
				crashes[kind]++
				continue
			}
			if strings.Contains(line, "stream=") || !(strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR")) {
				continue
			}
			msg := line
			if i := strings.Index(line, "msg="); i >= 0 {
				msg = line[i:]
			}
			if key := msgKey(msg); !seen[key] && len(notes) < 25 {
				seen[key] = true
				notes = append(notes, line)
			}
		}
	}
	return crashes, notes
}

// msgKey is a log message without its variable tail, to show each kind once.
func msgKey(msg string) string {
	if strings.HasPrefix(msg, `msg="`) {
		if end := strings.Index(msg[5:], `"`); end >= 0 {
			return msg[:5+end]
		}
	}
	key, _, _ := strings.Cut(msg, " ")
	return key
}

// workerCrash is an "Unrecoverable error" line of a worker.
type workerCrash struct {
	worker string
	at     time.Time
	err    string
}

// workerCrashes lists the workers' "Unrecoverable error" lines in every
// supervisor's log.
func (r *run) workerCrashes() []workerCrash {
	var out []workerCrash
	for _, s := range r.sups {
		b, _ := os.ReadFile(s.logPath)
		for _, line := range strings.Split(string(b), "\n") {
			i := strings.Index(line, "Unrecoverable error: ")
			if i < 0 {
				continue
			}
			c := workerCrash{err: line[i+len("Unrecoverable error: "):]}
			c.err, _, _ = strings.Cut(c.err, `"`)
			ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
			c.at, _ = time.Parse(time.RFC3339Nano, ts)
			if j := strings.Index(line, " worker="); j >= 0 {
				c.worker, _, _ = strings.Cut(line[j+len(" worker="):], " ")
			}
			out = append(out, c)
		}
	}
	return out
}

// errShort is s cut to 80 bytes, for a row.
func errShort(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// procState is "pid 123 state S wchan do_select, pool children [124]".
func procState(pid int) string {
	st, _ := harness.ReadStat(pid)
	wchan, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/wchan")
	return fmt.Sprintf("pid %d state %c wchan %s, pool children %v", pid, st.State, wchan, harness.Children(pid))
}
