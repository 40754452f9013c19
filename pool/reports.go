//go:build linux

package pool

import (
	"sync"
	"time"
)

// Reports is what a Pool or an Engine has to tell its reader since the last
// TakeReports: each report once, in the order it happened within its kind.
type Reports struct {
	// Exits are worker processes that ended, each reported once nothing of
	// it runs any more (main process reaped, group SIGKILLed) and before
	// its slot changes (restart or removal): a reader that takes the
	// reports after reading Workers sees the exit of every process that
	// snapshot shows gone.
	Exits []Exit
	// Restarts are unexpected exits scheduled for restart.
	Restarts []Restart
	// Losses (pool engine) are pool processes that died with a task.
	Losses []ProcessLoss
	// Quarantines (pool engine) are messages the worker main could not
	// decode, moved to a quarantine list.
	Quarantines []Quarantine
}

// Restart is an unexpected exit scheduled for restart.
type Restart struct {
	Name   string
	Reason string    // ReasonCrashed, ReasonExited or ReasonFailedStart
	At     time.Time // when it was scheduled (the backoff starts then)
}

// reportBox keeps the reports no reader has taken yet. Adding never blocks
// and never drops: what is not taken stays (one small entry per process end,
// restart, loss or quarantine; a worker in a crash loop adds two per backoff).
type reportBox struct {
	mu      sync.Mutex
	r       Reports
	pending chan struct{} // capacity 1: a value while r is not empty
}

func newReportBox() *reportBox { return &reportBox{pending: make(chan struct{}, 1)} }

// add changes the waiting reports with f and wakes the reader.
func (b *reportBox) add(f func(*Reports)) {
	b.mu.Lock()
	f(&b.r)
	b.mu.Unlock()
	select {
	case b.pending <- struct{}{}:
	default:
	}
}

// take returns the waiting reports and forgets them.
func (b *reportBox) take() Reports {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.r
	b.r = Reports{}
	return r
}

// Reported returns a channel (capacity 1) that receives a value, without the
// pool ever blocking, when reports wait to be taken. Call TakeReports after
// receiving from it.
func (p *Pool) Reported() <-chan struct{} { return p.reports.pending }

// TakeReports returns every report since the last call (empty if none) and
// forgets them. Reports are kept until taken, however many: nothing is
// dropped, and a reader that falls behind only finds more at once.
func (p *Pool) TakeReports() Reports { return p.reports.take() }

// Reported is the worker main's Pool.Reported; the Engine's own losses and
// quarantines are reported there too.
func (e *Engine) Reported() <-chan struct{} { return e.main.Reported() }

// TakeReports is the worker main's Pool.TakeReports, with the Engine's
// losses and quarantines.
func (e *Engine) TakeReports() Reports { return e.main.TakeReports() }
