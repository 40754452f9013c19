//go:build linux

package pool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// endedTasks counts the "end" records per task id in a REVRX_RECORD file
// of the example app (none while it does not exist).
func endedTasks(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	ended := map[string]int{}
	for sc := bufio.NewScanner(bytes.NewReader(b)); sc.Scan(); {
		var rec struct{ Event, ID string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Event == "end" {
			ended[rec.ID]++
		}
	}
	return ended
}

// mustGrow grows e by n processes or fails the test.
func mustGrow(t *testing.T, e *Engine, n int) {
	t.Helper()
	if got, err := e.Grow(n); got != n || err != nil {
		t.Fatalf("Grow(%d) = %d, %v; want %d, nil", n, got, err, n)
	}
}

// waitsUntaken checks for a second that queue's one message stays ready,
// with no consumer and nothing reserved by e's worker main (when: the
// situation, for the message).
func waitsUntaken(t *testing.T, e *Engine, conn *amqp.Connection, queue, when string) {
	t.Helper()
	holds(t, time.Second, "1 ready, 0 consumers, nothing reserved "+when, func() bool {
		ready, consumers, _ := queueState(t, conn, queue)
		return ready == 1 && consumers == 0 && e.Reserved() == 0
	})
}

// TestEngineOnRabbitMQHoldsNothingAtSizeZero: with no pool process the
// worker main does not consume (prefetch 1 would otherwise let it take a
// message and hold it away from every other host); the first process
// starts the consumer, and stopping the last one cancels it again.
func TestEngineOnRabbitMQHoldsNothingAtSizeZero(t *testing.T) {
	r := sharedRabbit(t)
	record := filepath.Join(t.TempDir(), "record.jsonl")
	e := startEngine(t, r.URL(), 2, "zero", "REVRX_RECORD="+record)
	conn := dialRabbit(t, r)
	if _, consumers, ok := queueState(t, conn, "zero"); !ok || consumers != 0 {
		t.Fatalf("queue zero at size 0: declared %v, %d consumers; want declared, 0", ok, consumers)
	}
	publishRaw(t, conn, "zero", sleepTask("zero-1", 0.1))
	waitsUntaken(t, e, conn, "zero", "at size 0")

	mustGrow(t, e, 1)
	waitUntil(t, 20*time.Second, "the task run, the queue consumed", func() bool {
		ready, consumers, _ := queueState(t, conn, "zero")
		return endedTasks(t, record)["zero-1"] == 1 && ready == 0 && consumers == 1
	})
	waitUntil(t, 10*time.Second, "1 idle process", func() bool { return len(idleProcesses(e)) == 1 })

	if err := e.Stop(idleProcesses(e)[0].Name); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitUntil(t, 10*time.Second, "no process, no consumer", func() bool {
		_, consumers, _ := queueState(t, conn, "zero")
		return len(e.Workers()) == 0 && consumers == 0
	})
	publishRaw(t, conn, "zero", sleepTask("zero-2", 0.1))
	waitsUntaken(t, e, conn, "zero", "after the shrink to 0")
	if st := e.State(); st.Prefetch != 1 {
		t.Errorf("prefetch %d at size 0, want 1", st.Prefetch)
	}
}

// TestEngineOnRabbitMQStopsConsumingWhenItsLastProcessRetires: retiring
// the only (busy) process leaves no active one: the consumer is cancelled
// while its task runs to its end; after a reconnect (the consumer starts
// anew) size 0 still holds nothing, and a new process consumes again.
func TestEngineOnRabbitMQStopsConsumingWhenItsLastProcessRetires(t *testing.T) {
	r := sharedRabbit(t)
	record := filepath.Join(t.TempDir(), "record.jsonl")
	e := startEngine(t, r.URL(), 2, "retire", "REVRX_RECORD="+record)
	conn := dialRabbit(t, r)
	mustGrow(t, e, 1)
	publishRaw(t, conn, "retire", sleepTask("retire-1", 2))
	waitUntil(t, 10*time.Second, "the process busy", func() bool {
		ws := e.Workers()
		return len(ws) == 1 && ws[0].Process.Phase == ProcessBusy
	})
	if n, err := e.Drain(1); n != 1 || err != nil {
		t.Fatalf("Drain(1) = %d, %v; want 1, nil", n, err)
	}
	waitUntil(t, 5*time.Second, "no consumer while the retiring process runs its task", func() bool {
		_, consumers, _ := queueState(t, conn, "retire")
		ws := e.Workers()
		return consumers == 0 && len(ws) == 1 && ws[0].Process.Phase == ProcessRetiring
	})
	publishRaw(t, conn, "retire", sleepTask("retire-2", 0.1))
	waitUntil(t, 10*time.Second, "the retired process gone after its task", func() bool {
		return endedTasks(t, record)["retire-1"] == 1 && len(e.Workers()) == 0
	})

	pidbox := e.Node() + ".celery.pidbox" // its remote-control queue, consumed at every size
	before := consumerChannel(t, r, pidbox)
	ctlRows(t, r, "close_all_connections", "test")
	conn = dialRabbit(t, r)
	waitUntil(t, 20*time.Second, "the worker main consuming again on a new connection", func() bool {
		now := consumerChannel(t, r, pidbox)
		return now != "" && now != before
	})
	waitsUntaken(t, e, conn, "retire", "after the reconnect at size 0")
	mustGrow(t, e, 1)
	waitUntil(t, 20*time.Second, "the waiting task run", func() bool {
		_, consumers, _ := queueState(t, conn, "retire")
		return endedTasks(t, record)["retire-2"] == 1 && consumers == 1
	})
}
