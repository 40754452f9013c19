package emf

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/revrx/revrx-supervise/supervisor"
)

// Config is what to write and where; Interval 0 turns the output off.
type Config struct {
	Interval  time.Duration
	Namespace string    // the CloudWatch namespace of every metric
	Out       io.Writer // stdout: the awslogs driver reads it
}

// buffer bounds the lines waiting for a slow Out; more are dropped.
const buffer = 64

// flushWait bounds how long Run waits at the end for Out to take the
// buffered lines.
const flushWait = time.Second

// Run writes the Documents of snapshot() to cfg.Out every cfg.Interval
// until ctx is done; with no Interval or no Out it returns at once. Lines
// go through a buffer of 64 to a writer goroutine, so a blocked Out holds
// neither this ticker nor anything else; what does not fit is dropped and
// logged once per stall. At the end Run waits at most a second for Out to
// take what is buffered; a wedged Out's writer is left to the process's
// exit. log hears of errors and drops (nil: discarded).
func Run(ctx context.Context, cfg Config, snapshot func() supervisor.Status, log *slog.Logger) {
	if cfg.Interval <= 0 || cfg.Out == nil {
		return
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	lines, written := make(chan []byte, buffer), make(chan struct{})
	go func() {
		defer close(written)
		for b := range lines {
			_, _ = cfg.Out.Write(append(b, '\n'))
		}
	}()
	defer func() {
		close(lines)
		select {
		case <-written:
		case <-time.After(flushWait):
		}
	}()
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	dropping := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		docs, err := Documents(snapshot(), cfg.Namespace)
		if err != nil {
			log.Error("emf", "err", err)
			continue
		}
		for _, b := range docs {
			select {
			case lines <- b:
				dropping = false
			default:
				if !dropping {
					log.Warn("stdout is not keeping up; dropping EMF metrics")
				}
				dropping = true
			}
		}
	}
}
