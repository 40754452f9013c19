package main

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"sort"
	"time"
)

// result is one contender's figures on one trace.
type result struct {
	Published   int
	Started     int
	Finished    int
	RunTwice    int
	LeftQueued  int // still in Redis (queue list + unacked) after the contender stopped
	Lost        int // published, never finished, and not in Redis any more
	WaitP50     float64
	WaitP95     float64
	WaitMax     float64
	WorkerSecs  float64 // ∫ slots dt over the horizon
	PssGBSecs   float64 // ∫ Σ Pss dt over the horizon, 1 GB = 1e9 bytes
	CPUSecs     float64 // CPU time of the contender's tree over the horizon
	Events      int     // changes of the slot count over the horizon
	PeakSlots   int
	Truncated   bool // the horizon ended before the producer did
	StopSeconds float64
	Load1       string
}

// taskLine is the part of a $REVRX_RECORD line the harness reads.
type taskLine struct {
	Event       string   `json:"event"`
	ID          string   `json:"id"`
	PublishedAt *float64 `json:"published_at"`
	Started     *float64 `json:"started"`
}

// taskRecord is what a record file says about the tasks.
type taskRecord struct {
	first  map[string]taskLine // each task's first "start" line
	starts map[string]int      // "start" lines per task
	ends   map[string]bool     // tasks with an "end" line
}

// loadRecord reads a $REVRX_RECORD file; a missing file is an empty record.
func loadRecord(path string) (taskRecord, error) {
	rec := taskRecord{first: map[string]taskLine{}, starts: map[string]int{}, ends: map[string]bool{}}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return rec, nil
	}
	if err != nil {
		return rec, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l taskLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.ID == "" {
			continue
		}
		switch l.Event {
		case "start":
			rec.starts[l.ID]++
			prev, ok := rec.first[l.ID]
			if !ok || (l.Started != nil && prev.Started != nil && *l.Started < *prev.Started) {
				rec.first[l.ID] = l
			}
		case "end":
			rec.ends[l.ID] = true
		}
	}
	return rec, sc.Err()
}

// wait is a task's publish → first start, in seconds (false without the
// published_at stamp).
func (l taskLine) wait() (float64, bool) {
	if l.PublishedAt == nil || l.Started == nil {
		return 0, false
	}
	return math.Max(0, *l.Started-*l.PublishedAt), true
}

// readRecord fills the task counts and waits from the record file, the
// same way examples/summarize.py does (first start per id, nearest-rank
// percentiles).
func readRecord(path string, r *result) error {
	rec, err := loadRecord(path)
	if err != nil {
		return err
	}
	var waits []float64
	for _, l := range rec.first {
		if w, ok := l.wait(); ok {
			waits = append(waits, w)
		}
	}
	sort.Float64s(waits)
	r.Started, r.Finished = len(rec.starts), len(rec.ends)
	for _, n := range rec.starts {
		if n > 1 {
			r.RunTwice++
		}
	}
	r.WaitP50, r.WaitP95 = percentile(waits, 50), percentile(waits, 95)
	if len(waits) > 0 {
		r.WaitMax = waits[len(waits)-1]
	}
	return nil
}

// percentile is the nearest-rank percentile of an ascending slice.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := max(1, int(math.Ceil(q/100*float64(len(sorted)))))
	return sorted[rank-1]
}

// timed is a sample taken at a time.
type timed interface{ at() time.Time }

func (s sample) at() time.Time { return s.At }

// integrate returns ∫ f dt over [from, to]: each sample's value holds until
// the next sample (the last one until to).
func integrate[S timed](samples []S, from, to time.Time, f func(S) float64) float64 {
	var sum float64
	for i, s := range samples {
		end := to
		if i+1 < len(samples) && samples[i+1].at().Before(to) {
			end = samples[i+1].at()
		}
		start := s.at()
		if start.Before(from) {
			start = from
		}
		if end.After(start) {
			sum += f(s) * end.Sub(start).Seconds()
		}
	}
	return sum
}

// window fills the figures that come from the samples over [from, to].
func window(samples []sample, from, to time.Time, r *result) {
	r.WorkerSecs = integrate(samples, from, to, func(s sample) float64 { return float64(s.Slots) })
	r.PssGBSecs = integrate(samples, from, to, func(s sample) float64 { return float64(s.PssKB) * 1024 / 1e9 })
	var base, prev *sample
	for i := range samples {
		s := &samples[i]
		if !s.At.After(from) {
			base, prev = s, s
			continue
		}
		if s.At.After(to) {
			break
		}
		if prev != nil && s.Slots != prev.Slots {
			r.Events++
		}
		r.PeakSlots = max(r.PeakSlots, s.Slots)
		if base == nil {
			base = s
		}
		prev = s
		r.CPUSecs = s.CPU - base.CPU
	}
	if base != nil {
		r.PeakSlots = max(r.PeakSlots, base.Slots)
	}
}
