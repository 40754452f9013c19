package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/revrx/revrx-supervise/internal/harness"
)

func TestDecodeAMQPEvents(t *testing.T) {
	beat := `{"hostname": "w1@h", "utcoffset": 0, "pid": 7, "clock": 3, "freq": 2.0,
		"active": 1, "processed": 4, "loadavg": [0.1, 0.2, 0.3], "sw_ident": "py-celery",
		"timestamp": 1700000000.5, "type": "worker-heartbeat"}`
	multi := `[{"hostname": "w1@h", "uuid": "a", "name": "tasks.sleep", "args": "(0,)",
		"eta": null, "pid": 7, "timestamp": 1.5, "type": "task-received"},
		{"hostname": "w1@h", "uuid": "a", "pid": 7, "timestamp": 2.5, "type": "task-started"},
		{"hostname": "w1@h", "uuid": "a", "result": "None", "runtime": 0.25, "pid": 7,
		"timestamp": 3.0, "type": "task-succeeded"}]`
	tests := []struct {
		name    string
		d       amqp.Delivery
		want    []Event
		wantErr bool
	}{
		{"heartbeat", amqp.Delivery{ContentType: "application/json", ContentEncoding: "utf-8",
			RoutingKey: "worker.heartbeat", Body: []byte(beat)},
			[]Event{{Type: "worker-heartbeat", Hostname: "w1@h", PID: 7, Active: 1, Freq: 2, Timestamp: 1700000000.5}}, false},
		{"task.multi", amqp.Delivery{ContentType: "application/json", ContentEncoding: "utf-8",
			RoutingKey: "task.multi", Body: []byte(multi)},
			[]Event{
				{Type: "task-received", Hostname: "w1@h", UUID: "a", Name: "tasks.sleep", PID: 7, Timestamp: 1.5},
				{Type: "task-started", Hostname: "w1@h", UUID: "a", PID: 7, Timestamp: 2.5},
				{Type: "task-succeeded", Hostname: "w1@h", UUID: "a", Runtime: 0.25, PID: 7, Timestamp: 3},
			}, false},
		{"pickle", amqp.Delivery{ContentType: "application/x-python-serialize", Body: []byte(beat)}, nil, true},
		{"compressed", amqp.Delivery{ContentType: "application/json",
			Headers: amqp.Table{"compression": "application/x-gzip"}, Body: []byte(beat)}, nil, true},
		{"not json", amqp.Delivery{ContentType: "application/json", Body: []byte("heartbeat")}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAMQPEvents(&tt.d)
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrUndecodable)) {
				t.Fatalf("decodeAMQPEvents() error = %v, want error %v wrapping ErrUndecodable", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decodeAMQPEvents() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// eventRecorder collects what SubscribeEvents delivers and lets a test
// wait for it.
type eventRecorder struct {
	mu     sync.Mutex
	events []Event
	more   chan struct{} // a token after each event
	states chan bool
}

func newEventRecorder() *eventRecorder {
	return &eventRecorder{more: make(chan struct{}, 1), states: make(chan bool, 16)}
}

func (r *eventRecorder) handle(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

func (r *eventRecorder) onState(up bool) { r.states <- up }

// waitState fails the test unless the next onState call, within d, is up.
func (r *eventRecorder) waitState(t *testing.T, want bool, d time.Duration) {
	t.Helper()
	select {
	case got := <-r.states:
		if got != want {
			t.Fatalf("onState(%v), want onState(%v)", got, want)
		}
	case <-time.After(d):
		t.Fatalf("no onState(%v) within %s", want, d)
	}
}

// waitFor waits up to d until ok holds for the events so far; it reports
// whether it did.
func (r *eventRecorder) waitFor(d time.Duration, ok func([]Event) bool) bool {
	deadline := time.After(d)
	for {
		r.mu.Lock()
		done := ok(r.events)
		r.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-r.more:
		case <-deadline:
			return false
		}
	}
}

// startEventWorker starts a Celery worker of examples/app sending events
// (-E), consuming queue evq on broker url, as node host; it is killed at
// cleanup. It returns the worker's log file.
func startEventWorker(t *testing.T, url, host string) string {
	t.Helper()
	dir, err := filepath.Abs("../examples/app")
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "worker.log")
	p, err := harness.StartLogged("celery worker",
		[]string{python, "-m", "celery", "-A", "tasks", "worker", "-Q", "evq", "-E",
			"--without-mingle", "--without-gossip", "-c", "1", "-n", host},
		dir, append(os.Environ(), "CELERY_BROKER_URL="+url), logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.KillTree)
	return logPath
}

// tasksDone returns the ids of the tasks host received, if there are n of
// them and each also has task-started and task-succeeded from host.
func tasksDone(evs []Event, host string, n int) ([]string, bool) {
	seen := map[string]map[string]bool{}
	var ids []string
	for _, ev := range evs {
		if ev.Hostname != host || ev.UUID == "" {
			continue
		}
		if seen[ev.UUID] == nil {
			seen[ev.UUID] = map[string]bool{}
			ids = append(ids, ev.UUID)
		}
		seen[ev.UUID][ev.Type] = true
	}
	for _, s := range seen {
		if !s["task-received"] || !s["task-started"] || !s["task-succeeded"] {
			return ids, false
		}
	}
	return ids, len(ids) == n
}

// TestAMQPSubscribeEventsCelery runs a real Celery worker with events on a
// private RabbitMQ: worker-online and every task's received, started and
// succeeded events arrive with the worker's node name; after the broker
// closes every connection the subscription reports down, then up, and
// events flow again.
func TestAMQPSubscribeEventsCelery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a RabbitMQ node and a Celery worker")
	}
	requireCelery(t)
	const host = "evtest@testhost"
	rabbit := harness.StartTestRabbit(t)
	a, err := NewAMQP(rabbit.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec := newEventRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.SubscribeEvents(ctx, rec.handle, rec.onState) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("SubscribeEvents() = %v after cancel, want nil", err)
		}
	}()
	rec.waitState(t, true, 10*time.Second)

	workerLog := startEventWorker(t, rabbit.URL(), host)
	failWithLog := func(format string, args ...any) {
		t.Helper()
		b, _ := os.ReadFile(workerLog)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		t.Fatalf(format+"\nevents: %+v\nworker log:\n%s", append(args, rec.events, b)...)
	}
	online := func(evs []Event) bool {
		for _, ev := range evs {
			if ev.Type == "worker-online" && ev.Hostname == host {
				return true
			}
		}
		return false
	}
	if !rec.waitFor(60*time.Second, online) {
		failWithLog("no worker-online from %s", host)
	}
	publish(t, rabbit.URL(), "--burst", "3", "--seconds", "0", "-Q", "evq")
	waitTasks := func(n int, d time.Duration) {
		t.Helper()
		var ids []string
		if !rec.waitFor(d, func(evs []Event) (ok bool) {
			ids, ok = tasksDone(evs, host, n)
			return ok
		}) {
			failWithLog("tasks %v: want %d, each received, started and succeeded by %s", ids, n, host)
		}
	}
	waitTasks(3, 30*time.Second)

	if out, err := rabbit.Ctl(ctx, "close_all_connections", "revrx test"); err != nil {
		t.Fatalf("rabbitmqctl close_all_connections: %v: %s", err, out)
	}
	rec.waitState(t, false, 10*time.Second)
	rec.waitState(t, true, 10*time.Second)
	publish(t, rabbit.URL(), "--burst", "1", "--seconds", "0", "-Q", "evq")
	waitTasks(4, 60*time.Second)
	if n := a.UndecodedMessages(); n != 0 {
		t.Errorf("UndecodedMessages() = %d, want 0: Celery's own messages", n)
	}
}
