package supervisor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/events"
)

// Restorer settles what a worker held once it is gone (the Redis broker): the
// messages recorded in its held set are put back on their queues, and a
// message in flight at two deaths is quarantined.
type Restorer interface {
	// HeldBy returns worker's held hash: delivery tag -> take id.
	HeldBy(ctx context.Context, worker string) (map[string]string, error)
	// TagsOf finds in unacked the messages of the given task ids (for a
	// worker that kept no held set).
	TagsOf(ctx context.Context, ids map[string]bool) ([]string, error)
	Settle(ctx context.Context, worker, tag, take string, died func(taskID string) bool, queues []string) (Settled, error)
	ForgetHeld(ctx context.Context, worker string) error
	// WorkerAlive reports whether a worker of that name answers a ping.
	WorkerAlive(ctx context.Context, worker string) (bool, error)
}

// Bounds of settlePrevious.
const (
	previousTimeout = 5 * time.Second
	pingTimeout     = time.Second
)

// settleRetry is the wait before an exit is settled again after a broker
// error; its messages are safe in unacked meanwhile.
const settleRetry = time.Second

// exitJob is one ended worker whose messages are to be settled.
type exitJob struct {
	exit    Exit
	running []events.TaskRef // its tasks running at the end, by its events
	tasks   []events.TaskRef // running and received: what an exec'd worker held
	settled []Settled
	fails   int // failed attempts: only the first is logged
}

// diedRunning says which of j's messages a death counts against. The pool
// engine's main quarantines undecodable input itself (pool/ext), so only a
// task that was running can have killed it: a message merely reserved
// beside it is a bystander. A whole worker has no such guard: everything it
// held counts, so a message that crashes workers on receipt (a crash loop)
// is caught at its second death. Nothing counts after a stop.
func (j *exitJob) diedRunning() func(string) bool {
	if !j.exit.Died {
		return nil
	}
	running := make(map[string]bool, len(j.running))
	for _, t := range j.running {
		running[t.ID] = true
	}
	all := !j.exit.PoolMain
	return func(id string) bool { return all || running[id] }
}

// exits queues ended workers for the settling goroutine.
type exits struct {
	mu   sync.Mutex
	jobs []*exitJob
	wake chan struct{}
}

// push queues j and wakes the settling goroutine.
func (q *exits) push(j *exitJob) {
	q.requeue(j)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// requeue queues j for the next retry, without waking anyone.
func (q *exits) requeue(j *exitJob) {
	q.mu.Lock()
	q.jobs = append(q.jobs, j)
	q.mu.Unlock()
}

func (q *exits) take() []*exitJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	jobs := q.jobs
	q.jobs = nil
	return jobs
}

// onWorkerExit records what an ended worker's events said it was doing and
// queues the settling of its messages. It never blocks.
// Without a Restorer (RabbitMQ, which requeues a gone worker's unacked
// messages itself when its connection closes) only the tasks that died
// with it are reported.
func (s *Supervisor) onWorkerExit(e Exit) {
	s.reportConsumerTimeout(e)
	j := &exitJob{exit: e, running: s.tracker.Running(e.Name), tasks: s.tracker.Tasks(e.Name)}
	if s.restorer == nil {
		s.reportDied(j)
		return
	}
	s.exits.push(j)
}

// settlePrevious settles, before any worker starts, what workers of an
// earlier run under the same names still hold: the supervisor and its
// workers died together and were started again on the same host (say a
// container OOM-killed and restarted in its pod), so their held sets are
// still there and their messages would otherwise wait in unacked for the
// visibility timeout. A name that answers a ping is a live worker of some
// other supervisor with the same names and is left alone. On a broker
// error it gives up: kombu's own sweep remains.
func (s *Supervisor) settlePrevious(ctx context.Context) {
	if s.restorer == nil || len(s.cfg.PreviousWorkers) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, previousTimeout)
	defer cancel()
	gone, err := s.previousGone(ctx)
	if err != nil {
		s.log.Warn("could not check what an earlier run's workers held; kombu restores it after its visibility timeout", "err", err)
		return
	}
	for _, name := range gone {
		j := &exitJob{exit: Exit{Name: name, Forked: true, Status: "gone with an earlier run", Died: true}}
		if err := s.settle(ctx, j); err != nil {
			s.log.Warn("could not settle what an earlier run's worker held", "worker", name, "err", err)
		}
	}
}

// previousGone lists the names of PreviousWorkers whose held set is not
// empty and that no live worker answers to (pinged in parallel).
func (s *Supervisor) previousGone(ctx context.Context) ([]string, error) {
	var held []string
	for _, name := range s.cfg.PreviousWorkers {
		tags, err := s.restorer.HeldBy(ctx, name)
		if err != nil {
			return nil, err
		}
		if len(tags) > 0 {
			held = append(held, name)
		}
	}
	alive := make([]bool, len(held))
	var wg sync.WaitGroup
	for i, name := range held {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			defer cancel()
			a, err := s.restorer.WorkerAlive(pctx, name)
			alive[i] = a || err != nil // unknown: leave it alone
		})
	}
	wg.Wait()
	var gone []string
	for i, name := range held {
		if alive[i] {
			s.log.Warn("a live worker answers to a name this supervisor uses: two supervisors with the same --worker-name on one host?", "worker", name)
			continue
		}
		gone = append(gone, name)
	}
	return gone, nil
}

