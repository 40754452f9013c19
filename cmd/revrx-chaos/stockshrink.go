package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// The stock pool_shrink storm (full run only): what the pool engine's
// shrink avoids, shown on plain Celery. A stock `celery worker -c 10` of the
// sample app with Celery's default early acks, on a private Redis of its
// own, runs a few hundred short tasks while Celery's own remote control
// shrinks and grows its pool again and again (pool_shrink 3, pool_grow 3).
// billiard's Pool.shrink stops any process that has not *accepted* a job,
// so a process a job was just written to can be stopped with it
// (celery#7266): the task fails with WorkerLostError, and, acked early
// (Celery acks when the pool accepts the job), it is gone. The storm is
// reported, not asserted: the pool engine stops only provably idle
// processes (pool/ext revrx_children.py), and the main run's own count of
// lost tasks stands next to it.

// Stock storm settings: stockTasks tasks in stockBatches batches
// stockEvery apart; a shrink or a grow every stockCtlEvery; the whole storm
// within stockLimit.
const (
	stockConcurrency = 10
	stockTasks       = 400
	stockBatches     = 20
	stockEvery       = 500 * time.Millisecond
	stockCtlEvery    = 150 * time.Millisecond
	stockLimit       = 45 * time.Second
)

// stockResult is what the stock storm did. A task either finished, or is
// stranded (not run during the storm: its message went back to the queue
// only at the worker's warm stop), or is lost (in no Redis key).
type stockResult struct {
	published, finished int
	stranded            int
	lostStarted         int // started, never finished: acked early, its process stopped under it
	lostReceived        int // received by the worker, never started: its job went down with a stopped process
	lostUnseen          int // never received: popped as the worker stopped (kombu's BRPOP at shutdown)
	workerLost          int // "Task handler raised error: WorkerLostError" lines in the worker's log
	shrinks, grows      int // remote-control commands sent
	took                time.Duration
	err                 error
}

// lost is how many tasks are in no Redis key and never finished.
func (s stockResult) lost() int { return s.lostStarted + s.lostReceived + s.lostUnseen }

// stockControl is the remote control loop, in one interpreter: it
// alternates `app.control.pool_shrink(3)` and `pool_grow(3)` (what `celery
// -A tasks control pool_shrink 3` sends) for argv[1] seconds, argv[2]
// seconds apart, and prints how many of each it sent.
const stockControl = `import sys, time
from tasks import app
print("control ready", flush=True)
end, every, sent = time.monotonic() + float(sys.argv[1]), float(sys.argv[2]), {"pool_shrink": 0, "pool_grow": 0}
while time.monotonic() < end:
    for cmd in ("pool_shrink", "pool_grow"):
        getattr(app.control, cmd)(3)
        sent[cmd] += 1
        time.sleep(every)
print("sent pool_shrink=%d pool_grow=%d" % (sent["pool_shrink"], sent["pool_grow"]), flush=True)
`

// stockStorm is one run of the storm: its own Redis, worker, controller
// and record, under dir.
type stockStorm struct {
	cfg    config
	dir    string
	redis  *harness.Redis
	worker *harness.Process
	ctl    *harness.Process
	rec    *record
	pub    *publisher
}

// runStock runs the storm within stockLimit and kills everything it
// started, by PID, before it returns.
func (r *run) runStock(ctx context.Context) stockResult {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, stockLimit)
	defer cancel()
	s := &stockStorm{cfg: r.cfg, dir: filepath.Join(r.dir, "stock")}
	defer s.stop()
	r.logf("stock pool_shrink storm: celery worker -c %d (early acks) on a private Redis, %d tasks, pool_shrink 3 / pool_grow 3 every %s",
		stockConcurrency, stockTasks, stockCtlEvery)
	res := stockResult{}
	rng := rand.New(rand.NewPCG(r.cfg.seed, 4))
	if res.err = s.start(ctx, rng); res.err == nil {
		res.err = s.storm(ctx, rng)
	}
	s.settle(&res)
	res.took = time.Since(start)
	r.logf("stock pool_shrink storm: %d published, %d finished, %d lost, %d stranded, %d WorkerLostError in %.0fs%s",
		res.published, res.finished, res.lost(), res.stranded, res.workerLost, res.took.Seconds(), errSuffix(res.err))
	return res
}

