package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
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

	// A worker main only: the delivery tags in its revrx.held.<name> set
	// read just before the SIGKILL (heldErr: the read failed), and how long
	// after the kill none of them was in unacked any more (-1: not within
	// heldWatch; measured by watchHeld).
	held    []string
	heldErr error
	back    time.Duration
}

// heldKey is the Redis set a forked worker records its messages in (the
// chaos app has no key prefix).
func heldKey(worker string) string { return "revrx.held." + worker }

// heldWatch is how long watchHeld looks for a killed worker's messages in
// unacked.
const heldWatch = 30 * time.Second

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
	if kind == faultKillMain && target != 0 {
		// What the supervisor will have to put back: read as late as
		// possible, so that only a message taken in the last instant
		// (between this read and the kill) can be missing from it.
		k.held, k.heldErr = harness.Strings(r.rc.Do("HKEYS", heldKey(k.worker)))
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
	held := ""
	if kind == faultKillMain {
		held = fmt.Sprintf("; %d message(s) in %s", len(k.held), heldKey(k.worker))
		if k.heldErr != nil {
			held = fmt.Sprintf("; %s unreadable: %v", heldKey(k.worker), k.heldErr)
		}
		r.watchers.Add(1)
		go r.watchHeld(ctx, k)
	}
	r.logf("%s %d (%s, main %d): %s%s", kind, target, k.worker, t.main, what, held)
}

// watchHeld polls unacked every 50 ms, on a connection of its own, until
// none of the killed worker's held delivery tags is in it as the dead worker
// left it, and sets k.back. A tag counts as back once it is absent from
// unacked, or present with an unacked_index score after the kill (put back
// and already taken again by a live worker: kombu keeps the tag, and its
// score is when the new taker wrote it). Resolution 50 ms. A failed read, as while Redis restarts, is a miss, not an answer.
func (r *run) watchHeld(ctx context.Context, k *kill) {
	defer r.watchers.Done()
	rc := harness.NewClient(r.redis.Addr)
	defer rc.Reset()
	back := time.Duration(-1)
	defer func() {
		r.mu.Lock()
		k.back = back
		r.mu.Unlock()
	}()
	if len(k.held) == 0 {
		if k.heldErr == nil {
			back = 0
		}
		return
	}
	pending := map[string]bool{}
	for _, tag := range k.held {
		pending[tag] = true
	}
	for time.Since(k.at) < heldWatch {
		tags := make([]string, 0, len(pending))
		for tag := range pending {
			tags = append(tags, tag)
		}
		now := time.Now()
		res, err := rc.Pipeline([][]string{append([]string{"HMGET", "unacked"}, tags...),
			append([]string{"ZMSCORE", "unacked_index"}, tags...)})
		if err == nil {
			vals, _ := res[0].([]any)
			scores, _ := res[1].([]any)
			if len(vals) == len(tags) && len(scores) == len(tags) {
				for i, tag := range tags {
					retaken := false
					if s, ok := scores[i].(string); ok {
						f, err := strconv.ParseFloat(s, 64)
						retaken = err == nil && time.Unix(0, int64(f*1e9)).After(k.at)
					}
					if vals[i] == nil || retaken {
						delete(pending, tag)
					}
				}
				if len(pending) == 0 {
					back = now.Sub(k.at)
					return
				}
			}
		}
		if harness.Sleep(ctx, 50*time.Millisecond) != nil {
			return
		}
	}
}