// settleExits settles queued exits until ctx is done, then, for at most
// two seconds, the ones still queued (the pool's shutdown ends workers
// right before the loop stops).
func (s *Supervisor) settleExits(ctx context.Context) {
	retry := time.NewTimer(settleRetry)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s.settleQueued(final)
			return
		case <-s.exits.wake:
		case <-retry.C:
		}
		s.settleQueued(ctx)
		retry.Reset(settleRetry)
	}
}

// settleQueued settles every queued exit; one that fails goes back.
func (s *Supervisor) settleQueued(ctx context.Context) {
	for _, j := range s.exits.take() {
		if err := s.settle(ctx, j); err != nil {
			if j.fails++; j.fails == 1 && ctx.Err() == nil {
				s.log.Warn("could not settle a gone worker's messages yet; retrying every second (they are safe in unacked)",
					"worker", j.exit.Name, "err", err)
			}
			s.exits.requeue(j)
		}
	}
}

// settle puts back, or quarantines, every message j's worker held, then
// reports it once.
func (s *Supervisor) settle(ctx context.Context, j *exitJob) error {
	held, err := s.heldTags(ctx, j)
	if err != nil {
		return err
	}
	died := j.diedRunning()
	for _, tag := range slices.Sorted(maps.Keys(held)) {
		st, err := s.restorer.Settle(ctx, j.exit.Name, tag, held[tag], died, s.cfg.Queues)
		if err != nil {
			return err
		}
		j.settled = append(j.settled, st)
	}
	if err := s.restorer.ForgetHeld(ctx, j.exit.Name); err != nil {
		return err
	}
	s.reportSettled(j)
	return nil
}

// heldTags is what j's worker held, delivery tag -> take id: its held hash
// (a forked worker records every message it takes), or, for an exec'd one
// that died, the messages of unacked that its events announced (no take).
func (s *Supervisor) heldTags(ctx context.Context, j *exitJob) (map[string]string, error) {
	if j.exit.Forked || !j.exit.Died {
		return s.restorer.HeldBy(ctx, j.exit.Name)
	}
	ids := map[string]bool{}
	for _, t := range j.tasks {
		ids[t.ID] = true
	}
	tags, err := s.restorer.TagsOf(ctx, ids)
	held := make(map[string]string, len(tags))
	for _, tag := range tags {
		held[tag] = ""
	}
	return held, err
}

// reportSettled logs and counts what became of j's messages: one line for
// what was put back, one per quarantined message, and, for an app that
// acks on receipt, the tasks that died with the worker.
func (s *Supervisor) reportSettled(j *exitJob) {
	var restored, requeued []string
	for _, st := range j.settled {
		switch st.Outcome {
		case SettleRestored:
			restored = append(restored, taskText(st.ID, st.Task))
			s.m.tasksRestored.Inc()
		case SettleRequeued, SettleRetaken:
			requeued = append(requeued, st.Tag)
		case SettleQuarantined:
			s.m.tasksQuarantined.Inc()
			s.log.Warn("quarantined a message that was in flight at two worker deaths; requeue it by hand once fixed",
				"worker", j.exit.Name, "task_id", st.ID, "task", st.Task, "list", st.Queue)
		case SettleUnroutable:
			s.log.Warn("a gone worker's message has no queue bound; kombu restores it after its visibility timeout",
				"worker", j.exit.Name, "task_id", st.ID, "task", st.Task)
		}
	}
	if len(restored) > 0 {
		s.log.Info(fmt.Sprintf("put back %d message(s) the gone worker held", len(restored)),
			"worker", j.exit.Name, "status", j.exit.Status, "tasks", restored)
	}
	if len(requeued) > 0 {
		s.log.Info(fmt.Sprintf("counted a death against %d message(s) the dying worker put back itself (or another took since)", len(requeued)),
			"worker", j.exit.Name, "status", j.exit.Status, "delivery_tags", requeued)
	}
	s.reportDied(j)
}

// reportDied logs and counts, for an app that acks on receipt, the tasks
// that were running when j's worker died: nothing can redeliver them.
func (s *Supervisor) reportDied(j *exitJob) {
	if j.exit.Died && !s.cfg.AcksLate && len(j.running) > 0 {
		var died []string
		for _, t := range j.running {
			died = append(died, taskText(t.ID, t.Name))
		}
		s.m.tasksDied.Add(float64(len(died)))
		s.log.Error("tasks died with their worker: the app acks on receipt (task_acks_late off), so Celery cannot redeliver them",
			"worker", j.exit.Name, "status", j.exit.Status, "tasks", died)
	}
}

func taskText(id, name string) string {
	if name == "" {
		name = "?"
	}
	return id + " " + name
}
