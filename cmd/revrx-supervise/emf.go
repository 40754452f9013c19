package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/revrx/revrx-supervise/supervisor"
)

// Flags of the CloudWatch Embedded Metric Format output.
const (
	flagEMFInterval  = "emf-interval"
	flagEMFNamespace = "emf-namespace"
)

func emfFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: flagEMFInterval, EnvVars: []string{"REVRX_EMF_INTERVAL"},
			Usage: "write CloudWatch Embedded Metric Format JSON lines to stdout this often, for ECS awslogs (0: off; logs stay on stderr)"},
		&cli.StringFlag{Name: flagEMFNamespace, EnvVars: []string{"REVRX_EMF_NAMESPACE"}, Value: "RevrxSupervise",
			Usage: "CloudWatch namespace of the --emf-interval metrics"},
	}
}

// emfConfig is what the EMF flags say; Interval 0 turns the output off.
type emfConfig struct {
	Interval  time.Duration
	Namespace string
	Out       io.Writer // stdout, set by realMain
}

func emfFromFlags(c *cli.Context) (emfConfig, error) {
	e := emfConfig{Interval: c.Duration(flagEMFInterval), Namespace: c.String(flagEMFNamespace)}
	if e.Interval < 0 {
		return e, usagef("--emf-interval %s: accepted: 0 (off) or a positive duration like 60s", e.Interval)
	}
	if e.Interval > 0 && e.Namespace == "" {
		return e, usagef("--emf-namespace is empty; accepted: a CloudWatch namespace like RevrxSupervise")
	}
	return e, nil
}

// emfBuffer bounds the lines waiting for a slow stdout; more are dropped.
const emfBuffer = 64

// emfFlushWait bounds how long runEMF waits at the end for stdout to take
// the buffered lines.
const emfFlushWait = time.Second

// runEMF writes the EMF documents of snapshot() to cfg.Out every cfg.Interval
// until ctx is done. Lines go through a buffer of emfBuffer to a writer
// goroutine, so a blocked stdout holds neither this ticker nor anything
// else; what does not fit is dropped and logged once per stall.
func runEMF(ctx context.Context, cfg emfConfig, snapshot func() supervisor.Status, log *slog.Logger) {
	if cfg.Interval <= 0 || cfg.Out == nil {
		return
	}
	lines, written := make(chan []byte, emfBuffer), make(chan struct{})
	go func() {
		defer close(written)
		for b := range lines {
			_, _ = cfg.Out.Write(append(b, '\n'))
		}
	}()
	defer func() {
		close(lines)
		// A wedged stdout must not hold the shutdown: the writer is left
		// to the process's exit after emfFlushWait.
		select {
		case <-written:
		case <-time.After(emfFlushWait):
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
		docs, err := supervisor.EMF(snapshot(), cfg.Namespace)
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
