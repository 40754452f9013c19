package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// groupTask is one line of testdata/groups.trace.
type groupTask struct {
	at      float64
	count   int
	seconds float64
	queue   string
}

// groupTrace is the scenario's trace, cut at -groups-cut.
type groupTrace struct {
	path    string
	tasks   []groupTask
	horizon time.Duration
}

// readGroupTrace reads "at_seconds count task_seconds queue" lines, keeping
// those published before cut (0 = all).
func readGroupTrace(path string, cut float64) (groupTrace, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return groupTrace{}, err
	}
	t := groupTrace{path: path}
	end := 0.0
	for i, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 {
			return t, fmt.Errorf("%s:%d: want 'at_seconds count task_seconds queue'", path, i+1)
		}
		at, err1 := strconv.ParseFloat(f[0], 64)
		n, err2 := strconv.Atoi(f[1])
		secs, err3 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return t, fmt.Errorf("%s:%d: bad number", path, i+1)
		}
		if !slices.Contains(groupQueues, f[3]) {
			return t, fmt.Errorf("%s:%d: queue %q: want one of %s", path, i+1, f[3], strings.Join(groupQueues, ","))
		}
		if cut > 0 && at >= cut {
			continue
		}
		t.tasks = append(t.tasks, groupTask{at, n, secs, f[3]})
		end = max(end, at+secs)
	}
	if len(t.tasks) == 0 {
		return t, fmt.Errorf("%s: no task (cut at %g s)", path, cut)
	}
	t.horizon = time.Duration(end*float64(time.Second)) + groupsMargin
	return t, nil
}

// describe sums the trace per queue.
func (t groupTrace) describe() string {
	var parts []string
	for _, q := range groupQueues {
		n, secs, last := 0, 0.0, 0.0
		for _, x := range t.tasks {
			if x.queue == q {
				n += x.count
				secs += float64(x.count) * x.seconds
				last = max(last, x.at)
			}
		}
		parts = append(parts, fmt.Sprintf("%s %d tasks (%.0f task-seconds, last publish at %.0f s)", q, n, secs, last))
	}
	return strings.Join(parts, "; ")
}

// queues are the queues that have tasks in the trace, in table order.
func (t groupTrace) queues() []string {
	var out []string
	for _, q := range groupQueues {
		if slices.ContainsFunc(t.tasks, func(x groupTask) bool { return x.queue == q }) {
			out = append(out, q)
		}
	}
	return out
}

// writeQueueTrace writes q's lines as a plain trace for examples/producer.py.
func (t groupTrace) writeQueueTrace(q, path string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s, queue %s\n", t.path, q)
	for _, x := range t.tasks {
		if x.queue == q {
			fmt.Fprintf(&b, "%g %d %g\n", x.at, x.count, x.seconds)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
