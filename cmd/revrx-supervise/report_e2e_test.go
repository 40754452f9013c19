package main

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor"
)

// TestCostReport runs `report` against a real supervisor with two queue
// groups, real workers and a real producer: a row per group, rep's tasks
// with busy and idle process-seconds and its waits, the idle that rep's
// minimum and then its keepalive held, and no saved-wait estimate without
// a measured start-up lead; /status's efficiency of rep agrees.
func TestCostReport(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--autoscale=3,0", "-Q", "rep:1-2,other:0-1", "--keepalive=2s")
	group := func(name string) supervisor.Status {
		for _, g := range s.status().Groups {
			if g.Group != nil && g.Group.Name == name {
				return g
			}
		}
		return supervisor.Status{}
	}
	up := func() int { n, _ := group("rep").WorkersUp(); return n }
	waitFor(t, 30*time.Second, "rep's minimum up", func() bool { return up() == 1 })
	waitFor(t, 10*time.Second, "idle held by rep's minimum", func() bool {
		return s.metric(`revrx_held_process_seconds_total{by="min",group="rep"}`) > 0
	})

	const n = 6
	publish(t, url, "rep", n, 0.5)
	waitFor(t, 60*time.Second, "6 tasks completed", func() bool {
		return s.metric(`revrx_tasks_completed_total{group="rep",outcome="succeeded"}`) == n
	})
	waitFor(t, 30*time.Second, "rep back to its minimum after the keepalive", func() bool { return len(group("rep").Workers) == 1 })

	code, out, errOut := runCLI("report", "--addr", s.addr)
	if code != 0 {
		t.Fatalf("report: exit %d, stderr %q\n%s", code, errOut, out)
	}
	t.Logf("report:\n%s", out)
	row := regexp.MustCompile(`(?m)^rep\s+6\s+(\S+)\s+(\S+)\s+\S+\s+\d+ %\s+\S+\s+(\S+) s\s+(\S+) s$`).FindStringSubmatch(out)
	if row == nil {
		t.Fatalf("report has no row for rep with 6 tasks and both waits:\n%s", out)
	}
	// The tasks ran 6 x 0.5 s; busy is accrued at the loop's ticks.
	if busy := parse(t, row[1]); busy < 2 || busy > 30 {
		t.Errorf("rep's busy process-seconds %v, want about the 3 s the tasks ran", busy)
	}
	if p50, p95 := parse(t, row[3]), parse(t, row[4]); p50 > p95 || p95 > 30 {
		t.Errorf("rep's wait p50 %v s, p95 %v s: want p50 <= p95, seconds", p50, p95)
	}
	for _, re := range []string{`(?m)^other\s+0\s+`, `(?m)^rep\s+min: held (\d\S*) process-seconds`,
		`(?m)^rep\s+keepalive: held (\d\S*) process-seconds`, `The wait the held processes saved is not estimated`} {
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil || (len(m) > 1 && parse(t, m[1]) <= 0) {
			t.Errorf("report lacks %s (with a positive figure):\n%s", re, out)
		}
	}
	e := group("rep").Efficiency
	if e.TasksCompleted != n || e.BusySeconds < 2 || e.IdleShare <= 0 || e.IdleShare >= 1 {
		t.Errorf("/status rep efficiency %+v, want 6 tasks, about 3 busy process-seconds, some idle", e)
	}
}

func parse(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q is not a number: %v", s, err)
	}
	return v
}
