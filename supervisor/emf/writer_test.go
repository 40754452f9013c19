package emf

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor"
)

// blockedWriter is a stdout nobody reads: every Write blocks until release.
type blockedWriter struct{ release chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) { <-w.release; return len(p), nil }

// TestRunNeverBlocksOnStdout: with stdout wedged, the EMF ticker keeps
// taking snapshots (far more lines than the buffer holds are dropped, not
// waited for), and it returns soon after its context ends.
func TestRunNeverBlocksOnStdout(t *testing.T) {
	w := blockedWriter{release: make(chan struct{})}
	defer close(w.release)
	var snaps atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Config{Interval: time.Millisecond, Namespace: "N", Out: w},
			func() supervisor.Status { snaps.Add(1); return supervisor.Status{} }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	deadline := time.After(10 * time.Second)
	for snaps.Load() < 3*buffer {
		select {
		case <-deadline:
			t.Fatalf("%d snapshots in 10 s: the ticker is blocked by stdout", snaps.Load())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(flushWait + 2*time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
