package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// groupRun is one contender's processes during one replay.
type groupRun struct {
	h      *bench
	c      groupContender
	dir    string
	broker string
	procs  []*harness.Process
	logs   []string
}

// stopAll stops every process of the contender concurrently and returns
// the longest stop in seconds.
func (g *groupRun) stopAll(grace time.Duration) float64 {
	var wg sync.WaitGroup
	took := make([]time.Duration, len(g.procs))
	for i, p := range g.procs {
		wg.Go(func() { took[i] = stop(p, syscall.SIGTERM, grace) })
	}
	wg.Wait()
	return slices.Max(append(took, 0)).Seconds()
}

// start starts cmds and waits until the contender is ready and settled.
func (g *groupRun) start(ctx context.Context, cmds []command, port int) error {
	for i, cmd := range cmds {
		fmt.Fprintf(os.Stderr, "bench: [groups/%s] %s\n", g.c.key, cmd)
		logPath := filepath.Join(g.dir, fmt.Sprintf("contender-%d.log", i))
		p, err := harness.StartLogged(g.c.key, cmd.argv, cmd.dir, cleanEnv(cmd.env), logPath)
		if err != nil {
			return err
		}
		g.procs, g.logs = append(g.procs, p), append(g.logs, logPath)
	}
	if err := waitGroupsReady(ctx, g.c, g.procs, g.logs, port); err != nil {
		return fmt.Errorf("not ready: %w (see %s)", err, g.dir)
	}
	return harness.Sleep(ctx, groupsSettle)
}

// replay runs one producer per queue of tr, samples the process trees
// until the horizon, stops everything and counts what was published. It
// returns the samples and the window t0..end they are measured over.
func (g *groupRun) replay(ctx context.Context, tr groupTrace, r *groupResult) (samples []groupSample, t0, end time.Time, err error) {
	roots := make([]int, len(g.procs))
	for i, p := range g.procs {
		roots[i] = p.PID()
	}
	sctx, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	samplesc := runGroupSampler(sctx, roots, sampleEvery)
	prods, err := g.startProducers(tr)
	defer func() {
		for _, pr := range prods {
			stop(pr.p, syscall.SIGKILL, time.Second) // a no-op once they have exited
		}
	}()
	if err != nil {
		return nil, t0, end, err
	}
	if t0, err = firstPublish(ctx, prods, g.dir); err != nil {
		return nil, t0, end, err
	}
	end = t0.Add(tr.horizon)
	if err := harness.Sleep(ctx, time.Until(end)); err != nil {
		return nil, t0, end, err
	}
	stopSampling()
	samples = <-samplesc
	for _, pr := range prods {
		if !pr.p.Exited() {
			r.truncated = true
			stop(pr.p, syscall.SIGINT, 5*time.Second)
		}
	}
	g.stopAll(stopGrace)
	for _, pr := range prods {
		if err := <-pr.scanned; err != nil {
			return nil, t0, end, err
		}
		r.published += pr.published
		if !r.truncated && pr.p.Err() != nil {
			return nil, t0, end, fmt.Errorf("producer: %w (see %s)", pr.p.Err(), g.dir)
		}
	}
	return samples, t0, end, nil
}

// startProducers starts one producer per queue of tr, each replaying its
// queue's part of the trace.
func (g *groupRun) startProducers(tr groupTrace) ([]*producerRun, error) {
	var prods []*producerRun
	for _, q := range tr.queues() {
		tpath := filepath.Join(g.dir, q+".trace")
		if err := tr.writeQueueTrace(q, tpath); err != nil {
			return prods, err
		}
		pr, err := g.h.startProducerQueue(tpath, q, g.broker, filepath.Join(g.dir, "producer-"+q+".log"))
		if err != nil {
			return prods, err
		}
		prods = append(prods, pr)
	}
	return prods, nil
}
