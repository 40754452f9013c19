package main

import (
	"context"
	"sync"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// restartResult is what one broker restart looked like from the
// supervisor's /metrics (and, on RabbitMQ, from the queue's consumers).
// Durations are -1 when the event was not seen.
type restartResult struct {
	at         time.Time
	down       time.Duration // stop -> the broker answers again (Redis PING, AMQP connection.start)
	sawZero    time.Duration // stop -> revrx_broker_up 0 first seen
	recovered  time.Duration // broker answering again -> revrx_broker_up 1 (after a 0)
	eventsBack time.Duration // broker answering again -> revrx_events_up 1 (after a 0)
	errors     float64       // revrx_broker_errors_total added from the stop to the recovery
	consumers  time.Duration // RabbitMQ: broker answering again -> a worker consumes the chaos queue again
	measured   bool          // consumers was measured (RabbitMQ)
	err        error
}

// restartBroker takes the broker down (the mode's stopServer), keeps it
// down for `down`, starts it again on the same port from the same data,
// and measures how long the supervisor takes to read the broker again.
// Publishing and other writers wait on the gate meanwhile; their
// connections are dropped.
func (r *run) restartBroker(ctx context.Context, down time.Duration) restartResult {
	res := restartResult{at: time.Now(), sawZero: -1, recovered: -1, eventsBack: -1, consumers: -1}
	sup := r.cur.Load()
	errsBefore, _ := metricSum(sup.last(), "revrx_broker_errors_total")
	r.gate.Lock()
	locked := true
	defer func() {
		if locked {
			r.gate.Unlock()
		}
	}()
	dw := watchDown(sup, res.at)
	if res.err = r.b.stopServer(ctx); res.err != nil {
		dw.end()
		return res
	}
	if res.err = harness.Sleep(ctx, time.Until(res.at.Add(down))); res.err == nil {
		res.err = r.b.startServer(ctx)
	}
	var zeroEvents bool
	res.sawZero, zeroEvents = dw.end()
	if res.err != nil {
		return res
	}
	upAt := time.Now()
	res.down = upAt.Sub(res.at)
	r.gate.Unlock()
	locked = false
	r.logf("%s back after %.1fs down", r.cfg.broker, res.down.Seconds())
	var after sync.WaitGroup // the mode's measures run beside awaitRecovery (other fields of res)
	after.Go(func() { r.b.afterRestart(ctx, upAt, &res) })
	res.err = r.awaitRecovery(ctx, sup, upAt, zeroEvents, &res)
	after.Wait()
	if errs, ok := metricSum(sup.last(), "revrx_broker_errors_total"); ok {
		res.errors = errs - errsBefore
	}
	return res
}

// downWatch polls the supervisor's /metrics every 100 ms while the broker
// is being stopped, is down and is being started again.
type downWatch struct {
	stop    chan struct{}
	done    chan struct{}
	sawZero time.Duration // from the stop: revrx_broker_up 0 first seen (-1: not)
	events  bool          // revrx_events_up 0 seen
}

// watchDown starts a downWatch of sup's /metrics from at.
func watchDown(sup *supervisorProc, at time.Time) *downWatch {
	w := &downWatch{stop: make(chan struct{}), done: make(chan struct{}), sawZero: -1}
	go func() {
		defer close(w.done)
		every(w.stop, 100*time.Millisecond, false, func(time.Time) {
			if m, err := sup.metrics(); err == nil {
				if v, ok := m["revrx_broker_up"]; ok && v == 0 && w.sawZero < 0 {
					w.sawZero = time.Since(at)
				}
				w.events = w.events || m["revrx_events_up"] == 0
			}
		})
	}()
	return w
}

// end stops the watch and returns what it saw.
func (w *downWatch) end() (sawZero time.Duration, zeroEvents bool) {
	close(w.stop)
	<-w.done
	return w.sawZero, w.events
}

// awaitRecovery polls /metrics every 50 ms for up to 30 s after the
// broker is back, until revrx_broker_up and revrx_events_up are 1 again.
func (r *run) awaitRecovery(ctx context.Context, sup *supervisorProc, upAt time.Time, zeroEvents bool, res *restartResult) error {
	for time.Since(upAt) < 30*time.Second {
		m, err := sup.metrics()
		if err == nil {
			b, e := m["revrx_broker_up"], m["revrx_events_up"]
			if b == 0 && res.sawZero < 0 {
				res.sawZero = time.Since(res.at)
			}
			zeroEvents = zeroEvents || e == 0
			if b == 1 && res.sawZero >= 0 && res.recovered < 0 {
				res.recovered = time.Since(upAt)
			}
			if e == 1 && zeroEvents && res.eventsBack < 0 {
				res.eventsBack = time.Since(upAt)
			}
			if res.recovered >= 0 && (res.eventsBack >= 0 || !zeroEvents) {
				return nil
			}
			if res.sawZero < 0 && time.Since(upAt) > 5*time.Second {
				return nil // never saw the broker down: nothing to recover from
			}
		}
		if err := harness.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}
