package main

// The workers engine's poison expectations: a malformed message crashes the
// whole worker that takes it, and a crash-looping one crashes worker after
// worker until the supervisor, counting their deaths, quarantines it. (The
// pool engine's worker main quarantines both itself: quarantine.go.)

import "fmt"

// malformedKinds are the exceptions the malformed messages raise (one crash
// each); any other "Unrecoverable error" is the crash-looping message's.
var malformedKinds = map[string]bool{"JSONDecodeError": true, "KeyError": true, "TypeError": true}

// loopCrashes counts the crashes not caused by a malformed message.
func loopCrashes(crashes map[string]int) int {
	n := 0
	for k, v := range crashes {
		if !malformedKinds[k] {
			n += v
		}
	}
	return n
}

// maxLoopCrashes is how many worker crashes one crash-looping message may
// cause before the supervisor quarantines it: its two counted deaths, plus
// up to three crashes of workers that took it again in between. A worker
// that dies of it logs "Unrecoverable error" and its own kombu pushes the
// message back to the front of the queue within milliseconds, before the
// supervisor (which acts on the exit) can settle it, so the next worker may
// already hold it; that worker's death then quarantines it from unacked.
const maxLoopCrashes = 5

// poisonVerdicts are the crash-looping messages' expectations: each ends in
// the quarantine, and the crash loop ends.
func (r *run) poisonVerdicts(lo leftovers) []verdict {
	if len(r.poison) == 0 {
		return nil
	}
	inQ := 0
	for _, id := range r.poison {
		if lo.locate(id) == quarantineKey {
			inQ++
		}
	}
	q, _ := r.metricSum("revrx_tasks_quarantined_total")
	crashes, _ := r.logDigest()
	n := loopCrashes(crashes)
	return []verdict{
		{fmt.Sprintf("crash-looping message(s) quarantined (%d)", len(r.poison)),
			fmt.Sprintf("quarantined %g, %d of %d in %s", q, inQ, len(r.poison), quarantineKey), q >= 1 && inQ == len(r.poison)},
		{fmt.Sprintf("crash loop ends (<= %d crashes each)", maxLoopCrashes),
			fmt.Sprintf("%d crashes", n), n <= maxLoopCrashes*len(r.poison)},
	}
}
