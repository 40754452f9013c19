package main

import (
	"context"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/supervisor"
)

// workersOnly is a supervisor.Pool of fixed workers (only Workers is
// called by amqpUnit).
type workersOnly struct {
	supervisor.Pool
	ws []supervisor.Worker
}

func (p workersOnly) Workers() []supervisor.Worker { return p.ws }

// A reading of 0 consumers is a failed read only while one of the unit's
// own workers provably consumes: it runs (not starting, draining or
// stopping), its main has sent an event, and for a pool process, new
// tasks can go to it.
func TestAMQPUnitConsuming(t *testing.T) {
	whole := func(st supervisor.WorkerState, pid int) supervisor.Worker {
		return supervisor.Worker{Name: "w1@h", PID: pid, State: st}
	}
	proc := func(st supervisor.WorkerState, ph supervisor.ProcessPhase) supervisor.Worker {
		return supervisor.Worker{Name: "w1@h#1", PID: 77, NodePID: 10, State: st, Process: &supervisor.Process{Phase: ph}}
	}
	cases := []struct {
		name string
		ws   []supervisor.Worker
		seen []int
		want bool
	}{
		{"no worker", nil, []int{10}, false},
		{"whole worker running, seen", []supervisor.Worker{whole(supervisor.WorkerRunning, 10)}, []int{10}, true},
		{"whole worker running, no event yet", []supervisor.Worker{whole(supervisor.WorkerRunning, 10)}, []int{11}, false},
		{"whole worker draining", []supervisor.Worker{whole(supervisor.WorkerDraining, 10)}, []int{10}, false},
		{"whole worker stopping", []supervisor.Worker{whole(supervisor.WorkerStopping, 10)}, []int{10}, false},
		{"process idle, main seen", []supervisor.Worker{proc(supervisor.WorkerRunning, supervisor.ProcessIdle)}, []int{10}, true},
		{"process busy, main seen", []supervisor.Worker{proc(supervisor.WorkerRunning, supervisor.ProcessBusy)}, []int{10}, true},
		{"process idle, main not seen", []supervisor.Worker{proc(supervisor.WorkerRunning, supervisor.ProcessIdle)}, nil, false},
		{"process starting", []supervisor.Worker{proc(supervisor.WorkerStarting, supervisor.ProcessStarting)}, []int{10}, false},
		{"process retiring", []supervisor.Worker{proc(supervisor.WorkerDraining, supervisor.ProcessRetiring)}, []int{10}, false},
		{"main stopping", []supervisor.Worker{proc(supervisor.WorkerStopping, supervisor.ProcessIdle)}, []int{10}, false},
		{"one of two", []supervisor.Worker{whole(supervisor.WorkerStopping, 10), whole(supervisor.WorkerRunning, 12)}, []int{10, 12}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := amqpBroker{}.forUnit(workersOnly{ws: tc.ws}).(*amqpUnit)
			for _, pid := range tc.seen {
				u.sawEventFrom(pid)
			}
			if got := u.consuming(); got != tc.want {
				t.Errorf("consuming() = %v, want %v", got, tc.want)
			}
		})
	}
}

// Against a real RabbitMQ: while the unit's worker consumes, a queue that
// reads 0 consumers fails the whole read (the policy holds the pool); with
// a consumer on it the read is its ready messages; with no worker of ours
// consuming, 0 consumers is a plain reading.
func TestAMQPUnitBacklogs(t *testing.T) {
	if testing.Short() {
		t.Skip("uses a RabbitMQ node")
	}
	t.Parallel()
	url := rabbitVHost(t)
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("q", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ch.PublishWithContext(ctx, "", "q", false, false, amqp.Publishing{Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	a, err := broker.NewAMQP(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	running := []supervisor.Worker{{Name: "w1@h", PID: 10, State: supervisor.WorkerRunning}}
	ours := amqpBroker{a}.forUnit(workersOnly{ws: running}).(*amqpUnit)
	idle := amqpBroker{a}.forUnit(workersOnly{}).(*amqpUnit)
	ours.sawEventFrom(10)
	if got, err := idle.Backlogs(ctx, []string{"q", "missing"}, time.Now()); err != nil || got["q"].Depth != 1 || got["missing"].Depth != 0 {
		t.Errorf("no worker of ours: %+v, %v; want q 1 and missing 0", got, err)
	}
	if got, err := ours.Backlogs(ctx, []string{"q"}, time.Now()); err == nil || !strings.Contains(err.Error(), "0 consumers") {
		t.Errorf("our worker consuming, 0 consumers read: %+v, %v; want a failed read", got, err)
	}
	if err := ch.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Consume("q", "c", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.PublishWithContext(ctx, "", "q", false, false, amqp.Publishing{Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "1 ready, 1 unacked with a consumer", func() bool {
		got, err := ours.Backlogs(ctx, []string{"q"}, time.Now())
		return err == nil && got["q"].Depth == 1
	})
}

// A task-sent event for a watched queue is a queue change; one for another
// queue is not; the watch is up while the events are.
func TestAMQPUnitTaskSentIsAChange(t *testing.T) {
	u := amqpBroker{}.forUnit(workersOnly{}).(*amqpUnit)
	ctx, cancel := context.WithCancel(context.Background())
	changes, states := make(chan struct{}, 4), make(chan bool, 4)
	done := make(chan error, 1)
	go func() {
		done <- u.SubscribeChanges(ctx, []string{"reports"}, func() { changes <- struct{}{} }, func(up bool) { states <- up })
	}()
	if up := <-states; up {
		t.Error("watch up before the events are")
	}
	u.eventsState(true)
	if up := <-states; !up {
		t.Error("watch not up with the events")
	}
	u.taskSent("other")
	u.taskSent("reports")
	select {
	case <-changes:
	case <-time.After(time.Second):
		t.Fatal("no change for a task sent to a watched queue")
	}
	select {
	case <-changes:
		t.Error("a change for a task sent to another queue")
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("SubscribeChanges = %v at the end, want nil", err)
	}
}
