package broker

import (
	"slices"
	"sync"
	"time"
)

// Bounds of the first-seen memory behind Backlog ages without a
// published_at header.
const (
	// firstSeenTTL: an entry not seen at any list tail for this long is
	// dropped. A consumed message never comes back to a tail unless it is
	// restored, so this only has to outlive gaps between polls.
	firstSeenTTL = 10 * time.Minute
	// firstSeenCap bounds the map; past it the least recently seen entries
	// are dropped first (current tails are the most recently seen).
	firstSeenCap = 10000
)

// firstSeen remembers when each message was first seen at the tail of a
// list, across calls. It is safe for concurrent use; times come from the
// caller (no clock reads).
type firstSeen struct {
	mu        sync.Mutex
	entries   map[string]*seenEntry
	lastSweep time.Time
}

type seenEntry struct {
	first, last time.Time
}

func newFirstSeen() *firstSeen {
	return &firstSeen{entries: make(map[string]*seenEntry)}
}

// observe records that the message identified by id is at a tail at now and
// returns when it was first seen (now for a new one). Call sweep after a
// batch of observations.
func (f *firstSeen) observe(id string, now time.Time) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.entries[id]
	if !ok {
		e = &seenEntry{first: now, last: now}
		f.entries[id] = e
	}
	if now.After(e.last) {
		e.last = now
	}
	return e.first
}

// sweep drops entries not seen since now-firstSeenTTL (at most every
// TTL/4, as it scans the whole map), then the least recently seen ones while
// more than firstSeenCap remain.
func (f *firstSeen) sweep(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.lastSweep) >= firstSeenTTL/4 {
		f.lastSweep = now
		for id, e := range f.entries {
			if now.Sub(e.last) > firstSeenTTL {
				delete(f.entries, id)
			}
		}
	}
	if excess := len(f.entries) - firstSeenCap; excess > 0 {
		f.dropOldest(excess)
	}
}

// dropOldest deletes the n entries with the oldest last sighting.
func (f *firstSeen) dropOldest(n int) {
	type aged struct {
		id   string
		last time.Time
	}
	all := make([]aged, 0, len(f.entries))
	for id, e := range f.entries {
		all = append(all, aged{id, e.last})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.last.Compare(b.last) })
	for _, a := range all[:n] {
		delete(f.entries, a.id)
	}
}

// len returns the number of remembered messages.
func (f *firstSeen) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.entries)
}
