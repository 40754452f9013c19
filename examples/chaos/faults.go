package main

import (
	"context"
	"slices"
	"syscall"
	"time"
)

// kill is one SIGKILL the harness sent.
type kill struct {
	at      time.Time
	kind    faultKind
	pid     int      // the process killed
	main    int      // its worker main process (pid itself for a main)
	worker  string   // node name
	victims []string // task ids it was running at that moment
}

// busyTarget is a pool child running a task, with its worker main process.
type busyTarget struct {
	child, main int
	ids         []string
}

// pickBusy waits up to wait for a pool child of a live worker of the
// current supervisor that is running a task, and picks one at random.
func (r *run) pickBusy(ctx context.Context, wait time.Duration) (busyTarget, bool) {
	deadline := time.Now().Add(wait)
	for {
		r.rec.poll()
		var cands []busyTarget
		mains := r.samp.aliveMains()
		for child, ids := range r.rec.running() {
			st, ok := readPstat(child)
			if ok && !st.zombie && slices.Contains(mains, st.ppid) && alive(st.ppid) {
				cands = append(cands, busyTarget{child: child, main: st.ppid, ids: ids})
			}
		}
		if len(cands) > 0 {
			slices.SortFunc(cands, func(a, b busyTarget) int { return a.child - b.child })
			return cands[r.rng.IntN(len(cands))], true
		}
		if time.Now().After(deadline) || sleepCtx(ctx, 100*time.Millisecond) != nil {
			return busyTarget{}, false
		}
	}
}

// killWorker SIGKILLs a busy worker's main process (kind faultKillMain) or
// its pool child (faultKillChild), mid-task; an idle one if none is busy
// within 5 s.
func (r *run) killWorker(ctx context.Context, kind faultKind) {
	t, busy := r.pickBusy(ctx, 5*time.Second)
	if !busy {
		mains := r.samp.aliveMains()
		if len(mains) == 0 {
			r.logf("%s: no worker alive, skipped", kind)
			return
		}
		slices.Sort(mains)
		t.main = mains[r.rng.IntN(len(mains))]
		if kids := childrenOf(t.main); len(kids) > 0 {
			t.child = kids[0]
		}
	}
	target := t.main
	if kind == faultKillChild {
		target = t.child
	}
	if target == 0 || syscall.Kill(target, syscall.SIGKILL) != nil {
		r.logf("%s: target gone, skipped", kind)
		return
	}
	k := kill{at: time.Now(), kind: kind, pid: target, main: t.main, worker: r.samp.nameOf(t.main), victims: t.ids}
	r.mu.Lock()
	r.kills = append(r.kills, k)
	r.mu.Unlock()
	what := "idle"
	if busy {
		what = "running " + itoa(len(t.ids)) + " task(s)"
	}
	r.logf("%s %d (%s, main %d): %s", kind, target, k.worker, t.main, what)
}
