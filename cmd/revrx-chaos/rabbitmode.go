package main

// The RabbitMQ mode: a private node (internal/harness/rabbit.go) on
// ports below the ephemeral range, restarted by stopping it (rabbitmqctl
// stop) and starting rabbitmq-server again on the same ports and data
// directory; tasks published with confirms (rabbitsend.go); the queues
// read with passive declares (fast: ready and consumers) and rabbitmqctl
// (slow: unacknowledged too; rabbitqueues.go); a SIGKILLed main's requeue
// timed by its consumer leaving (rabbitrequeue.go).

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/internal/harness"
)

// rabbitMode runs the suite on a private RabbitMQ node.
type rabbitMode struct {
	r      *run
	node   *harness.Rabbit
	tx     *amqpSender  // the publisher's connection
	aux    *amqpSender  // garbage on celeryev
	reader *broker.AMQP // passive declares: the workers consuming again after a restart
	final  []queueStat  // every queue once the last supervisor had stopped (inspect)

	mu      sync.Mutex
	watches map[*kill]*requeueWatch
}

// start starts the node and declares the chaos queue as Celery 5.2 does
// (a durable queue bound to a durable direct exchange of its name), so
// that tasks published before a worker exists wait in it.
func (m *rabbitMode) start(ctx context.Context, dir string) error {
	port, err1 := harness.StablePort(m.r.rng)
	dist, err2 := harness.StablePort(m.r.rng)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	node, err := harness.StartRabbit(ctx, harness.RabbitConfig{Dir: filepath.Join(dir, "rabbitmq"), Port: port, DistPort: dist})
	if err != nil {
		return err
	}
	m.node, m.watches = node, map[*kill]*requeueWatch{}
	m.tx = &amqpSender{url: node.URL(), name: "revrx-chaos tasks"}
	m.aux = &amqpSender{url: node.URL(), name: "revrx-chaos faults"}
	if m.reader, err = broker.NewAMQP(node.URL(), nil); err != nil {
		return err
	}
	return m.declareQueue()
}

// declareQueue declares the chaos exchange, queue and binding.
func (m *rabbitMode) declareQueue() error {
	conn, err := amqp.Dial(m.node.URL())
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	return errors.Join(ch.ExchangeDeclare(chaosQueue, amqp.ExchangeDirect, true, false, false, false, nil),
		func() error { _, err := ch.QueueDeclare(chaosQueue, true, false, false, false, nil); return err }(),
		ch.QueueBind(chaosQueue, chaosQueue, chaosQueue, false, nil))
}

func (m *rabbitMode) describe() string {
	return fmt.Sprintf("rabbitmq node %s on %s (data in %s)", m.node.Node, m.node.Addr(), m.node.Dir)
}

func (m *rabbitMode) url() string { return m.node.URL() }

func (*rabbitMode) stopWhat() string {
	return "rabbitmqctl stop (the whole node), then rabbitmq-server again on the same ports and data directory"
}

func (*rabbitMode) eventsWhere() string { return "exchange (topic)" }

func (m *rabbitMode) sender() taskSender { return tasks{m.tx} }

// sampleEvery: each sample is a rabbitmqctl call (about 1 s of CPU), made
// only from the end of the load on (brokerWatch.begin).
func (*rabbitMode) sampleEvery() time.Duration { return time.Second }

// stopServer stops the whole node (rabbitmqctl stop): every connection is
// closed; durable queues and persistent messages stay on disk.
func (m *rabbitMode) stopServer(ctx context.Context) error { return m.node.Stop(ctx) }

// startServer starts the node again on the same ports and data; the
// harness's connections dial again at their next use.
func (m *rabbitMode) startServer(ctx context.Context) error {
	if err := m.node.Start(ctx); err != nil {
		return err
	}
	m.tx.close()
	m.aux.close()
	return nil
}

// afterRestart measures how long after the node answered again the live
// worker mains (at least one) consume the chaos queue again (passive
// declares every 100 ms, for up to 60 s).
func (m *rabbitMode) afterRestart(ctx context.Context, upAt time.Time, res *restartResult) {
	res.measured = true
	for time.Since(upAt) < 60*time.Second {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		qs, err := m.reader.Queues(rctx, []string{chaosQueue})
		cancel()
		if err == nil && qs[chaosQueue].Consumers >= max(1, len(m.r.samp.aliveMains())) {
			res.consumers = time.Since(upAt)
			m.r.logf("workers consume the chaos queue again %.1fs after the node answered (%d consumer(s))", res.consumers.Seconds(), qs[chaosQueue].Consumers)
			return
		}
		if harness.Sleep(ctx, 100*time.Millisecond) != nil {
			return
		}
	}
}

// publishJunk publishes n garbage messages on the celeryev exchange, once
// the supervisor's event queue is consumed (revrx_events_up 1, waited
// for up to 15 s): the exchange drops what no queue is bound for.
func (m *rabbitMode) publishJunk(ctx context.Context, n int) error {
	sup := m.r.cur.Load()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if mt, err := sup.metrics(); err == nil && mt["revrx_events_up"] == 1 {
			break
		}
		if err := harness.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	res, err := m.aux.publish(junk(m.r.rng, n))
	if err != nil {
		return err
	}
	for _, s := range res {
		if s != sendTaken {
			return fmt.Errorf("%d garbage message(s): not all confirmed", n)
		}
	}
	return nil
}
