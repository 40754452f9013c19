// Command revrx-chaos is the `make chaos` suite: it runs revrx-supervise as
// users type it (the pool engine, its default: one Celery worker main whose
// prefork pool it sizes process by process), on a private redis-server with
// real Celery 5.2 workers of the acks_late sample app, publishes about 1,000
// short tasks in scale storms and reversals, and meanwhile injects faults at
// seeded random times and targets: SIGKILL of the busy worker main and of
// busy pool children, Redis shut down and restarted twice (AOF, same port),
// malformed and crash-looping messages on the queue, garbage on the
// celeryev channels, and SIGTERM to the supervisor during a scale-up (a
// second supervisor then finishes the backlog). It samples the real worker
// processes in /proc every 100 ms and, at the end, prints one table and an
// Expected/Result line: no task lost (but one the AOF proves was popped by
// a worker as it died and never reached unacked), each SIGKILLed worker
// main's held messages (its revrx.held.<name> set, read just before the
// kill) out of unacked within 5 s, unacked empty within 15 s of the later of
// the last kill and the end of the load (what is left at the drain's end is
// dumped: task, delivery tag, age, holder, record), never more than MAX pool
// processes (the main's live children, starting and stopping ones
// included; the main itself is not one) and one worker main at a time, each
// malformed or crash-looping message in QUEUE.quarantine as the raw bytes
// pushed, taken from the queue once (the AOF: the worker main quarantines
// it itself at once, no crash, its PID unchanged), no pool process dead
// with a task but the SIGKILLed ones, exit 0 after SIGTERM. It exits 1 when
// an expectation fails. The full run then shows, reported and not asserted,
// the loss the pool engine's shrink avoids: a stock `celery worker -c 10`
// (early acks) on a Redis of its own, a few hundred tasks under Celery's
// own pool_shrink/pool_grow remote control (stockshrink.go). -engine
// workers runs the whole-worker engine instead (one worker per slot; MAX
// counts worker mains; a malformed message crashes the worker that takes
// it, a crash-looping one is quarantined by the supervisor after deaths).
//
// -broker rabbitmq (`make chaos BROKER=rabbitmq`) runs the same load and
// the same seeded faults on a private RabbitMQ node (rabbitmode.go): the
// supervisor reads it from -b amqp://, the tasks are published as Celery
// 5.2 publishes them on AMQP, persistent, each confirmed by the broker.
// The broker restart stops the whole node (rabbitmqctl stop) and starts
// rabbitmq-server again on the same ports and data directory, so that
// durable queues and persistent messages survive (not stop_app/start_app:
// the Erlang VM goes too). The expectations: no task lost (nothing
// excuses a loss: RabbitMQ requeues a dead consumer's messages itself);
// each SIGKILLed worker main's messages ready again within 2 s, timed
// from the kill to the moment its consumer left the queue (the queue
// process drops a dead channel's consumer and requeues its deliveries in
// one step; passive declares every 20 ms, rabbitmqctl list_queues right
// after); unacked empty within 15 s of the later of the last kill and the
// end of the load (rabbitmqctl, about every 2 s: each call costs an
// Erlang VM's start, so the queues are only read so from the end of the
// load on); at each restart the failed reads reported (revrx_broker_up
// 0, revrx_broker_errors_total up), the supervisor reading again and the
// workers consuming again; the garbage on the celeryev topic exchange
// (non-JSON bodies under task.multi, worker.heartbeat and other event
// keys) counted exactly in revrx_events_undecoded_total; each malformed
// and crash-looping message (what Celery 5.2 drops on AMQP, and a body it
// cannot unpack) in chaos.quarantine exactly once with the body
// published, the main's PID unchanged (rabbitpoison.go; with -engine
// workers both are left out, said in the output: a plain worker acks or
// rejects a malformed message on RabbitMQ, and without a restorer there
// the supervisor quarantines nothing after deaths); no worker crash; MAX,
// one main, exit 0 after SIGTERM, as on Redis; nothing left ready or
// unacked in any queue at the end but the quarantine (rabbitmqctl). The
// Redis-only evidence is dropped: the AOF proofs (RabbitMQ keeps no such
// log, and no loss is excused), the held sets and the unacked hash (no
// restore: the requeue above is their counterpart), put-backs a live
// worker had taken again (the broker never requeues a live consumer's
// delivery), and the stock pool_shrink storm (Celery's loss whatever the
// broker). Measured here (pool engine, 2 cores shared with other work,
// seeds 11-14): a killed main's consumer gone 0.02-0.08 s after the
// SIGKILL; a restart down 8-24 s (the node's start is most of it),
// broker_up 0 seen 0.9-6.5 s after the stop began, the supervisor and
// the workers back 0.3-9.2 s after the node answered (on Celery's
// reconnect backoff: 0 consumers while the workers should consume is a
// failed read); 0 lost of about 1,030; the full run about 3 min, the
// short one 45-75 s.
//
// chaos_test.go runs the short suite under go test on both brokers
// (skipped with -short, and where a broker's server is missing).
//
//	bin/revrx-chaos -bin bin/revrx-supervise                  # ~4 min
//	bin/revrx-chaos -short -bin bin/revrx-supervise           # ~1 min
//	bin/revrx-chaos -engine workers -bin bin/revrx-supervise  # the whole-worker engine
//	bin/revrx-chaos -broker rabbitmq -bin bin/revrx-supervise # on RabbitMQ, ~3 min
//	CHAOS_SEED=42 CHAOS_OUT=/tmp/chaos bin/revrx-chaos        # replay a seed, keep the logs
//
// Loopback only; it signals only processes it started (and their
// descendants, found in /proc), stops by itself within -deadline, and kills
// everything it started and removes its temporary directory on every exit
// path. Standard library only on Redis; on RabbitMQ amqp091-go (the
// module's AMQP client) publishes and the module's broker package reads
// the queues.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"

	"github.com/revrx/revrx-supervise/internal/harness"
)

