//go:build linux

package pool

import (
	"fmt"
	"sync"
	"testing"
)

// TestReportBoxKeepsEverything: adding never blocks and never drops, with
// no reader at all; a reader finds every report once, in order per
// producer, and the wake-up is pending while reports wait.
func TestReportBoxKeepsEverything(t *testing.T) {
	b := newReportBox()
	const producers, each = 4, 500
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				e := Exit{Name: fmt.Sprintf("w%d", p), PID: i}
				b.add(func(r *Reports) { r.Exits = append(r.Exits, e) })
			}
		})
	}
	wg.Wait() // no reader: none of the adds may block
	select {
	case <-b.pending:
	default:
		t.Fatal("no wake-up pending while reports wait")
	}
	got := b.take()
	if len(got.Exits) != producers*each {
		t.Fatalf("took %d exits, want %d", len(got.Exits), producers*each)
	}
	next := map[string]int{}
	for _, e := range got.Exits {
		if e.PID != next[e.Name] {
			t.Fatalf("%s: exit %d after %d, want them in order", e.Name, e.PID, next[e.Name]-1)
		}
		next[e.Name]++
	}
	if r := b.take(); len(r.Exits) != 0 {
		t.Fatalf("second take = %+v, want nothing (each report once)", r)
	}
}
