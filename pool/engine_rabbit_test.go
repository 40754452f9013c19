//go:build linux

package pool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/revrx/revrx-supervise/internal/harness"
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

// TestEngineOnRabbitMQQuarantinesATaskThatKillsTwoProcesses: with
// acks_late and task_reject_on_worker_lost Celery requeues a task whose
// pool process died; at the second death the worker main copies the
// message as it came to killer.quarantine and acks it, so nothing is left
// in the queue or unacked.
func TestEngineOnRabbitMQQuarantinesATaskThatKillsTwoProcesses(t *testing.T) {
	r := sharedRabbit(t)
	e := startEngine(t, r.URL(), 2, "killer", "REVRX_ACKS_LATE=1", "REVRX_REJECT_ON_WORKER_LOST=1")
	conn := dialRabbit(t, r)
	mustGrow(t, e, 1)
	waitUntil(t, 10*time.Second, "1 idle process", func() bool { return len(idleProcesses(e)) == 1 })
	sent := sleepTask("killer-1", 30)
	sent.Headers["x-extra"] = "kept"
	sent.Priority, sent.ReplyTo = 3, "replies"
	publishRaw(t, conn, "killer", sent)
	killed := 0
	for range 2 {
		pid := 0
		waitUntil(t, 20*time.Second, "the task running (again, after Celery requeued it)", func() bool {
			for _, w := range e.Workers() {
				if w.Process.Phase == ProcessBusy && w.Process.TaskID == "killer-1" && w.PID != killed {
					pid = w.PID
				}
			}
			return pid != 0
		})
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed = pid
	}
	waitUntil(t, 10*time.Second, "the task quarantined", func() bool {
		ready, _, _ := queueState(t, conn, "killer.quarantine")
		return ready == 1
	})
	holds(t, time.Second, "nothing ready in killer after the quarantine", func() bool {
		ready, _, _ := queueState(t, conn, "killer")
		return ready == 0
	})
	if n := unackedIn(t, r, "killer"); n != 0 {
		t.Errorf("%d unacked in killer after the quarantine, want 0", n)
	}
	var losses []ProcessLoss
	waitUntil(t, 5*time.Second, "2 losses reported", func() bool {
		losses = append(losses, e.TakeReports().Losses...)
		return len(losses) == 2
	})
	if l := losses[1]; l.Quarantined != "killer.quarantine" || l.Deaths != 2 || l.TaskID != "killer-1" {
		t.Errorf("second loss %+v, want task killer-1 quarantined to killer.quarantine at 2 deaths", l)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	got, ok, err := ch.Get("killer.quarantine", true)
	if err != nil || !ok {
		t.Fatalf("get from killer.quarantine: %v, %v", ok, err)
	}
	if !bytes.Equal(got.Body, sent.Body) || got.Headers["id"] != "killer-1" || got.Headers["x-extra"] != "kept" ||
		got.ContentType != sent.ContentType || got.ContentEncoding != sent.ContentEncoding ||
		got.DeliveryMode != amqp.Persistent || got.Priority != 3 || got.ReplyTo != "replies" ||
		got.CorrelationId != "killer-1" {
		t.Errorf("quarantined %+v, want the message as it was published: %+v", got, sent)
	}
}

// malformedOnRabbitMQ are messages Celery 5.2.6 drops on RabbitMQ (acks
// or rejects without requeue) or dies of: a body that is not JSON, not
// UTF-8, JSON that is no task (a list, an empty object), a task whose body
// is not JSON, one of a content type the app does not accept, and a task
// body Request() cannot unpack (two elements instead of three).
func malformedOnRabbitMQ() []amqp.Publishing {
	task := func(id string) amqp.Table {
		return amqp.Table{"lang": "py", "task": "tasks.sleep", "id": id, "root_id": id,
			"retries": int32(0), "timelimit": []any{nil, nil}}
	}
	jsonMsg := func(body string, headers amqp.Table) amqp.Publishing {
		return amqp.Publishing{Body: []byte(body), ContentType: "application/json", ContentEncoding: "utf-8",
			Headers: headers, DeliveryMode: amqp.Persistent}
	}
	return []amqp.Publishing{
		jsonMsg("not json {{{", nil),
		jsonMsg("\xff\xfe\xfd invalid utf-8", nil),
		jsonMsg("[1,2]", nil),
		jsonMsg("{}", nil),
		jsonMsg("not json", task("bad-body")),
		{Body: []byte(`[[0.1], {}, {}]`), ContentType: "application/x-python-serialize", ContentEncoding: "binary",
			Headers: task("bad-type"), DeliveryMode: amqp.Persistent},
		jsonMsg(`[[0.1], {}]`, task("bad-unpack")),
	}
}

// TestEngineOnRabbitMQQuarantinesMalformedMessages: good tasks around
// malformed messages; the main stays up (same PID), every good task runs
// once, and each malformed message is in bad.quarantine as it was
// published, and reported.
func TestEngineOnRabbitMQQuarantinesMalformedMessages(t *testing.T) {
	r := sharedRabbit(t)
	record := filepath.Join(t.TempDir(), "record.jsonl")
	e := startEngine(t, r.URL(), 2, "bad", "REVRX_RECORD="+record)
	conn := dialRabbit(t, r)
	mustGrow(t, e, 1)
	waitUntil(t, 10*time.Second, "1 idle process", func() bool { return len(idleProcesses(e)) == 1 })
	main := e.State().Main.PID
	bad := malformedOnRabbitMQ()
	for i, id := range []string{"good-1", "good-2", "good-3", "good-4"} {
		publishRaw(t, conn, "bad", sleepTask(id, 0.05))
		if i == 1 {
			for _, m := range bad {
				publishRaw(t, conn, "bad", m)
			}
		}
	}
	waitUntil(t, 20*time.Second, "4 good tasks run and the malformed ones quarantined", func() bool {
		ready, _, _ := queueState(t, conn, "bad.quarantine")
		return len(endedTasks(t, record)) == 4 && ready == len(bad)
	})
	for id, n := range endedTasks(t, record) {
		if n != 1 {
			t.Errorf("task %s ran %d times", id, n)
		}
	}
	if st := e.State(); st.Main.PID != main || st.Main.Restarts != 0 {
		t.Errorf("main PID %d with %d restarts, was %d: malformed input must not take it down", st.Main.PID, st.Main.Restarts, main)
	}
	if q := e.TakeReports().Quarantines; len(q) != len(bad) || q[0].Queue != "bad" {
		t.Errorf("quarantine reports %+v, want %d of queue bad", q, len(bad))
	}
	checkQuarantined(t, conn, "bad.quarantine", bad)
}

// checkQuarantined takes every message of queue and compares them with
// want (in any order): body, content type and encoding, headers.
func checkQuarantined(t *testing.T, conn *amqp.Connection, queue string, want []amqp.Publishing) {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	key := func(body []byte, ct, enc string, headers amqp.Table) string {
		h, _ := json.Marshal(headers)
		return string(body) + "|" + ct + "|" + enc + "|" + string(h)
	}
	var gotKeys, wantKeys []string
	for _, p := range want {
		wantKeys = append(wantKeys, key(p.Body, p.ContentType, p.ContentEncoding, p.Headers))
	}
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if d.DeliveryMode != amqp.Persistent {
			t.Errorf("quarantined message %q is not persistent", d.Body)
		}
		gotKeys = append(gotKeys, key(d.Body, d.ContentType, d.ContentEncoding, d.Headers))
	}
	slices.Sort(gotKeys)
	slices.Sort(wantKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("quarantined:\n%q\nwant the messages as published:\n%q", gotKeys, wantKeys)
	}
}

