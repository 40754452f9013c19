package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/internal/harness"
)

// sharedRabbit is one private RabbitMQ node for the package's tests, each
// in a vhost of its own (rabbitVHost): a node takes seconds to start.
var sharedRabbit struct {
	once  sync.Once
	dir   string
	node  *harness.Rabbit
	err   error
	taken atomic.Int32 // vhosts handed out
}

// sharedVHosts is how many vhosts the shared node creates at boot (more
// than the package's RabbitMQ tests); a test past them gets one from
// rabbitmqctl.
const sharedVHosts = 24

func sharedVHost(i int) string { return fmt.Sprintf("t%02d", i) }

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
		vhosts := make([]string, sharedVHosts)
		for i := range vhosts {
			vhosts[i] = sharedVHost(i + 1)
		}
		if r.dir, r.err = os.MkdirTemp("", "revrx-rabbit-"); r.err == nil {
			r.node, r.err = harness.StartRabbit(context.Background(), harness.RabbitConfig{Dir: r.dir, VHosts: vhosts})
		}
	})
	if r.err != nil {
		t.Fatalf("shared RabbitMQ: %v", r.err)
	}
	if i := int(r.taken.Add(1)); i <= sharedVHosts {
		t.Logf("vhost %s", sharedVHost(i))
		return "amqp://guest:guest@" + r.node.Addr() + "/" + sharedVHost(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
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
