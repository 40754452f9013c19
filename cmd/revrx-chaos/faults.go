package main

import (
	"context"
	"slices"
	"syscall"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// kill is one SIGKILL the harness sent.
type kill struct {
	at      time.Time
	kind    faultKind
	pid     int      // the process killed
	main    int      // its worker main process (pid itself for a main)
	worker  string   // node name
	victims []string // task ids it was running at that moment

	// A worker main only: on Redis, the delivery tags in its
	// revrx.held.<name> set read just before the SIGKILL (heldErr: the read
	// failed); and how long after the kill its messages were back (-1: not
	// within the mode's watch; measured by the mode's watchBack).
	held    []string
	heldErr error
	back    time.Duration
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
			st, ok := harness.ReadStat(child)
			if ok && !st.Zombie() && slices.Contains(mains, st.PPID) && harness.Alive(st.PPID) {
				cands = append(cands, busyTarget{child: child, main: st.PPID, ids: ids})
			}
		}
		if len(cands) > 0 {
			slices.SortFunc(cands, func(a, b busyTarget) int { return a.child - b.child })
			return cands[r.rng.IntN(len(cands))], true
		}
		if time.Now().After(deadline) || harness.Sleep(ctx, 100*time.Millisecond) != nil {
			return busyTarget{}, false
		}
	}
}

// runningUnder lists the tasks the live pool children of main are running.
func (r *run) runningUnder(main int) []string {
	var ids []string
	for child, running := range r.rec.running() {
		if st, ok := harness.ReadStat(child); ok && !st.Zombie() && st.PPID == main {
			ids = append(ids, running...)
		}
	}
	slices.Sort(ids)
	return ids
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
		if kids := harness.Children(t.main); len(kids) > 0 {
			t.child = kids[0]
		}
	}
	target := t.main
	if kind == faultKillChild {
		target = t.child
	} else {
		t.ids = r.runningUnder(t.main) // a main's death ends every task its pool runs
	}
	k := &kill{kind: kind, pid: target, main: t.main, worker: r.samp.nameOf(t.main), victims: t.ids, back: -1}
	note := ""
	if kind == faultKillMain && target != 0 {
		// What the broker shows it holds: read as late as possible.
		note = r.b.beforeKill(ctx, k)
	}
	if target == 0 || syscall.Kill(target, syscall.SIGKILL) != nil {
		r.logf("%s: target gone, skipped", kind)
		return
	}
	k.at = time.Now()
	r.mu.Lock()
	r.kills = append(r.kills, k)
	r.mu.Unlock()
	what := "idle"
	if busy {
		what = "running " + itoa(len(t.ids)) + " task(s)"
	}
	if kind == faultKillMain {
		r.watchers.Add(1)
		go func() {
			defer r.watchers.Done()
			r.b.watchBack(ctx, k)
		}()
	}
	r.logf("%s %d (%s, main %d): %s%s", kind, target, k.worker, t.main, what, note)
}
