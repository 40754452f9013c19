package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/internal/harness"
)

// sharedRabbit is one private RabbitMQ node for the package's tests, each
// in a vhost of its own (rabbitVHost): a node takes seconds to start.
var sharedRabbit struct {
	once sync.Once
	dir  string
	node *harness.Rabbit
	err  error
}

// rabbitVHost returns the URL of a new vhost for t on the shared node
// (started at the first call), skipping t where rabbitmq-server is not
// installed.
func rabbitVHost(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(harness.DefaultRabbitServer); err != nil {
		t.Skip("rabbitmq-server not installed (make deps installs it)")
	}
	r := &sharedRabbit
	r.once.Do(func() {
		if r.dir, r.err = os.MkdirTemp("", "revrx-rabbit-"); r.err == nil {
			r.node, r.err = harness.StartRabbit(context.Background(), harness.RabbitConfig{Dir: r.dir})
		}
	})
	if r.err != nil {
		t.Fatalf("shared RabbitMQ: %v", r.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, err := r.node.AddVHost(ctx, strings.ReplaceAll(t.Name(), "/", "."))
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// stopSharedRabbit stops the shared node, if it was started.
func stopSharedRabbit() {
	r := &sharedRabbit
	if r.node != nil {
		_ = r.node.Stop(context.Background())
	}
	if r.dir != "" {
		os.RemoveAll(r.dir)
	}
}

// rabbitQueue is a queue's ready and unacknowledged messages and consumers
// in the vhost of url, as rabbitmqctl lists them (0s for a missing queue).
func rabbitQueue(t *testing.T, url, queue string) (ready, unacked, consumers int) {
	t.Helper()
	vhost := url[strings.LastIndex(url, "/")+1:]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := sharedRabbit.node.Ctl(ctx, "list_queues", "-q", "--no-table-headers", "-p", vhost,
		"name", "messages_ready", "messages_unacknowledged", "consumers")
	if err != nil {
		t.Fatalf("list_queues: %v: %s", err, out)
	}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == queue {
			ready, _ = strconv.Atoi(f[1])
			unacked, _ = strconv.Atoi(f[2])
			consumers, _ = strconv.Atoi(f[3])
		}
	}
	return ready, unacked, consumers
}

// rabbitReady is a queue's ready messages and consumers read as the
// supervisor reads them (a passive declare: milliseconds, where
// rabbitmqctl takes a second or more).
func rabbitReady(t *testing.T, url, queue string) (ready int64, consumers int) {
	t.Helper()
	a, err := broker.NewAMQP(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := a.Queues(ctx, []string{queue})
	if err != nil {
		t.Fatalf("read %s: %v", queue, err)
	}
	return got[queue].Ready, got[queue].Consumers
}
