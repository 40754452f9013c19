package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// workerProc is one Celery worker main process seen under a supervisor.
type workerProc struct {
	name        string // node name (the process name forked workers set)
	first, last time.Time
	gone        bool // no longer seen alive
}

// sampler counts, from /proc, the worker processes of the current
// supervisor, and remembers which pool child belongs to which main process.
// It does not trust the supervisor's own account. What counts against MAX
// depends on the engine: the pool engine's pool processes (every live child
// of its worker main, starting and stopping ones included, plus any pool
// process a dead main left behind; the main itself is not one), or the
// workers engine's whole workers (their main processes).
type sampler struct {
	sup       atomic.Int64 // current supervisor PID (0: none)
	countPool bool         // the pool engine: count pool processes, not mains

	mu        sync.Mutex
	mains     map[int]*workerProc
	childMain map[int]int // pool child pid -> worker main pid
	most      int
	mostAt    time.Time
	mostMains int           // the most worker mains alive at once
	above     time.Duration // time with more than limit alive
	limit     int
	samples   int
	last      time.Time
}

func newSampler(limit int, countPool bool) *sampler {
	return &sampler{mains: map[int]*workerProc{}, childMain: map[int]int{}, limit: limit, countPool: countPool}
}

// treeSample is one look at a supervisor's Celery processes.
type treeSample struct {
	kids    map[int][]int // live worker main -> its children (zombies too)
	pool    int           // live pool processes: the mains' children and orphans
	orphans int           // live pool processes re-parented to the supervisor (their main is gone)
}

// sampleTree reads the supervisor's children: a Celery worker process that
// leads its own process group is a worker main (the pool starts each in a
// group of its own); one that does not is a pool process whose main died
// (the supervisor is their subreaper).
func sampleTree(sup int) treeSample {
	t := treeSample{kids: map[int][]int{}}
	for _, pid := range harness.Children(sup) {
		st, ok := harness.ReadStat(pid)
		if !ok || st.Zombie() || !harness.IsCeleryWorker(harness.Cmdline(pid)) {
			continue
		}
		if st.PGRP != pid {
			t.orphans++
			continue
		}
		t.kids[pid] = harness.Children(pid)
		for _, c := range t.kids[pid] {
			if harness.Alive(c) {
				t.pool++
			}
		}
	}
	t.pool += t.orphans
	return t
}

// take looks at the process tree once.
func (s *sampler) take(now time.Time) {
	sup := int(s.sup.Load())
	if sup == 0 {
		return
	}
	t := sampleTree(sup)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples++
	for pid, kids := range t.kids {
		w := s.mains[pid]
		if w == nil {
			w = &workerProc{name: procName(pid), first: now}
			s.mains[pid] = w
		}
		w.last, w.gone = now, false
		for _, c := range kids {
			s.childMain[c] = pid
		}
	}
	for pid, w := range s.mains {
		if _, ok := t.kids[pid]; !ok {
			w.gone = true
		}
	}
	n := len(t.kids)
	if s.countPool {
		n = t.pool
	}
	if n > s.most {
		s.most, s.mostAt = n, now
	}
	s.mostMains = max(s.mostMains, len(t.kids))
	if n > s.limit && !s.last.IsZero() {
		s.above += now.Sub(s.last)
	}
	s.last = now
}

// run samples every interval until stop closes.
func (s *sampler) run(stop <-chan struct{}, interval time.Duration) {
	every(stop, interval, false, s.take)
}

// mainOf is the worker main process a pool child belonged to (0: unknown).
func (s *sampler) mainOf(child int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.childMain[child]
}

// aliveMains lists the worker main processes seen alive in the last sample.
func (s *sampler) aliveMains() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for pid, w := range s.mains {
		if !w.gone {
			out = append(out, pid)
		}
	}
	return out
}

// procName is the worker's node name from its command line (-n), e.g.
// worker3@vm.
func procName(pid int) string {
	argv := harness.Cmdline(pid)
	for i, a := range argv {
		if a == "-n" && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return "?"
}

// seen reports when the worker main process pid was last seen alive and
// whether it has gone since.
func (s *sampler) seen(pid int) (last time.Time, gone, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.mains[pid]
	if w == nil {
		return time.Time{}, false, false
	}
	return w.last, w.gone, true
}

// nameOf is the node name of a worker main process, as first seen.
func (s *sampler) nameOf(pid int) string {
	s.mu.Lock()
	w := s.mains[pid]
	s.mu.Unlock()
	if w != nil && w.name != "?" {
		return w.name
	}
	return procName(pid)
}

// peak is the most worker processes (see sampler) alive at once, when, how
// long more than the limit were alive, and the most worker mains at once.
func (s *sampler) peak() (most int, at time.Time, above time.Duration, mains int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.most, s.mostAt, s.above, s.mostMains
}

// liveMainNamed is the live worker main process with node name name, and
// when it was first seen (ok false: none alive).
func (s *sampler) liveMainNamed(name string) (pid int, first time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, w := range s.mains {
		if w.name == name && !w.gone && harness.Alive(p) {
			return p, w.first, true
		}
	}
	return 0, time.Time{}, false
}
