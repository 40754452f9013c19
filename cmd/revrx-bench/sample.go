package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// sample is one look at a contender's process tree.
type sample struct {
	At      time.Time
	Slots   int     // prefork pool children of Celery worker main processes
	Workers int     // Celery worker main processes
	Procs   int     // processes in the tree, root included
	PssKB   int64   // sum of Pss over the tree (/proc/PID/smaps_rollup), KiB
	CPU     float64 // cumulative CPU seconds of the tree since the sampler started
}

// procStat is what the harness reads from /proc/PID/stat.
type procStat struct {
	ppid      int
	ticks     int64 // utime + stime
	starttime int64 // distinguishes a reused PID
}

// readStat parses /proc/PID/stat. The command name (field 2) may contain
// spaces and parentheses, so the fields are counted after the last ')'.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 { // f[0] is field 3 (state); starttime is field 22
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	start, _ := strconv.ParseInt(f[19], 10, 64)
	return procStat{ppid: ppid, ticks: utime + stime, starttime: start}, true
}

// processTable reads every process's stat once.
func processTable() map[int]procStat {
	ents, _ := os.ReadDir("/proc")
	t := make(map[int]procStat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok {
			t[pid] = st
		}
	}
	return t
}

// treeOf returns root and its descendants (root first), from table.
func treeOf(root int, table map[int]procStat) []int {
	if _, ok := table[root]; !ok {
		return nil
	}
	kids := make(map[int][]int)
	for pid, st := range table {
		kids[st.ppid] = append(kids[st.ppid], pid)
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, kids[tree[i]]...)
	}
	return tree
}

// descendants returns root's tree as it is now.
func descendants(root int) ([]int, map[int]procStat) {
	table := processTable()
	return treeOf(root, table), table
}

// isCeleryWorker reports whether argv runs `celery ... worker ...`. Prefork
// pool children are forks without exec, so they have the same argv: a
// worker main process is one whose parent is not a Celery worker.
func isCeleryWorker(argv []string) bool {
	var celery, worker bool
	for _, a := range argv {
		switch {
		case a == "worker":
			worker = true
		case a == "celery" || filepath.Base(a) == "celery":
			celery = true
		}
	}
	return celery && worker
}

func cmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// pssKB returns the Pss line of /proc/PID/smaps_rollup, in KiB.
func pssKB(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// treeCounts counts the Celery worker main processes and their pool
// children in tree (measured the same way for every contender).
func treeCounts(tree []int, table map[int]procStat) (workers, slots int) {
	mains := workerMains(tree, table)
	for _, pid := range tree {
		if mains[table[pid].ppid] {
			slots++
		}
	}
	return len(mains), slots
}

// workerMains is the set of Celery worker main processes in tree: a
// process is its pool child when its parent is one.
func workerMains(tree []int, table map[int]procStat) map[int]bool {
	isWorker := make(map[int]bool, len(tree))
	for _, pid := range tree {
		isWorker[pid] = isCeleryWorker(cmdline(pid))
	}
	mains := make(map[int]bool)
	for _, pid := range tree {
		if isWorker[pid] && !isWorker[table[pid].ppid] {
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
	table := processTable()
	tree := treeOf(s.root, table)
	out := sample{At: now, Procs: len(tree)}
	out.Workers, out.Slots = treeCounts(tree, table)
	for _, pid := range tree {
		out.PssKB += pssKB(pid)
		st := table[pid]
		k := [2]int64{int64(pid), st.starttime}
		if _, seen := s.first[k]; !seen {
			base := int64(0)
			if !s.started {
				base = st.ticks
			}
			s.first[k] = base
		}
		s.last[k] = st.ticks
	}
	s.started = true
	var ticks int64
	for k, last := range s.last {
		ticks += last - s.first[k]
	}
	out.CPU = float64(ticks) / clockTicks
	return out
}

// run samples every interval until ctx ends, then takes one last sample and
// sends them all on the returned channel.
func (s *sampler) run(ctx context.Context, interval time.Duration) <-chan []sample {
	res := make(chan []sample, 1)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		samples := []sample{s.take()}
		for {
			select {
			case <-ctx.Done():
				res <- append(samples, s.take())
				return
			case <-t.C:
				samples = append(samples, s.take())
			}
		}
	}()
	return res
}
