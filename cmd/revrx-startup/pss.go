package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// treePSS returns, for each root PID, the summed Pss of the root and all its
// descendants (a Celery worker's main process and its prefork children), in
// bytes, from one scan of /proc for the parent links.
func treePSS(roots []int) (map[int]uint64, error) {
	kids, err := childrenOf()
	if err != nil {
		return nil, err
	}
	out := make(map[int]uint64, len(roots))
	for _, root := range roots {
		var sum uint64
		for todo := []int{root}; len(todo) > 0; {
			pid := todo[len(todo)-1]
			todo = append(todo[:len(todo)-1], kids[pid]...)
			pss, err := processPSS(pid)
			if err != nil {
				if pid == root {
					return nil, err
				}
				continue // a child that just exited
			}
			sum += pss
		}
		out[root] = sum
	}
	return out, nil
}

// childrenOf maps every PID on the host to its children's PIDs.
func childrenOf() (map[int][]int, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	kids := make(map[int][]int)
	for _, path := range dirs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // exited during the scan
		}
		pid, ppid, ok := parseStat(b)
		if ok {
			kids[ppid] = append(kids[ppid], pid)
		}
	}
	return kids, nil
}

// parseStat returns the pid and ppid of a /proc/PID/stat line; comm (in
// parentheses) may itself hold spaces and parentheses.
func parseStat(b []byte) (pid, ppid int, ok bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return 0, 0, false
	}
	f := strings.Fields(string(b[end+1:])) // state ppid ...
	if len(f) < 2 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	ppid, err2 := strconv.Atoi(f[1])
	return pid, ppid, err1 == nil && err2 == nil
}

// processPSS returns the Pss line of /proc/PID/smaps_rollup, in bytes.
func processPSS(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("pid %d: smaps_rollup Pss: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("pid %d: no Pss line in smaps_rollup", pid)
}
