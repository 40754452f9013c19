package main

import (
	"context"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// sample is one look at a contender's process tree.
type sample struct {
	At      time.Time
	Slots   int     // prefork pool children of Celery worker main processes
	Workers int     // Celery worker main processes
	Procs   int     // processes in the tree, root included
	PssKB   int64   // sum of Pss over the tree (/proc/PID/smaps_rollup), KiB
	CPU     float64 // cumulative CPU seconds of the tree since the sampler started
}

// treeNow returns root's tree (root first) and the process table it was
// read from.
func treeNow(root int) ([]int, map[int]harness.Stat) {
	table := harness.Table()
	return harness.Tree(root, table), table
}

// pss is pid's Pss in KiB, 0 if it has exited.
func pss(pid int) int64 {
	kb, _ := harness.PssKB(pid)
	return kb
}

// treeCounts counts the Celery worker main processes and their pool
// children in tree (measured the same way for every contender).
func treeCounts(tree []int, table map[int]harness.Stat) (workers, slots int) {
	mains := workerMains(tree, table)
	for _, pid := range tree {
		if mains[table[pid].PPID] {
			slots++
		}
	}
	return len(mains), slots
}

// workerMains is the set of Celery worker main processes in tree: a
// process is its pool child when its parent is one.
func workerMains(tree []int, table map[int]harness.Stat) map[int]bool {
	isWorker := make(map[int]bool, len(tree))
	for _, pid := range tree {
		isWorker[pid] = harness.IsCeleryWorker(harness.Cmdline(pid))
	}
	mains := make(map[int]bool)
	for _, pid := range tree {
		if isWorker[pid] && !isWorker[table[pid].PPID] {
			mains[pid] = true
		}
	}
	return mains
}

// sampler keeps the CPU bookkeeping between samples: a process's CPU counts
// from its first sight (from zero if it was born after the sampler started).
type sampler struct {
	root    int
	started bool
	first   map[[2]int64]int64 // (pid, starttime) -> ticks at first sight
	last    map[[2]int64]int64 // (pid, starttime) -> ticks at last sight
}

func newSampler(root int) *sampler {
	return &sampler{root: root, first: map[[2]int64]int64{}, last: map[[2]int64]int64{}}
}

// take samples the tree now.
func (s *sampler) take() sample {
	now := time.Now()
	tree, table := treeNow(s.root)
	out := sample{At: now, Procs: len(tree)}
	out.Workers, out.Slots = treeCounts(tree, table)
	for _, pid := range tree {
		out.PssKB += pss(pid)
		st := table[pid]
		k := [2]int64{int64(pid), st.StartTime}
		if _, seen := s.first[k]; !seen {
			base := int64(0)
			if !s.started {
				base = st.Ticks
			}
			s.first[k] = base
		}
		s.last[k] = st.Ticks
	}
	s.started = true
	var ticks int64
	for k, last := range s.last {
		ticks += last - s.first[k]
	}
	out.CPU = float64(ticks) / harness.ClockTicks
	return out
}

// run samples every interval until ctx ends, then takes one last sample and
// sends them all on the returned channel.
func (s *sampler) run(ctx context.Context, interval time.Duration) <-chan []sample {
	return sampleUntil(ctx, interval, s.take)
}

// sampleUntil calls take every interval until ctx ends, then once more, and
// sends all it returned on the returned channel.
func sampleUntil[S any](ctx context.Context, interval time.Duration, take func() S) <-chan []S {
	res := make(chan []S, 1)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		samples := []S{take()}
		for {
			select {
			case <-ctx.Done():
				res <- append(samples, take())
				return
			case <-t.C:
				samples = append(samples, take())
			}
		}
	}()
	return res
}
