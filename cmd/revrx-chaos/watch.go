package main

import (
	"sync"
	"time"
)

// brokerSample is one look at the chaos queue: its waiting messages (the
// Redis list, RabbitMQ's ready ones) and the unacknowledged ones (the
// Redis unacked hash, RabbitMQ's messages_unacknowledged).
type brokerSample struct {
	at      time.Time
	unacked int64
	queued  int64
	ok      bool // false while Redis did not answer
}

// brokerWatch samples the chaos queue's waiting and unacknowledged
// messages through read (the mode's sample; failures while the broker is
// down are samples too).
type brokerWatch struct {
	read   func() (queued, unacked int64, err error)
	begun  chan struct{} // closed by begin
	once   sync.Once
	mu     sync.Mutex
	series []brokerSample
}

func newBrokerWatch(read func() (queued, unacked int64, err error)) *brokerWatch {
	return &brokerWatch{read: read, begun: make(chan struct{})}
}

// begin starts the sampling: only what the broker holds from the end of
// the load on is read (the drain, the SIGTERM phase, the unacked
// expectation), and on RabbitMQ each sample costs a rabbitmqctl call.
func (w *brokerWatch) begin() { w.once.Do(func() { close(w.begun) }) }

// take samples once, at now.
func (w *brokerWatch) take(now time.Time) brokerSample {
	s := brokerSample{at: now}
	if q, u, err := w.read(); err == nil {
		s.queued, s.unacked, s.ok = q, u, true
	}
	w.mu.Lock()
	w.series = append(w.series, s)
	w.mu.Unlock()
	return s
}

// run samples every interval from begin until stop closes.
func (w *brokerWatch) run(stop <-chan struct{}, interval time.Duration) {
	select {
	case <-stop:
		return
	case <-w.begun:
	}
	w.take(time.Now())
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
