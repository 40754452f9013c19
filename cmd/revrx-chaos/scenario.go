package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// celeryCmd is how Celery is run here (docs/celery-on-redis.md, "The celery command": the Debian /usr/bin/celery
// wrapper runs the first python3 on PATH).
const celeryCmd = "/usr/bin/python3 -m celery"

// run is one chaos run: what it started, what it did, what it saw.
type run struct {
	cfg        config
	p          plan
	dir        string // temporary directory: broker data, logs, the record
	recordPath string
	b          brokerMode
	gate       sync.RWMutex // write-held while the broker is being restarted
	pub        *publisher
	rec        *record
	samp       *sampler
	bw         *brokerWatch
	cur        atomic.Pointer[supervisorProc]
	rng        *rand.Rand     // fault targets (the plan has its own)
	bg         sync.WaitGroup // the samplers setup starts, until stop closes
	t0         time.Time      // start of the load

	mu        sync.Mutex
	sups      []*supervisorProc
	kills     []*kill
	watchers  sync.WaitGroup       // watchHeld goroutines
	loadEnd   time.Time            // the last task published (the SIGTERM phase's burst included)
	residual  residualDump         // what was left unacknowledged at the drain's end
	lostProof map[string]lossProof // lost task id -> what the broker's evidence shows
	poison    []string             // ids of crash-looping messages
	pushes    []*poisonPush        // malformed and crash-looping messages pushed
	junk      int                  // garbage messages published on the event channel
	restarts  []restartResult
	term      *termResult
	stock     *stockResult // the stock pool_shrink storm (full Redis run only)
	final     *supervisorStop
}

// supervisorStop is the last supervisor's own SIGTERM at the end of the run.
type supervisorStop struct {
	exitCode int
	took     time.Duration
}

// logf prints a progress line with the offset from the start of the load.
func (r *run) logf(format string, args ...any) {
	t := 0.0
	if !r.t0.IsZero() {
		t = time.Since(r.t0).Seconds()
	}
	fmt.Fprintf(os.Stderr, "chaos: t=%6.1fs  %s\n", t, fmt.Sprintf(format, args...))
}

// setup starts the broker, the watchers and the first supervisor.
func (r *run) setup(ctx context.Context, stop <-chan struct{}) error {
	if err := r.b.start(ctx, r.dir); err != nil {
		return err
	}
	r.recordPath = filepath.Join(r.dir, "record.jsonl")
	r.pub = newPublisher(r.b.sender(), &r.gate, rand.New(rand.NewPCG(r.cfg.seed, 2)))
	r.rec = newRecord(r.recordPath)
	r.samp = newSampler(r.cfg.max, r.cfg.poolEngine())
	r.bw = newBrokerWatch(r.b.sample)
	sup, err := r.startSupervisor(1)
	if err != nil {
		return err
	}
	r.sups = []*supervisorProc{sup}
	r.cur.Store(sup)
	r.samp.sup.Store(int64(sup.proc.PID()))
	r.bg.Go(func() { r.rec.follow(stop, 100*time.Millisecond) })
	r.bg.Go(func() { r.samp.run(stop, 100*time.Millisecond) })
	r.bg.Go(func() { r.bw.run(stop, r.b.sampleEvery()) })
	r.bg.Go(func() { r.pollMetrics(stop, 500*time.Millisecond) })
	r.logf("%s, supervisor pid %d: %s", r.b.describe(), sup.proc.PID(), shellJoin(sup.argv))
	return sup.waitReady(ctx, r.cfg.engine, r.cfg.min, 90*time.Second)
}

// execute runs the whole plan: load and faults, the SIGTERM phase, the
// drain, the final stop.
func (r *run) execute(ctx context.Context) error {
	r.t0 = time.Now()
	r.logf("load starts: %d tasks planned, %d faults", r.p.tasks(), len(r.p.faults))
	pubErr := make(chan error, 1)
	go func() { pubErr <- r.pub.run(ctx, r.t0, r.p.publishes) }()
	if err := r.runFaults(ctx); err != nil {
		return err
	}
	if err := <-pubErr; err != nil {
		return err
	}
	r.setLoadEnd()
	if r.p.sigtermBurst > 0 {
		if err := harness.Sleep(ctx, time.Until(r.t0.Add(r.p.sigtermAt))); err != nil {
			return err
		}
		res, err := r.sigtermPhase(ctx)
		r.term = &res
		if err != nil {
			return err
		}
	}
	if err := r.drain(ctx); err != nil {
		return err
	}
	r.residual = r.b.residual()
	r.watchers.Wait()
	r.stopLast()
	return nil
}

// setLoadEnd marks now as the end of the load.
func (r *run) setLoadEnd() {
	r.mu.Lock()
	r.loadEnd = time.Now()
	r.mu.Unlock()
	r.bw.begin()
}

// quietFrom is when the unacked hash must be empty within unackedWindow of:
// the later of the last kill and the end of the load (once the work is
// done nothing may stay in unacked).
func (r *run) quietFrom() time.Time {
	t := r.lastKill()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loadEnd.After(t) {
		t = r.loadEnd
	}
	return t
}

// runFaults injects each fault at its time.
func (r *run) runFaults(ctx context.Context) error {
	faults := append([]faultStep(nil), r.p.faults...)
	sort.SliceStable(faults, func(i, j int) bool { return faults[i].at < faults[j].at })
	for _, f := range faults {
		if err := harness.Sleep(ctx, time.Until(r.t0.Add(f.at))); err != nil {
			return err
		}
		if err := r.inject(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// shellJoin quotes argv for display.
func shellJoin(argv []string) string {
	out := ""
	for i, a := range argv {
		if i > 0 {
			out += " "
		}
		if a == "" || strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out += a
	}
	return out
}
