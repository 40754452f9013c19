package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// leftovers is what Redis holds once the last supervisor has stopped.
type leftovers struct {
	queued          int64         // messages in the chaos queue and its priority sub-lists
	unacked         int64         // HLEN unacked
	oldest          time.Duration // age of the oldest unacked_index entry
	hasOldest       bool
	quarantineKey   bool  // chaos.quarantine exists
	quarantined     int64 // its LLEN
	where           map[string]string
	unackedContents string
	finishedQueued  int // queued messages of tasks that already finished
}

// quarantineKey is the list the supervisor will move poison messages to.
const quarantineKey = chaosQueue + ".quarantine"

// inspect reads every list and hash left in Redis, so that each task id can
// be found wherever it is (queue, priority sub-list, unacked, quarantine).
func (r *run) inspect() (leftovers, error) {
	lo := leftovers{where: map[string]string{}}
	keys, err := r.rc.Keys()
	if err != nil {
		return lo, err
	}
	for _, k := range keys {
		typ, _ := r.rc.Do("TYPE", k)
		var vals []string
		switch typ {
		case "list":
			vals, err = harness.Strings(r.rc.Do("LRANGE", k, "0", "-1"))
		case "hash":
			vals, err = harness.Strings(r.rc.Do("HVALS", k))
		}
		if err != nil {
			return lo, err
		}
		lo.where[k] = strings.Join(vals, "\n")
		switch {
		case k == quarantineKey:
			lo.quarantineKey, lo.quarantined = true, int64(len(vals))
		case k == "unacked":
			lo.unacked, lo.unackedContents = int64(len(vals)), lo.where[k]
		case k == chaosQueue || strings.HasPrefix(k, chaosQueue+"\x06\x16"):
			lo.queued += int64(len(vals))
			_, ends := r.rec.snapshot()
			for _, v := range vals {
				if id, _ := messageIdent(v); ends[id] > 0 {
					lo.finishedQueued++
				}
			}
		}
	}
	oldest, err := harness.Strings(r.rc.Do("ZRANGE", "unacked_index", "0", "0", "WITHSCORES"))
	if err == nil && len(oldest) == 2 {
		if score, err := strconv.ParseFloat(oldest[1], 64); err == nil {
			lo.oldest = time.Since(time.Unix(0, int64(score*1e9)))
			lo.hasOldest = true
		}
	}
	return lo, nil
}

// locate names the key holding id, or "".
func (lo leftovers) locate(id string) string {
	for k, v := range lo.where {
		if strings.Contains(v, id) {
			return k
		}
	}
	return ""
}
