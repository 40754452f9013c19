package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// recorder receives every line the pool logs (its own messages and each
// child's output, tagged worker=<name>), notes when each worker printed
// Celery's "<name> ready." line, and copies everything to a log file.
type recorder struct {
	mu       sync.Mutex
	out      io.Writer
	ready    map[string]time.Time
	warnings []string // the pool's own warnings and errors
	changed  chan struct{}
}

func newRecorder(out io.Writer) *recorder {
	return &recorder{out: out, ready: make(map[string]time.Time), changed: make(chan struct{}, 1)}
}

// logger returns a logger whose records go to r.
func (r *recorder) logger() *slog.Logger { return slog.New(&capture{rec: r}) }

// reset forgets the ready lines seen so far (between repetitions: the
// names are reused once the slots are free).
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ready = make(map[string]time.Time)
}

// takeWarnings returns the pool's warnings since the last call.
func (r *recorder) takeWarnings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.warnings
	r.warnings = nil
	return w
}

func (r *recorder) line(worker string, rec slog.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, "%s %-5s [%s] %s\n", rec.Time.Format("15:04:05.000"), rec.Level, worker, rec.Message)
	if rec.Level >= slog.LevelWarn {
		r.warnings = append(r.warnings, fmt.Sprintf("[%s] %s", worker, rec.Message))
	}
	if worker == "" || !strings.HasSuffix(rec.Message, worker+" ready.") {
		return
	}
	if _, seen := r.ready[worker]; !seen {
		r.ready[worker] = rec.Time
		select {
		case r.changed <- struct{}{}:
		default:
		}
	}
}

// waitReady waits until every worker in names has printed its ready line,
// or until deadline or ctx is done; it returns the times seen (complete
// unless err).
func (r *recorder) waitReady(ctx context.Context, names []string, deadline time.Time) (map[string]time.Time, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		seen, missing := r.readyOf(names)
		if len(missing) == 0 {
			return seen, nil
		}
		select {
		case <-r.changed:
		case <-ctx.Done():
			return seen, ctx.Err()
		case <-timer.C:
			return seen, fmt.Errorf("never printed ready: %s", strings.Join(missing, ", "))
		}
	}
}

func (r *recorder) readyOf(names []string) (map[string]time.Time, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]time.Time, len(names))
	var missing []string
	for _, n := range names {
		if t, ok := r.ready[n]; ok {
			seen[n] = t
		} else {
			missing = append(missing, n)
		}
	}
	return seen, missing
}

// capture is the slog.Handler behind recorder.logger. The pool tags each
// child's logger with With("worker", name), so the name arrives here
// through WithAttrs.
type capture struct {
	rec    *recorder
	worker string
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }

func (c *capture) Handle(_ context.Context, rec slog.Record) error {
	worker := c.worker
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "worker" {
			worker = a.Value.String()
		}
		return true
	})
	c.rec.line(worker, rec)
	return nil
}

func (c *capture) WithAttrs(attrs []slog.Attr) slog.Handler {
	next := *c
	for _, a := range attrs {
		if a.Key == "worker" {
			next.worker = a.Value.String()
		}
	}
	return &next
}

func (c *capture) WithGroup(string) slog.Handler { return c }
