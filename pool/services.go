//go:build linux

package pool

import (
	"log/slog"
	"sync"
)

// services are the long-lived helpers a Pool shares with its AppHost: the
// registry of the children this process waits for itself, the starter
// thread every exec goes through, and the logger of the children's output.
type services struct {
	children *children
	starter  *starter
	lines    *lineLogger

	once      sync.Once
	closeOnce sync.Once
	stop      chan struct{} // closed by close: the starter and the logger end
	wg        sync.WaitGroup
}

func newServices(log *slog.Logger) *services {
	ch := newChildren()
	return &services{children: ch, starter: newStarter(ch), lines: newLineLogger(log), stop: make(chan struct{})}
}

// start starts the locked starter thread and the output logger, once.
func (s *services) start() {
	s.once.Do(func() {
		s.wg.Add(2)
		go func() { defer s.wg.Done(); s.starter.run(s.stop) }()
		go func() { defer s.wg.Done(); s.lines.run(s.stop) }()
	})
}

// close stops what start started and waits for it, once the last child is
// gone. It is idempotent; a close before any start starts nothing.
func (s *services) close() {
	s.once.Do(func() {})
	s.closeOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
}
