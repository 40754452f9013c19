package main

import (
	"sort"
	"time"
)

// predictFigures are one run's figures over a window of the trace.
type predictFigures struct {
	rampP95, p95, p50 float64 // waits (publish → first start) of the tasks published in the window; ramp: in a ramp window
	processSecs       float64 // ∫ pool processes dt over the window
	published, done   int     // tasks the trace publishes in the window; of those, finished
}

// predictTask is one task that started, as the record tells it.
type predictTask struct {
	at       float64 // its batch's offset in the trace
	wait     float64 // publish → first start, s
	finished bool
}

// predictTasks reads the record: each task that started, at the offset of
// its trace batch (from its published_at stamp against t0), with its wait
// and whether it finished; and how many tasks started more than once.
func predictTasks(path string, tr predictTrace, t0 time.Time) (tasks []predictTask, runTwice int, err error) {
	rec, err := loadRecord(path)
	if err != nil {
		return nil, 0, err
	}
	origin := float64(t0.UnixNano()) / 1e9
	for id, l := range rec.first {
		if rec.starts[id] > 1 {
			runTwice++
		}
		w, ok := l.wait()
		if !ok {
			continue
		}
		tasks = append(tasks, predictTask{at: tr.batchAt(*l.PublishedAt - origin), wait: w, finished: rec.ends[id]})
	}
	return tasks, runTwice, nil
}

// predictWindow computes the figures over [from, to) seconds of the trace:
// the waits and completions of the tasks published then, and the pool
// processes integrated over that time.
func predictWindow(tr predictTrace, tasks []predictTask, samples []groupSample, t0 time.Time, from, to float64) predictFigures {
	f := predictFigures{processSecs: integrate(samples, t0.Add(seconds(from)), t0.Add(seconds(to)),
		func(s groupSample) float64 { return float64(s.Slots) })}
	for _, b := range tr.batches {
		if b.at >= from && b.at < to {
			f.published += b.count
		}
	}
	var all, ramp []float64
	for _, x := range tasks {
		if x.at < from || x.at >= to {
			continue
		}
		all = append(all, x.wait)
		if tr.inRamp(x.at) {
			ramp = append(ramp, x.wait)
		}
		if x.finished {
			f.done++
		}
	}
	sort.Float64s(all)
	sort.Float64s(ramp)
	f.rampP95, f.p95, f.p50 = percentile(ramp, 95), percentile(all, 95), percentile(all, 50)
	return f
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