// start brings up the storm's Redis and its worker, and waits until the
// worker is ready.
func (s *stockStorm) start(ctx context.Context, rng *rand.Rand) error {
	var err error
	if s.redis, err = startRedis(ctx, s.cfg.redisServer, filepath.Join(s.dir, "redis"), rng); err != nil {
		return err
	}
	s.rec = newRecord(filepath.Join(s.dir, "record.jsonl"))
	s.pub = newPublisher(redisSender{harness.NewClient(s.redis.Addr)}, &sync.RWMutex{}, rng)
	argv := append(strings.Fields(celeryCmd), "-A", "tasks", "worker", "-c", itoa(stockConcurrency), "-Q", chaosQueue,
		"-n", "stock@%h", "--without-mingle", "--without-gossip", "-l", "INFO")
	s.worker, err = harness.StartLogged("stock celery worker", argv, s.cfg.appDir, s.env(), s.logPath("worker"))
	if err != nil {
		return err
	}
	return s.awaitReady(ctx)
}

// env is the stock worker's environment: the storm's broker and record,
// and nothing else of revrx (no REVRX_ACKS_LATE: Celery's early acks).
func (s *stockStorm) env() []string {
	return cleanEnv("CELERY_BROKER_URL=redis://"+s.redis.Addr+"/0", "REVRX_RECORD="+s.rec.path)
}

func (s *stockStorm) logPath(name string) string { return filepath.Join(s.dir, name+".log") }

// awaitReady waits for the worker's "ready." line (at most 30 s).
func (s *stockStorm) awaitReady(ctx context.Context) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if b, _ := os.ReadFile(s.logPath("worker")); strings.Contains(string(b), " ready.") {
			return nil
		}
		if s.worker.Exited() {
			return fmt.Errorf("stock worker exited with %d (see %s)", s.worker.ExitCode(), s.logPath("worker"))
		}
		if err := harness.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("stock worker not ready within 30s (see %s)", s.logPath("worker"))
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return "; " + err.Error()
}

// stockRows print the storm next to the pool engine's own scale-downs in
// this run (c: the run's task counts).
func (r *run) stockRows(t *table, c taskCounts) {
	if r.stock == nil {
		return
	}
	s := r.stock
	t.add("stock pool_shrink storm", "celery worker -c %d, early acks, its own Redis (reported, not asserted): %d tasks under %d pool_shrink 3 + %d pool_grow 3 in %.0fs%s",
		stockConcurrency, s.published, s.shrinks, s.grows, s.took.Seconds(), errSuffix(s.err))
	t.add("  stock: lost", "%d (%d started, then stopped under their early ack; %d received, never started; %d popped as the worker stopped)",
		s.lost(), s.lostStarted, s.lostReceived, s.lostUnseen)
	t.add("  stock: WorkerLostError", "%d (\"Task handler raised error\" lines: Celery failed these tasks)", s.workerLost)
	t.add("  stock: not run in the storm", "%d (the worker stopped taking tasks; back in the queue or unacked only at its stop); %d finished", s.stranded, s.finished)
	downs, stopped := r.scaleDowns()
	t.add("  "+r.cfg.engine+" engine, this run", "%d lost; %d scale-down(s) stopped %d process(es); pool processes lost with a task %s (revrx_pool_process_losses_total) for %d SIGKILLed pool children",
		len(c.lost), downs, stopped, r.metricText("revrx_pool_process_losses_total"), r.childKills())
}

// scaleDowns counts the supervisors' "scaling down by N" lines and their N.
func (r *run) scaleDowns() (times, processes int) {
	for _, s := range r.sups {
		b, _ := os.ReadFile(s.logPath)
		for _, line := range strings.Split(string(b), "\n") {
			if _, rest, ok := strings.Cut(line, `msg="scaling down by `); ok {
				n := 0
				fmt.Sscanf(rest, "%d", &n)
				times, processes = times+1, processes+n
			}
		}
	}
	return times, processes
}

// childKills is how many pool children the harness SIGKILLed.
func (r *run) childKills() int {
	n := 0
	for _, k := range r.kills {
		if k.kind == faultKillChild {
			n++
		}
	}
	return n
}

// shrinkVerdict is the pool engine's side of the storm, asserted: no pool
// process died with a task but the ones the harness SIGKILLed (its shrink
// stops provably idle processes only). ok false: not the pool engine.
func (r *run) shrinkVerdict() (verdict, bool) {
	losses, found := r.metricSum("revrx_pool_process_losses_total")
	if !r.cfg.poolEngine() || !found {
		return verdict{}, false
	}
	kills := r.childKills()
	return verdict{"no pool process died with a task but the SIGKILLed ones (a scale-down stops idle processes only)",
		fmt.Sprintf("%g died with a task, %d SIGKILLed", losses, kills), losses <= float64(kills)}, true
}
