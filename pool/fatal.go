//go:build linux

package pool

import (
	"strings"
	"sync"
	"time"
)

// fatalMarker is what a Celery 5.2 worker's main process logs when its
// consumer dies of an error it cannot handle (a malformed message, for
// one): "[…: CRITICAL/MainProcess] Unrecoverable error: …". It then shuts
// down; but if a pool child is busy at that moment it can wait for it
// forever (measured in make chaos: state S in do_wait, never exiting),
// holding its messages and consuming nothing.
const fatalMarker = "CRITICAL/MainProcess] Unrecoverable error"

// fatalGrace is how long a worker that logged fatalMarker may take to
// exit (a sound one exits within about a second) before its process group
// is SIGKILLed; never longer than ShutdownTimeout. With Config.AcksLate it
// is killed at once: what its pool runs would be redelivered anyway, and
// killed it cannot put its messages back itself, so they stay its own take
// in unacked, where the supervisor counts the death and, at the second,
// quarantines the poison before any other worker can take it again.
const fatalGrace = 10 * time.Second

// fatalWait is the grace for this pool.
func (p *Pool) fatalWait() time.Duration {
	if p.cfg.AcksLate {
		return 0
	}
	return min(fatalGrace, p.cfg.ShutdownTimeout)
}

// fatalSignal is closed once the worker has logged fatalMarker.
type fatalSignal struct {
	once sync.Once
	ch   chan struct{}
	line string // the first fatal line, set before ch is closed
}

func newFatalSignal() *fatalSignal { return &fatalSignal{ch: make(chan struct{})} }

// closed returns the channel closed by the fatal line (nil, never ready,
// for a process without one).
func (f *fatalSignal) closed() <-chan struct{} {
	if f == nil {
		return nil
	}
	return f.ch
}

// observe closes the signal if line is the fatal marker.
func (f *fatalSignal) observe(line string) {
	if f != nil && strings.Contains(line, fatalMarker) {
		f.once.Do(func() {
			f.line = line
			close(f.ch)
		})
	}
}

// error is Celery's "Unrecoverable error: …" text from the fatal line, ""
// if there was none.
func (f *fatalSignal) error() string {
	if f == nil {
		return ""
	}
	select {
	case <-f.ch:
	default:
		return ""
	}
	i := strings.Index(f.line, fatalMarker)
	if i < 0 {
		return ""
	}
	return f.line[i+len("CRITICAL/MainProcess] "):]
}

// killIfStuck waits until pr ends or fatalGrace after its fatal line, and
// then SIGKILLs its group: the exit is an unexpected one (its messages are
// put back, it is restarted).
func (p *Pool) killIfStuck(s *slot, pr *process) {
	t := time.NewTimer(p.fatalWait())
	defer t.Stop()
	select {
	case <-pr.done:
		return
	case <-t.C:
	}
	if pr.killGroup() {
		p.logger(s).Warn(`worker logged Celery's "Unrecoverable error" and did not exit: killed its process group`,
			keyPID, pr.pid, keyTimeout, p.fatalWait())
	}
}
