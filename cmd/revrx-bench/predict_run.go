package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// predictResult is one run of the predict scenario.
type predictResult struct {
	whole                                     predictFigures
	periods                                   []predictFigures // one per period of the trace
	afterFirst                                predictFigures   // from the second period on: what a forecast can act on
	published, finished, runTwice, leftQueued int
	truncated                                 bool    // the producer had not finished at the horizon
	metricSecs                                float64 // revrx_process_seconds_total over the horizon; NaN if not exported
	forecast                                  *forecastStatus
	load1                                     string
}

func (r predictResult) lost() int { return r.published - r.finished }

// forecastStatus is the part of /status's "forecast" object the table shows.
type forecastStatus struct {
	Ready        bool    `json:"ready"`
	Workers      int     `json:"workers"`
	LeadSeconds  float64 `json:"lead_seconds"`
	LeadMeasured bool    `json:"lead_measured"`
}

// predictRun is one supervisor during one replay.
type predictRun struct {
	m      predictMode
	dir    string
	broker string
	addr   string // its --http-addr
	proc   *harness.Process
}

// runPredict replays the trace at tracePath (tr, as written there) against
// revrx-supervise in mode m, on a fresh broker, and measures it.
func (h *bench) runPredict(ctx context.Context, tr predictTrace, tracePath string, m predictMode) (r predictResult, cmd command, err error) {
	r.load1 = load1()
	dir := filepath.Join(h.out, "runs", "predict-"+m.key)
	brk, err := h.startRunBroker(ctx, dir)
	if err != nil {
		return r, cmd, err
	}
	defer brk.stop()
	port, err := harness.FreePort()
	if err != nil {
		return r, cmd, err
	}
	run := &predictRun{m: m, dir: dir, broker: brk.url(), addr: "127.0.0.1:" + strconv.Itoa(port)}
	record := filepath.Join(dir, "record.jsonl")
	cmd = m.command(h.bin, h.appDir, run.broker, record, run.addr)
	defer func() {
		if run.proc != nil {
			stop(run.proc, syscall.SIGTERM, 10*time.Second) // a no-op once it has exited
		}
	}()
	if err := run.start(ctx, cmd); err != nil {
		return r, cmd, err
	}
	samples, t0, err := run.replay(ctx, h, tr.horizon(), tracePath, &r)
	if err != nil {
		return r, cmd, err
	}
	if r.leftQueued, err = brk.left(dir, benchQueue); err != nil {
		return r, cmd, err
	}
	if err := r.measure(tr, record, samples, t0); err != nil {
		return r, cmd, fmt.Errorf("record: %w", err)
	}
	return r, cmd, writeGroupSamples(filepath.Join(dir, "samples.csv"), samples, t0)
}

// start starts the supervisor and waits until it is ready (/readyz 200, one
// worker main running its MIN pool processes) and settled.
func (p *predictRun) start(ctx context.Context, cmd command) error {
	fmt.Fprintf(os.Stderr, "bench: [predict/%s] %s\n", p.m.key, cmd)
	var err error
	p.proc, err = harness.StartLogged(p.m.key, cmd.argv, cmd.dir, cleanEnv(cmd.env), filepath.Join(p.dir, "contender.log"))
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Second}
	err = waitFor(ctx, readyTimeout, func() bool {
		if p.proc.Exited() {
			return false
		}
		mains, slots := groupCounts([]int{p.proc.PID()}, harness.Table(), nil)
		return len(mains) == 1 && slots == predictMin && readyzOK(client, p.addr)
	})
	if err != nil {
		return fmt.Errorf("not ready: %w (see %s)", err, p.dir)
	}
	return harness.Sleep(ctx, groupsSettle)
}

// replay runs the producer, samples the supervisor's tree until the
// horizon, reads its process-seconds and forecast there, then stops both
// and counts what was published. It returns the samples and t=0.
func (p *predictRun) replay(ctx context.Context, h *bench, horizon time.Duration, tracePath string, r *predictResult) ([]groupSample, time.Time, error) {
	sctx, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	samplesc := runGroupSampler(sctx, []int{p.proc.PID()}, sampleEvery)
	pr, err := h.startProducer(trace{name: "predict", path: tracePath}, benchQueue, p.broker, filepath.Join(p.dir, "producer.log"))
	if err != nil {
		return nil, time.Time{}, err
	}
	defer stop(pr.p, syscall.SIGKILL, time.Second) // a no-op once it has exited
	t0, err := firstPublish(ctx, []*producerRun{pr}, p.dir)
	if err != nil {
		return nil, t0, err
	}
	before, found := metricSum(p.addr, "revrx_process_seconds_total")
	if err := harness.Sleep(ctx, time.Until(t0.Add(horizon))); err != nil {
		return nil, t0, err
	}
	after, _ := metricSum(p.addr, "revrx_process_seconds_total")
	r.metricSecs = math.NaN() // not exported by this build
	if found {
		r.metricSecs = after - before
	}
	r.forecast = forecastOf(p.addr)
	stopSampling()
	samples := <-samplesc
	if !pr.p.Exited() {
		r.truncated = true
		stop(pr.p, syscall.SIGINT, 5*time.Second)
	}
	stop(p.proc, syscall.SIGTERM, stopGrace)
	if err := <-pr.scanned; err != nil {
		return nil, t0, err
	}
	r.published = pr.published
	if !r.truncated && pr.p.Err() != nil {
		return nil, t0, fmt.Errorf("producer: %w (see %s)", pr.p.Err(), p.dir)
	}
	return samples, t0, nil
}

// measure fills r's figures, over the whole horizon and per period, from
// the record file and the samples.
func (r *predictResult) measure(tr predictTrace, record string, samples []groupSample, t0 time.Time) error {
	tasks, runTwice, err := predictTasks(record, tr, t0)
	if err != nil {
		return err
	}
	r.runTwice = runTwice
	for _, x := range tasks {
		if x.finished {
			r.finished++
		}
	}
	period := predictPeriod.Seconds()
	r.whole = predictWindow(tr, tasks, samples, t0, 0, tr.horizon().Seconds())
	r.afterFirst = predictWindow(tr, tasks, samples, t0, period, tr.horizon().Seconds())
	for i := range tr.periods {
		r.periods = append(r.periods, predictWindow(tr, tasks, samples, t0, float64(i)*period, float64(i+1)*period))
	}
	return nil
}
