//go:build linux

package pool

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func unixPrctlSubreaper() error { return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }

// record is one captured log record, attributes flattened by key.
type record struct {
	Level slog.Level
	Msg   string
	Attrs map[string]any
}

// recorder is a slog.Handler that keeps every record and wakes waiters.
type recorder struct {
	shared *recorderState
	attrs  []slog.Attr
}

type recorderState struct {
	mu      sync.Mutex
	recs    []record
	changed chan struct{} // closed and replaced on every record
	block   chan struct{} // if non-nil, Handle waits for it before child output
}

func newRecorder() *recorder {
	return &recorder{shared: &recorderState{changed: make(chan struct{})}}
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &recorder{shared: r.shared, attrs: append(append([]slog.Attr{}, r.attrs...), as...)}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

func (r *recorder) Handle(_ context.Context, sr slog.Record) error {
	s := r.shared
	s.mu.Lock()
	block := s.block
	s.mu.Unlock()
	rec := record{Level: sr.Level, Msg: sr.Message, Attrs: map[string]any{}}
	for _, a := range r.attrs {
		rec.Attrs[a.Key] = a.Value.Any()
	}
	sr.Attrs(func(a slog.Attr) bool { rec.Attrs[a.Key] = a.Value.Any(); return true })
	if _, isOutput := rec.Attrs[keyStream]; isOutput && block != nil {
		<-block
	}
	s.mu.Lock()
	s.recs = append(s.recs, rec)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func (r *recorder) count(pred func(record) bool) int {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	n := 0
	for _, rec := range r.shared.recs {
		if pred(rec) {
			n++
		}
	}
	return n
}

func (r *recorder) all(pred func(record) bool) []record {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	var out []record
	for _, rec := range r.shared.recs {
		if pred(rec) {
			out = append(out, rec)
		}
	}
	return out
}

// waitCount waits until at least n records match pred or deadline passes,
// and returns the number that matched.
func (r *recorder) waitCount(deadline time.Time, pred func(record) bool, n int) int {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		r.shared.mu.Lock()
		ch := r.shared.changed
		r.shared.mu.Unlock()
		if got := r.count(pred); got >= n {
			return got
		}
		select {
		case <-ch:
		case <-t.C:
			return r.count(pred)
		}
	}
}

// waitFor fails t unless a record matching pred arrives within 10s.
func (r *recorder) waitFor(t *testing.T, what string, pred func(record) bool) record {
	t.Helper()
	if r.waitCount(time.Now().Add(10*time.Second), pred, 1) < 1 {
		t.Fatalf("timed out waiting for %s", what)
	}
	return r.all(pred)[0]
}

// waitWorkers waits (on Changed, no polling) until cond holds for
// p.Workers(), and returns that snapshot; it fails t after 10s.
func waitWorkers(t *testing.T, p *Pool, what string, cond func([]Worker) bool) []Worker {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		ws := p.Workers()
		if cond(ws) {
			return ws
		}
		select {
		case <-p.Changed():
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s; workers: %+v", what, ws)
		}
	}
}