func main() { os.Exit(realMain(os.Args[1:])) }

// realMain runs the suite with the command-line arguments args and returns
// the exit code: 0 all expectations held, 1 one failed or the run broke, 2
// bad usage. chaos_test.go calls it too.
func realMain(args []string) int {
	cfg, err := parseConfig(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	r := &run{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.seed, 3))}
	r.p = fullPlan(rand.New(rand.NewPCG(cfg.seed, 1)))
	if cfg.short {
		r.p = shortPlan(rand.New(rand.NewPCG(cfg.seed, 1)), cfg.poolEngine())
	}
	if cfg.deadline > 0 {
		r.p.deadline = cfg.deadline
	}
	r.b = newMode(r)
	if !r.b.poisonFaults() {
		r.p.faults = r.p.without(faultPoisonOnce, faultPoisonLoop)
		fmt.Fprintln(os.Stderr, "chaos: malformed and crash-looping messages", noPoison)
	}
	fmt.Fprintf(os.Stderr, "chaos: %s run, seed %d (replay with -seed %d), deadline %s\n", r.p.name, cfg.seed, cfg.seed, r.p.deadline)
	ctx, cancel := context.WithTimeout(context.Background(), r.p.deadline)
	defer cancel()
	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()
	if err := r.prepareDir(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer r.cleanup()
	ok, err := r.whole(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: error:", err)
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "chaos: stopped by the deadline or a signal:", context.Cause(ctx))
		}
		return 1
	}
	if !ok {
		return 1
	}
	return 0
}

// whole sets up, runs the plan, inspects Redis and prints the report.
func (r *run) whole(ctx context.Context) (bool, error) {
	stop := make(chan struct{})
	defer func() {
		close(stop)
		r.bg.Wait() // none reads the broker once cleanup kills it
	}()
	if err := r.setup(ctx, stop); err != nil {
		return false, fmt.Errorf("setup: %w", err)
	}
	if err := r.execute(ctx); err != nil {
		return false, err
	}
	r.rec.poll()
	lo, err := r.b.inspect()
	if err != nil {
		return false, fmt.Errorf("inspect %s: %w", r.cfg.broker, err)
	}
	if !r.cfg.short && r.cfg.broker == brokerRedis {
		res := r.runStock(ctx)
		r.stock = &res
	}
	ok := r.summarize(os.Stdout, lo)
	r.printNotes()
	return ok, nil
}

// prepareDir makes the run's directory: -out, else a temporary one.
func (r *run) prepareDir() error {
	if r.cfg.out != "" {
		r.dir = r.cfg.out
		return os.MkdirAll(r.dir, 0o755)
	}
	var err error
	r.dir, err = os.MkdirTemp("", "revrx-chaos-")
	return err
}

// cleanup kills everything the run started and removes its temporary
// directory (a -out directory is kept).
func (r *run) cleanup() {
	harness.KillAll()
	if r.cfg.out == "" && r.dir != "" {
		_ = os.RemoveAll(r.dir)
	} else if r.dir != "" {
		fmt.Fprintln(os.Stderr, "chaos: logs, record and broker data kept in", r.dir)
	}
}

// printNotes shows the supervisors' own warnings and errors, once each.
func (r *run) printNotes() {
	_, notes := r.logDigest()
	if len(notes) == 0 {
		return
	}
	fmt.Println("\nsupervisor warnings and errors (first of each kind):")
	for _, n := range notes {
		if len(n) > 300 {
			n = n[:300] + "..."
		}
		fmt.Println("  " + n)
	}
}
