package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// Broker kinds (-broker): every run gets a fresh private one.
const (
	brokerRedis  = "redis"
	brokerRabbit = "rabbitmq"
)

// runBroker is one run's private broker, started fresh in its directory.
type runBroker interface {
	url() string
	// left counts the messages still in queues, ready or unacked, once the
	// contender has stopped, and writes what the broker holds to dir to
	// explain a lost task.
	left(dir string, queues ...string) (int, error)
	stop()
}

// startRunBroker empties dir (creating it) and starts a private broker of
// the kind -broker names there: a run's fresh start. The caller stops it.
func (h *bench) startRunBroker(ctx context.Context, dir string) (runBroker, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if h.broker == brokerRabbit {
		r, err := harness.StartRabbit(ctx, harness.RabbitConfig{Dir: filepath.Join(dir, "rabbitmq")})
		if err != nil {
			return nil, err
		}
		return rabbitRun{r}, nil
	}
	rds, err := h.startRedis(ctx, dir)
	if err != nil {
		return nil, err
	}
	return redisRun{rds}, nil
}

// brokerText names the runs' broker in the reports.
func (h *bench) brokerText() string {
	if h.broker == brokerRabbit {
		return "rabbitmq-server node (a classic durable queue, Celery's own declaration)"
	}
	return "redis-server"
}

type redisRun struct{ *harness.Redis }

func (r redisRun) url() string { return r.URL(0) }

func (r redisRun) left(dir string, queues ...string) (int, error) {
	return leftInRedis(r.Redis, dir, queues...)
}

func (r redisRun) stop() { stopRedis(r.Redis) }

type rabbitRun struct{ *harness.Rabbit }

func (r rabbitRun) url() string { return r.URL() }

// left sums the queues' ready and unacknowledged messages (rabbitmqctl
// list_queues) and keeps the listing in dir/rabbit-queues.txt.
func (r rabbitRun) left(dir string, queues ...string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := r.Ctl(ctx, "list_queues", "-q", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged", "consumers")
	if err != nil {
		return 0, fmt.Errorf("rabbitmqctl list_queues: %w: %s", err, out)
	}
	_ = os.WriteFile(filepath.Join(dir, "rabbit-queues.txt"), []byte(out+"\n"), 0o644)
	n := 0
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 3 || !slices.Contains(queues, f[0]) {
			continue
		}
		ready, err1 := strconv.Atoi(f[1])
		unacked, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("rabbitmqctl list_queues: unexpected line %q", line)
		}
		n += ready + unacked
	}
	return n, nil
}

// stop stops the node and removes its database, logs aside.
func (r rabbitRun) stop() {
	if err := r.Stop(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	_ = os.RemoveAll(filepath.Join(r.Dir, "mnesia"))
}