// consumerPrefetch is the prefetch count of queue's consumer as RabbitMQ
// applies it (rabbitmqctl list_consumers), -1 without a consumer.
func consumerPrefetch(t *testing.T, r *harness.Rabbit, queue string) int {
	t.Helper()
	for _, f := range ctlRows(t, r, "list_consumers", "-s", "queue_name", "prefetch_count") {
		if len(f) == 2 && f[0] == queue {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("rabbitmqctl list_consumers: %q", f)
			}
			return n
		}
	}
	return -1
}

// brokerPrefetch waits until e's worker main has set the prefetch count
// want (its state push) and then checks, at most five times a second
// apart (rabbitmqctl costs a second or two of CPU a call), that RabbitMQ
// applies want to queue's consumer.
func brokerPrefetch(t *testing.T, r *harness.Rabbit, e *Engine, queue string, want int) {
	t.Helper()
	waitUntil(t, 20*time.Second, fmt.Sprintf("the main's prefetch at %d", want), func() bool { return e.State().Prefetch == want })
	got := -1
	for range 5 {
		if got = consumerPrefetch(t, r, queue); got == want {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("the consumer of %s has prefetch %d at the broker, want %d", queue, got, want)
}

// TestEngineOnRabbitMQPerConsumerQoS: where the prefetch count applies
// per consumer (Celery 5.5 with a quorum queue, RabbitMQ 4.3; made here by
// testdata/perconsumer, which makes Celery 5.2 ask for per-consumer QoS on
// a classic queue), a new count reaches only a new consumer: the worker
// main restarts its consumer when the pool grows or shrinks, so the
// count the broker applies follows processes x multiplier.
func TestEngineOnRabbitMQPerConsumerQoS(t *testing.T) {
	r := sharedRabbit(t)
	perConsumer, err := filepath.Abs("testdata/perconsumer")
	if err != nil {
		t.Fatal(err)
	}
	app, err := filepath.Abs("../examples/app")
	if err != nil {
		t.Fatal(err)
	}
	e := startEngine(t, r.URL(), 4, "perconsumer", "PYTHONPATH="+perConsumer+":"+app)
	mustGrow(t, e, 1)
	brokerPrefetch(t, r, e, "perconsumer", 1)
	mustGrow(t, e, 2)
	brokerPrefetch(t, r, e, "perconsumer", 3)
	idle := idleProcesses(e)
	waitUntil(t, 20*time.Second, "3 idle processes", func() bool { idle = idleProcesses(e); return len(idle) == 3 })
	if err := e.Stop(idle[0].Name); err != nil {
		t.Fatal(err)
	}
	brokerPrefetch(t, r, e, "perconsumer", 2)
}
