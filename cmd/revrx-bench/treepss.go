package main

import (
	"fmt"
	"strings"
)

// role is what a process of a contender's tree is, for the PSS breakdown.
type role int

const (
	roleSupervisor role = iota // revrx-supervise itself (the tree's root)
	roleHost                   // any other process that is not Celery's: the app host
	roleMain                   // a Celery worker main process
	rolePool                   // a prefork pool process (a main's child)
	roleCount
)

// treePSS is one look at a tree's PSS by role.
type treePSS struct {
	kb [roleCount]int64 // Σ Pss, KiB
	n  [roleCount]int   // processes
}

func (t treePSS) total() int64 {
	var sum int64
	for _, kb := range t.kb {
		sum += kb
	}
	return sum
}

// measureTreePSS reads the Pss of every process of root's tree now. A
// plain celery worker's root is its worker main.
func measureTreePSS(root int) treePSS {
	var t treePSS
	tree, table := treeNow(root)
	mains := workerMains(tree, table)
	for _, pid := range tree {
		r := roleHost
		switch {
		case mains[pid]:
			r = roleMain
		case mains[table[pid].PPID]:
			r = rolePool
		case pid == root:
			r = roleSupervisor
		}
		t.kb[r] += pss(pid)
		t.n[r]++
	}
	return t
}

// mb renders KiB as MB (2²⁰ bytes).
func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

// roleMB is a role's PSS, "–" when the tree has no such process, with the
// process count when there are several.
func (t treePSS) roleMB(r role) string {
	switch t.n[r] {
	case 0:
		return "–"
	case 1:
		return mb(t.kb[r])
	}
	return fmt.Sprintf("%s (%d × %.1f)", mb(t.kb[r]), t.n[r], float64(t.kb[r])/1024/float64(t.n[r]))
}

func mbList(kbs []int64) string {
	s := make([]string, len(kbs))
	for i, kb := range kbs {
		s[i] = fmt.Sprintf("%.1f", float64(kb)/1024)
	}
	return strings.Join(s, ", ")
}
