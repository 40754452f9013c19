package main

import (
	"context"
	"time"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/pool"
	"github.com/revrx/revrx-supervise/supervisor"
)

// brokerClient is the broker the program talks to, Redis or RabbitMQ (by
// the URL's scheme): the pools' remote control (their safe stop), the
// store of the learned patterns, and per unit the Queue and Events its
// control loop reads.
type brokerClient interface {
	pool.RemoteControl
	patternBackend
	// forUnit is the broker as the control loop of the unit whose pool is p
	// reads it.
	forUnit(p supervisor.Pool) unitBroker
	// drainGrace is the wait a whole worker's safe stop keeps between its
	// consumers' cancel and its warm stop (pool.Config.DrainGrace).
	drainGrace() time.Duration
	Close() error
}

// unitBroker is what one control loop reads from the broker.
type unitBroker interface {
	supervisor.Queue
	supervisor.Events
}

// patternBackend stores the learned patterns (broker.Redis and
// broker.AMQP each keep them their own way).
type patternBackend interface {
	Pattern(ctx context.Context, name string) (doc []byte, found bool, err error)
	SavePattern(ctx context.Context, name string, doc []byte, period time.Duration) error
}

// openBroker returns the client for cfg.URL's kind; it does no I/O for
// RabbitMQ and checks the configuration for Redis.
func openBroker(cfg broker.Config) (brokerClient, error) {
	if broker.IsAMQP(cfg.URL) {
		a, err := broker.NewAMQP(cfg.URL, cfg.Logger)
		if err != nil {
			return nil, err
		}
		return amqpBroker{a}, nil
	}
	r, err := broker.New(cfg)
	if err != nil {
		return nil, err
	}
	return redisBroker{r}, nil
}

// redisBroker is the Redis client: its control loops read it through
// brokerAdapter (with the held-hash restore and the list watcher).
type redisBroker struct{ *broker.Redis }

func (r redisBroker) forUnit(supervisor.Pool) unitBroker { return brokerAdapter{r.Redis} }

// drainGrace on Redis: kombu's BRPOP in flight at the cancel must have
// returned before the warm stop (pool.Config.DrainGrace).
func (redisBroker) drainGrace() time.Duration { return pool.DefaultDrainGrace }

// AMQPPollInterval is --poll-interval's default on RabbitMQ. Redis tells
// of every push to a queue (the supervisor then reads at once), RabbitMQ
// tells of nothing, so the backlog is read this often: a read of 3 queues
// costs the broker about 0.3 ms of CPU (docs/rabbitmq.md), 0.1 % of a core
// at this interval.
const AMQPPollInterval = 250 * time.Millisecond

// forBroker adapts cfg to its broker's kind: on RabbitMQ the poll interval
// defaults to AMQPPollInterval.
func forBroker(cfg config) config {
	if broker.IsAMQP(cfg.Broker.URL) && cfg.Sources[flagPollInterval] == "" {
		cfg.Supervisor.PollInterval = AMQPPollInterval
	}
	return cfg
}
