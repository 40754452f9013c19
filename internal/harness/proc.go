package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stat is what the harnesses read from /proc/PID/stat.
type Stat struct {
	PID, PPID int
	PGRP      int   // process group: a worker main leads its own, its pool children are in it
	State     byte  // R, S, Z, ...
	Ticks     int64 // utime + stime, in ClockTicks
	StartTime int64 // since boot, in ClockTicks: tells a reused PID apart
}

// Zombie reports whether the process has exited and not been reaped (Z, or
// X while it goes).
func (s Stat) Zombie() bool { return s.State == 'Z' || s.State == 'X' }

// ReadStat parses /proc/PID/stat (readable for zombies too); ok is false if
// the process is gone. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after the last ')'.
func ReadStat(pid int) (st Stat, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) == 0 { // f[0] is field 3 (state); starttime is field 22
		return Stat{}, false
	}
	st.PID = pid
	st.State = f[0][0]
	st.PPID, _ = strconv.Atoi(f[1])
	st.PGRP, _ = strconv.Atoi(f[2])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	st.Ticks = utime + stime
	st.StartTime, _ = strconv.ParseInt(f[19], 10, 64)
	return st, true
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	st, ok := ReadStat(pid)
	return ok && !st.Zombie()
}

// PIDs lists every process in /proc now.
func PIDs() []int {
	ents, _ := os.ReadDir("/proc")
	pids := make([]int, 0, len(ents))
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Table reads every process's stat once; a process that exits during the
// scan is left out.
func Table() map[int]Stat {
	pids := PIDs()
	t := make(map[int]Stat, len(pids))
	for _, pid := range pids {
		if st, ok := ReadStat(pid); ok {
			t[pid] = st
		}
	}
	return t
}

// Tree returns root and its descendants, root first and parents before
// their children, from the parent links in table; nil if root is not in
// table.
func Tree(root int, table map[int]Stat) []int {
	if _, ok := table[root]; !ok {
		return nil
	}
	kids := make(map[int][]int)
	for pid, st := range table {
		kids[st.PPID] = append(kids[st.PPID], pid)
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, kids[tree[i]]...)
	}
	return tree
}

// Children lists pid's children from /proc/PID/task/*/children (every
// thread's list: a subreaper's adopted children may sit under any thread).
func Children(pid int) []int {
	files, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// Descendants returns every process below pid (not pid itself), parents
// before their children, following Children.
func Descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		kids := Children(queue[0])
		queue = append(queue[1:], kids...)
		out = append(out, kids...)
	}
	return out
}

// Cmdline returns pid's argv; nil if the process is gone.
func Cmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// IsCeleryWorker reports whether argv runs `celery ... worker ...`. Prefork
// pool children are forks without exec, so they have the same argv (a
// worker main is one whose parent is not a Celery worker); forked workers
// rewrite their command line to that form; the app host shows as
// revrx-apphost and is not one.
func IsCeleryWorker(argv []string) bool {
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
