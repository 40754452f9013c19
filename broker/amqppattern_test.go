package broker

import (
	"context"
	"testing"
	"time"
)

// checkAMQPPattern (on TestAMQPQueues's node): nothing stored reads as not
// found; a save is read back by every read (a read puts it back); the
// last save wins; a save over another period's queue (another x-expires)
// replaces it instead of failing.
func checkAMQPPattern(t *testing.T, a *AMQP) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if doc, found, err := a.Pattern(ctx, "reports"); err != nil || found {
		t.Fatalf("Pattern on a fresh broker = %q, %v, %v; want not found", doc, found, err)
	}
	for _, save := range []struct {
		doc    string
		period time.Duration
	}{{`{"v":1}`, time.Hour}, {`{"v":2}`, time.Hour}, {`{"v":3}`, 7 * 24 * time.Hour}} {
		if err := a.SavePattern(ctx, "reports", []byte(save.doc), save.period); err != nil {
			t.Fatalf("SavePattern(%s, %s): %v", save.doc, save.period, err)
		}
		for range 2 {
			doc, found, err := a.Pattern(ctx, "reports")
			if err != nil || !found || string(doc) != save.doc {
				t.Fatalf("Pattern after saving %s = %q, %v, %v", save.doc, doc, found, err)
			}
		}
	}
	// The reads above left the backlog reader working.
	if got, err := a.Queues(ctx, []string{"reports"}); err != nil || got["reports"].Ready != 2 {
		t.Errorf("Queues after the pattern calls = %+v, %v; want 2 ready", got, err)
	}
}
