//go:build linux

package pool

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// rabbit is one private RabbitMQ node shared by this package's tests (each
// with queues of its own): a node takes 5-9 s to start. The tests that run
// an Engine do not run in parallel: each has an app host of its own, whose
// reaper would take the exit status of another's worker main.
var rabbit struct {
	once       sync.Once
	node       *harness.Rabbit
	dir        string
	err        error
	stop, done chan struct{}
}

// sharedRabbit returns the shared node, started by the first test that
// asks for it; TestMain stops it after the tests.
func sharedRabbit(t *testing.T) *harness.Rabbit {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a RabbitMQ node; skipped with -short")
	}
	if _, err := os.Stat(harness.DefaultRabbitServer); err != nil {
		t.Skip("rabbitmq-server not installed (make deps installs it)")
	}
	rabbit.once.Do(startSharedRabbit)
	if rabbit.err != nil {
		t.Fatalf("shared RabbitMQ node: %v", rabbit.err)
	}
	return rabbit.node
}

// startSharedRabbit starts the node from a goroutine locked to its thread
// until the node has stopped: harness.Start's Pdeathsig fires when the
// thread that forked the node exits, and this package's pool retires the
// threads its starter goroutines end locked to.
func startSharedRabbit() {
	rabbit.stop, rabbit.done = make(chan struct{}), make(chan struct{})
	started := make(chan struct{})
	go func() {
		defer close(rabbit.done)
		runtime.LockOSThread() // never unlocked: the thread ends after the node
		rabbit.dir, rabbit.err = os.MkdirTemp("", "revrx-pool-rabbit-")
		if rabbit.err == nil {
			rabbit.node, rabbit.err = harness.StartRabbit(context.Background(), harness.RabbitConfig{Dir: rabbit.dir})
		}
		close(started)
		if rabbit.err == nil {
			<-rabbit.stop
			_ = rabbit.node.Stop(context.Background())
		}
	}()
	<-started
}

// stopSharedRabbit stops the shared node if a test started it.
func stopSharedRabbit() {
	if rabbit.stop == nil {
		return
	}
	close(rabbit.stop)
	<-rabbit.done
	if rabbit.dir != "" {
		_ = os.RemoveAll(rabbit.dir)
	}
}

// dialRabbit connects to r as guest until the test ends.
func dialRabbit(t *testing.T, r *harness.Rabbit) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(r.URL())
	if err != nil {
		t.Fatalf("dial RabbitMQ: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// queueState is a queue's ready messages and consumers (passive
// queue.declare, on a channel of its own: a missing queue closes it);
// ok is false if the queue does not exist.
func queueState(t *testing.T, conn *amqp.Connection, name string) (ready, consumers int, ok bool) {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotFound {
		return 0, 0, false
	}
	if err != nil {
		t.Fatalf("passive declare %s: %v", name, err)
	}
	return q.Messages, q.Consumers, true
}

// ctlRows runs rabbitmqctl against r with args and returns the fields of
// each line of its output. The engine's reaper (an app host makes the test
// process a subreaper) may reap rabbitmqctl before exec's Wait does: its
// output is whole then and only its exit status is lost (ECHILD), so the
// callers look for the lines they need.
func ctlRows(t *testing.T, r *harness.Rabbit, args ...string) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := r.Ctl(ctx, args...)
	if err != nil && !errors.Is(err, syscall.ECHILD) {
		t.Fatalf("rabbitmqctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	var rows [][]string
	for line := range strings.SplitSeq(out, "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

// unackedIn is queue's count of unacknowledged messages.
func unackedIn(t *testing.T, r *harness.Rabbit, queue string) int {
	t.Helper()
	for _, f := range ctlRows(t, r, "list_queues", "-s", "name", "messages_unacknowledged") {
		if len(f) == 2 && f[0] == queue {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("rabbitmqctl list_queues: %q", f)
			}
			return n
		}
	}
	t.Fatalf("rabbitmqctl list_queues: no line for %s", queue)
	return 0
}

// consumerChannel is the channel (an Erlang pid) of queue's first
// consumer, "" if it has none: a new one after a client reconnected.
func consumerChannel(t *testing.T, r *harness.Rabbit, queue string) string {
	t.Helper()
	for _, f := range ctlRows(t, r, "list_consumers", "-s", "queue_name", "channel_pid") {
		if len(f) == 2 && f[0] == queue {
			return f[1]
		}
	}
	return ""
}

// publishRaw publishes p to queue through the default exchange.
func publishRaw(t *testing.T, conn *amqp.Connection, queue string, p amqp.Publishing) {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	defer ch.Close()
	if err := ch.PublishWithContext(context.Background(), "", queue, false, false, p); err != nil {
		t.Fatalf("publish to %s: %v", queue, err)
	}
}

// sleepTask is a Celery protocol 2 message for tasks.sleep(seconds) with
// the given id, as Celery publishes it on RabbitMQ.
func sleepTask(id string, seconds float64) amqp.Publishing {
	body, _ := json.Marshal([]any{[]any{seconds}, map[string]any{}, map[string]any{}})
	return amqp.Publishing{
		Body: body, ContentType: "application/json", ContentEncoding: "utf-8",
		Headers:      amqp.Table{"lang": "py", "task": "tasks.sleep", "id": id, "root_id": id},
		DeliveryMode: amqp.Persistent, CorrelationId: id,
	}
}

// holds fails the test if cond turns false within d (a state that must
// last, such as a message nobody takes).
func holds(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if !cond() {
			t.Fatalf("%s stopped holding", what)
		}
	}
}
