package broker

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// TestAMQPQueues against a private RabbitMQ: ready messages are counted,
// unacked ones are not, a missing queue reads as missing without
// breaking the reads after it, and a stopped broker is a failed read.
func TestAMQPQueues(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a RabbitMQ node")
	}
	t.Parallel()
	rabbit := harness.StartTestRabbit(t)
	conn, err := amqp.Dial(rabbit.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// As Celery declares a task queue: durable, bound to a direct exchange
	// of its name; published through the default exchange.
	if _, err := ch.QueueDeclare("reports", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if err := ch.PublishWithContext(ctx, "", "reports", false, false, amqp.Publishing{Body: []byte("{}"), DeliveryMode: amqp.Persistent}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewAMQP(rabbit.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	read := func() map[string]AMQPQueue {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		got, err := r.Queues(rctx, []string{"missing", "reports", "missing"})
		if err != nil {
			t.Fatalf("Queues: %v", err)
		}
		return got
	}
	waitReady := func(want int64) map[string]AMQPQueue {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := read()
			if got["reports"].Ready == want || time.Now().After(deadline) {
				return got
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	got := waitReady(3)
	if got["reports"] != (AMQPQueue{Ready: 3}) || !got["missing"].Missing {
		t.Fatalf("first read %+v, want reports 3 ready and 0 consumers, missing missing", got)
	}
	// A consumer takes one message and holds it unacked: 2 ready, 1 consumer.
	if err := ch.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume("reports", "w1", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-deliveries
	if got := waitReady(2); got["reports"] != (AMQPQueue{Ready: 2, Consumers: 1}) {
		t.Errorf("with one unacked: %+v, want 2 ready and 1 consumer", got["reports"])
	}
	checkAMQPPattern(t, r)

	if err := rabbit.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if got, err := r.Queues(rctx, []string{"reports"}); err == nil {
		t.Errorf("with the broker stopped: %+v and no error", got)
	}
}

// BenchmarkAMQPQueues is one backlog read of 3 queues (10 messages each)
// on a private RabbitMQ: the supervisor's side per read (ns/op), the
// broker's CPU per read above its own idle use (broker-µs/op), and that
// idle use (broker-idle-ms/s).
func BenchmarkAMQPQueues(b *testing.B) {
	rabbit := harness.StartTestRabbit(b)
	conn, err := amqp.Dial(rabbit.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	queues := []string{"reports", "celery", "urgent"}
	ctx := context.Background()
	for _, q := range queues {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			b.Fatal(err)
		}
		for range 10 {
			if err := ch.PublishWithContext(ctx, "", q, false, false, amqp.Publishing{Body: []byte("{}")}); err != nil {
				b.Fatal(err)
			}
		}
	}
	r, err := NewAMQP(rabbit.URL(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Queues(ctx, queues); err != nil { // connect outside the loop
		b.Fatal(err)
	}
	idle0, idleAt := rabbit.CPU(), time.Now()
	time.Sleep(2 * time.Second) // the node's own CPU while nobody reads
	idlePerSec := float64(rabbit.CPU()-idle0) / time.Since(idleAt).Seconds()
	b.ReportAllocs()
	cpu0, start := rabbit.CPU(), time.Now()
	for b.Loop() {
		if _, err := r.Queues(ctx, queues); err != nil {
			b.Fatal(err)
		}
	}
	reads := float64(rabbit.CPU()-cpu0) - idlePerSec*time.Since(start).Seconds()
	b.ReportMetric(reads/float64(time.Microsecond)/float64(b.N), "broker-µs/op")
	b.ReportMetric(idlePerSec/float64(time.Millisecond), "broker-idle-ms/s")
}
