package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/pool"
)

// The pool stops workers through AMQP's remote control as through Redis's.
var _ pool.RemoteControl = (*AMQP)(nil)

// TestAMQPControl against a private RabbitMQ and a real Celery worker on
// q1 and q2: CancelConsumers returns with the worker's answer and q1 soon
// has no consumer, so a task published to it stays ready while q2 is
// still consumed; after the control connection drops, the next call dials
// again; AddConsumers makes the worker take the task; a call to a worker
// that does not exist gives ErrNoReply at the context's deadline;
// ShutdownWorkers makes the worker exit 0; a call waiting when the broker
// closes the connection fails with ErrControlClosed.
func TestAMQPControl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts RabbitMQ and a Celery worker")
	}
	t.Parallel()
	rabbit := harness.StartTestRabbit(t)
	url := rabbit.URL()
	const name = "ctl@test"
	worker := startAMQPWorker(t, url, "q1,q2", name)
	a, err := NewAMQP(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	awaitAMQPPing(t, a, name)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := a.CancelConsumers(ctx, name, []string{"q1"}); err != nil {
		t.Fatalf("CancelConsumers = %v", err)
	}
	answered := time.Now()
	// The worker answers before it cancels (on its loop's next turn).
	awaitQueues(t, a, "q1's consumer gone", func(q map[string]AMQPQueue) bool { return q["q1"].Consumers == 0 })
	t.Logf("cancel answered in %s; q1 read with 0 consumers %s after the answer",
		answered.Sub(start).Round(time.Millisecond), time.Since(answered).Round(time.Millisecond))
	publishAMQP(t, url, "q1", 1, 0.1)
	got := awaitQueues(t, a, "the task ready in q1", func(q map[string]AMQPQueue) bool { return q["q1"].Ready == 1 })
	if got["q1"].Consumers != 0 || got["q2"].Consumers != 1 {
		t.Fatalf("after cancel: %+v, want q1 with 0 consumers and q2 with 1", got)
	}

	a.ctl.drop(a.ctl.sess) // as if the broker had closed the connection
	if err := a.AddConsumers(ctx, name, []string{"q1"}); err != nil {
		t.Fatalf("AddConsumers after the control connection closed = %v", err)
	}
	awaitQueues(t, a, "the worker to consume q1 and take its task", func(q map[string]AMQPQueue) bool {
		return q["q1"].Consumers == 1 && q["q1"].Ready == 0
	})

	nctx, ncancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer ncancel()
	start = time.Now()
	err = a.CancelConsumers(nctx, "nobody@test", []string{"q1"})
	if took := time.Since(start); !errors.Is(err, ErrNoReply) || took > time.Second {
		t.Fatalf("CancelConsumers(nobody) = %v after %s, want ErrNoReply after 500 ms", err, took)
	}

	if err := a.ShutdownWorkers(ctx, []string{name}); err != nil {
		t.Fatalf("ShutdownWorkers = %v", err)
	}
	select {
	case <-worker.Done():
		if code := worker.ExitCode(); code != 0 {
			t.Fatalf("worker exited %d after the remote shutdown, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not exit within 10 s of the remote shutdown")
	}
	checkControlClosed(t, a, rabbit)
}

// checkControlClosed: a call waiting for a reply when the broker closes
// the connection ends with ErrControlClosed, not at its deadline.
func checkControlClosed(t *testing.T, a *AMQP, rabbit *harness.Rabbit) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- a.CancelConsumers(ctx, "nobody@test", []string{"q1"}) }()
	for waiting := 0; waiting == 0; {
		select {
		case err := <-errc:
			t.Fatalf("CancelConsumers(nobody) = %v before the connection closed", err)
		case <-time.After(10 * time.Millisecond):
		}
		a.ctl.mu.Lock()
		if s := a.ctl.sess; s != nil {
			s.replies.mu.Lock()
			waiting = len(s.replies.waiting)
			s.replies.mu.Unlock()
		}
		a.ctl.mu.Unlock()
	}
	if out, err := rabbit.Ctl(ctx, "close_all_connections", "test"); err != nil {
		t.Fatalf("rabbitmqctl close_all_connections: %v\n%s", err, out)
	}
	if err := <-errc; !errors.Is(err, ErrControlClosed) || ctx.Err() != nil {
		t.Fatalf("CancelConsumers while the broker closed the connection = %v, want ErrControlClosed before the deadline", err)
	}
}

// awaitAMQPPing waits until the worker answers ping (its pidbox consumer
// starts after its task consumers); any error but ErrNoReply fails at once.
func awaitAMQPPing(t *testing.T, a *AMQP, worker string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := a.callControl(ctx, "ping", map[string]any{}, worker)
		cancel()
		if err == nil {
			return
		}
		if !errors.Is(err, ErrNoReply) || time.Now().After(deadline) {
			t.Fatalf("the worker never answered ping: %v", err)
		}
	}
}

// awaitQueues reads q1 and q2 until ok holds (10 s at most) and returns
// the last reading.
func awaitQueues(t *testing.T, a *AMQP, what string, ok func(map[string]AMQPQueue) bool) map[string]AMQPQueue {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := a.Queues(ctx, []string{"q1", "q2"})
		cancel()
		if err == nil && ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: last read %+v, %v", what, got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
