package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// pstat is what the harness reads from /proc/PID/stat.
type pstat struct {
	ppid   int
	pgrp   int  // process group: a worker main leads its own, its pool children are in it
	state  byte // R, S, Z, ...
	zombie bool
}

// readPstat parses /proc/PID/stat; the command name (field 2) may hold
// spaces and parentheses, so fields are counted after the last ')'.
func readPstat(pid int) (pstat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return pstat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return pstat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 || len(f[0]) == 0 {
		return pstat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return pstat{ppid: ppid, pgrp: pgrp, state: f[0][0], zombie: f[0][0] == 'Z' || f[0][0] == 'X'}, true
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, ok := readPstat(pid)
	return ok && !st.zombie
}

// childrenOf lists pid's children from /proc/PID/task/*/children (every
// thread's list: a subreaper's adopted children may sit under any thread).
func childrenOf(pid int) []int {
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

// descendants returns every process below pid (not pid itself).
func descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		kids := childrenOf(queue[0])
		queue = append(queue[1:], kids...)
		out = append(out, kids...)
	}
	return out
}

// cmdline returns pid's argv.
func cmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// isCeleryWorker reports whether argv runs `celery ... worker ...` (forked
// workers rewrite their command line to that form; the app host shows as
// revrx-apphost and is not one).
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
