package main

import (
	"sync"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// brokerSample is one look at the unacked hash and the queue list.
type brokerSample struct {
	at      time.Time
	unacked int64
	queued  int64
	ok      bool // false while Redis did not answer
}

// brokerWatch samples HLEN unacked and LLEN chaos from Redis on a
// connection of its own (failures while Redis is down are samples too).
type brokerWatch struct {
	rc     *harness.Client
	mu     sync.Mutex
	series []brokerSample
}

// take samples once.
func (w *brokerWatch) take(now time.Time) brokerSample {
	s := brokerSample{at: now}
	r, err := w.rc.Pipeline([][]string{{"HLEN", "unacked"}, {"LLEN", chaosQueue}})
	if err == nil {
		u, err1 := harness.Int(r[0], nil)
		q, err2 := harness.Int(r[1], nil)
		s.unacked, s.queued, s.ok = u, q, err1 == nil && err2 == nil
	}
	w.mu.Lock()
	w.series = append(w.series, s)
	w.mu.Unlock()
	return s
}

// run samples every interval until stop closes.
func (w *brokerWatch) run(stop <-chan struct{}, interval time.Duration) {
	every(stop, interval, false, func(now time.Time) { w.take(now) })
}

// firstEmptyAfter is the first good sample at or after t with an empty
// unacked hash (ok false: none).
func (w *brokerWatch) firstEmptyAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.series {
		if s.ok && !s.at.Before(t) && s.unacked == 0 {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// latest is the last good sample.
func (w *brokerWatch) latest() (brokerSample, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.series) - 1; i >= 0; i-- {
		if w.series[i].ok {
			return w.series[i], true
		}
	}
	return brokerSample{}, false
}

// pollMetrics scrapes the current supervisor's /metrics every interval, so
// that its counters are known even after it exits.
func (r *run) pollMetrics(stop <-chan struct{}, interval time.Duration) {
	every(stop, interval, false, func(time.Time) {
		if s := r.cur.Load(); s != nil && !s.proc.Exited() {
			_, _ = s.metrics()
		}
	})
}
