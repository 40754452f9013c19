package main

import (
	"errors"
	"runtime"
	"syscall"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// cpuMark is a reading of the machine's busy CPU time and of this
// process's own (itself plus every descendant it has waited for: workers,
// their pool children, the host, redis-server).
type cpuMark struct {
	at         time.Time
	busy, ours time.Duration
	err        error
}

func markCPU() cpuMark {
	m := cpuMark{at: time.Now()}
	var self, kids syscall.Rusage
	m.busy, m.err = harness.MachineBusy()
	m.err = errors.Join(m.err, syscall.Getrusage(syscall.RUSAGE_SELF, &self),
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids))
	m.ours = tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
	return m
}

// others returns the share of the machine's CPUs (0..1) that other
// processes used from m to end; call it once everything this process
// started in between has been waited for.
func (m cpuMark) others(end cpuMark) (float64, bool) {
	wall := end.at.Sub(m.at)
	if m.err != nil || end.err != nil || wall <= 0 {
		return 0, false
	}
	other := (end.busy - m.busy) - (end.ours - m.ours)
	return max(0, other.Seconds()/(wall.Seconds()*float64(runtime.NumCPU()))), true
}

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}
