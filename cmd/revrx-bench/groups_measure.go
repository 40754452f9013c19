package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// groupSample is one look at the contender's process trees.
type groupSample struct {
	At      time.Time
	Slots   int
	PerMain map[string]int // pool processes per worker main's -Q
}

func (s groupSample) at() time.Time { return s.At }

// groupCounts returns, over the trees of roots, the -Q of each Celery worker
// main and the pool processes (children of a worker main), per -Q in
// perGroup if it is not nil; counted the same way as the traces' slots.
func groupCounts(roots []int, table map[int]harness.Stat, perGroup map[string]int) (mains map[int]string, slots int) {
	var tree []int
	for _, root := range roots {
		tree = append(tree, harness.Tree(root, table)...)
	}
	mains = map[int]string{}
	for pid := range workerMains(tree, table) {
		mains[pid] = queuesArg(harness.Cmdline(pid))
		if perGroup != nil {
			perGroup[mains[pid]] += 0 // a main with no process shows as 0
		}
	}
	for _, pid := range tree {
		if q, ok := mains[table[pid].PPID]; ok {
			slots++
			if perGroup != nil {
				perGroup[q]++
			}
		}
	}
	return mains, slots
}

// queuesArg is the value of -Q (or --queues) in a worker's argv.
func queuesArg(argv []string) string {
	for i, a := range argv {
		if (a == "-Q" || a == "--queues") && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--queues="); ok {
			return v
		}
	}
	return "?"
}

// runGroupSampler samples the trees every interval until ctx ends, then
// takes one last sample and sends them all.
func runGroupSampler(ctx context.Context, roots []int, interval time.Duration) <-chan []groupSample {
	take := func() groupSample {
		s := groupSample{At: time.Now(), PerMain: map[string]int{}}
		_, s.Slots = groupCounts(roots, harness.Table(), s.PerMain)
		return s
	}
	return sampleUntil(ctx, interval, take)
}

// groupWindow fills slot-seconds and the peaks over [from, to]: each
// sample's count holds until the next one (as the traces' worker-seconds).
func groupWindow(samples []groupSample, from, to time.Time, r *groupResult) {
	r.slotSecs = integrate(samples, from, to, func(s groupSample) float64 { return float64(s.Slots) })
	r.peakGroup = map[string]int{}
	for _, s := range samples {
		if s.At.After(to) {
			continue
		}
		// Every sample before the horizon counts for the peaks, the
		// settle before t=0 included.
		r.peak = max(r.peak, s.Slots)
		for g, n := range s.PerMain {
			r.peakGroup[g] = max(r.peakGroup[g], n)
		}
	}
}

// readGroupRecord reads the record file: each task's first start (its
// wait), its end, and its queue (the routing key the example app records;
// for an older record, from how long it ran: a video task runs 20-30 s,
// an audio task 0.5 s). A task that never finished is in no queue's waits.
func readGroupRecord(path string, r *groupResult) error {
	type line struct {
		Event       string   `json:"event"`
		ID          string   `json:"id"`
		PublishedAt *float64 `json:"published_at"`
		Started     *float64 `json:"started"`
		Finished    *float64 `json:"finished"`
		Queue       string   `json:"queue"` // the routing key it came by
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	first := map[string]line{}
	starts := map[string]int{}
	ran := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.ID == "" {
			continue
		}
		switch l.Event {
		case "start":
			starts[l.ID]++
			if prev, ok := first[l.ID]; !ok || (l.Started != nil && prev.Started != nil && *l.Started < *prev.Started) {
				first[l.ID] = l
			}
		case "end":
			if l.Started != nil && l.Finished != nil {
				ran[l.ID] = *l.Finished - *l.Started
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	r.waits = map[string][]float64{}
	for id, l := range first {
		if starts[id] > 1 {
			r.runTwice++
		}
		d, ok := ran[id]
		if !ok || l.PublishedAt == nil || l.Started == nil {
			r.unclassified++
			continue
		}
		q := l.Queue
		if q == "" { // a record without the queue: tell by runtime
			q = "video"
			if d < groupsAudioSplit {
				q = "audio"
			}
		}
		r.waits[q] = append(r.waits[q], math.Max(0, *l.Started-*l.PublishedAt))
	}
	for _, w := range r.waits {
		sort.Float64s(w)
	}
	r.finished = len(ran)
	return nil
}

// writeGroupSamples saves the samples (t relative to t=0) as CSV.
func writeGroupSamples(path string, samples []groupSample, t0 time.Time) error {
	var b strings.Builder
	b.WriteString("t_seconds,slots,per_main\n")
	for _, s := range samples {
		var parts []string
		for g, n := range s.PerMain {
			parts = append(parts, g+"="+strconv.Itoa(n))
		}
		sort.Strings(parts)
		fmt.Fprintf(&b, "%.3f,%d,%s\n", s.At.Sub(t0).Seconds(), s.Slots, strings.Join(parts, " "))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
