package broker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// exampleApp is examples/app, whose tasks the real workers run.
func exampleApp(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "examples", "app")
}

// startAMQPWorker starts a real Celery worker named name (late acks, -c 2,
// prefetch multiplier 1) on queues (comma-separated, as -Q takes them)
// against the broker at url, in a process group of its own that is killed
// at cleanup.
func startAMQPWorker(t *testing.T, url, queues, name string) *harness.Process {
	t.Helper()
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	cmd := exec.Command("/usr/bin/python3", "-m", "celery", "-A", "tasks", "worker", "-Q", queues, "-c", "2",
		"--prefetch-multiplier=1", "--without-mingle", "--without-gossip", "-n", name, "-l", "WARNING")
	cmd.Dir = exampleApp(t)
	cmd.Env = append(os.Environ(), "CELERY_BROKER_URL="+url, "REVRX_ACKS_LATE=1")
	log, err := os.Create(filepath.Join(t.TempDir(), "worker.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	cmd.Stdout, cmd.Stderr = log, log
	p, err := harness.Start("celery worker", cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.KillTree)
	return p
}

// publishAMQP sends n tasks.sleep(seconds) to queue with the example producer.
func publishAMQP(t *testing.T, url, queue string, n int, seconds float64) {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", filepath.Join(exampleApp(t), "..", "producer.py"),
		"--burst", strconv.Itoa(n), "--seconds", strconv.FormatFloat(seconds, 'f', -1, 64), "--queue", queue)
	cmd.Env = append(os.Environ(), "CELERY_BROKER_URL="+url)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("producer: %v\n%s", err, out)
	}
}

// TestAMQPDeadWorkerMessagesComeBack: RabbitMQ requeues what a dead
// worker held unacked as soon as its connection closes, with no restore
// by the supervisor: SIGKILL to the worker main alone and the two late-ack
// messages it held are ready again within 2 s. Its pool processes, forked
// with the main's broker socket, must not keep the connection open: the
// log says how many of them were still alive when the messages came back
// (none, measured: Celery 5.2.6 / billiard 4.1 on Debian 12).
func TestAMQPDeadWorkerMessagesComeBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts RabbitMQ and a Celery worker")
	}
	t.Parallel()
	rabbit := harness.StartTestRabbit(t)
	url := rabbit.URL()
	worker := startAMQPWorker(t, url, "rq", "rq@%h")
	r, err := NewAMQP(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	read := func() AMQPQueue {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := r.Queues(ctx, []string{"rq"})
		if err != nil {
			return AMQPQueue{Ready: -1}
		}
		return got["rq"]
	}
	waitQueue := func(what string, d time.Duration, ok func(AMQPQueue) bool) (AMQPQueue, time.Duration) {
		t.Helper()
		start := time.Now()
		for {
			q := read()
			if ok(q) {
				return q, time.Since(start)
			}
			if time.Since(start) > d {
				t.Fatalf("after %s: %+v, waiting for %s", d, q, what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	publishAMQP(t, url, "rq", 4, 60)
	waitQueue("the worker to hold 2 of 4", 60*time.Second, func(q AMQPQueue) bool { return q.Consumers == 1 && q.Ready == 2 })

	children := harness.Children(worker.PID())
	if len(children) != 2 {
		t.Fatalf("worker main %d has children %v, want its 2 pool processes", worker.PID(), children)
	}
	if err := syscall.Kill(worker.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, took := waitQueue("the 2 held messages ready again", 10*time.Second, func(q AMQPQueue) bool { return q.Ready == 4 })
	alive := 0
	for _, pid := range children {
		if harness.Alive(pid) {
			alive++
		}
	}
	t.Logf("ready again %s after SIGKILL to the main alone; %d of its 2 pool processes still alive then", took.Round(time.Millisecond), alive)
	if took > 2*time.Second {
		t.Errorf("the dead worker's messages took %s to be ready again, want at most 2 s", took)
	}
}
