//go:build linux

package pool

import "time"

// failedStartReport is the number of consecutive failed starts after which
// the pool logs one error with the child's last output lines.
const failedStartReport = 3

// Restart reasons (Restart.Reason).
const (
	ReasonCrashed     = "crashed"      // nonzero exit status or killed by a signal
	ReasonExited      = "exited"       // exit status 0 without being asked to stop
	ReasonFailedStart = "failed_start" // exited (or could not start) within FailedStartWindow
)

// backoffPolicy is the part of Config the restart decision needs.
type backoffPolicy struct {
	Min, Max          time.Duration
	FailedStartWindow time.Duration
}

// backoffState is the restart history of one slot, carried between exits.
type backoffState struct {
	Unstable     int // consecutive exits without a long-enough run; the backoff exponent
	FailedStarts int // consecutive failed starts
}

// restartDecision is what nextRestart decides for one unexpected exit.
type restartDecision struct {
	Delay  time.Duration
	Reason string
	State  backoffState
	Report bool // log "worker keeps failing to start" now (once per streak)
}

// resetAfter is how long a process must stay up for its slot's backoff to
// start again from Min.
func (b backoffPolicy) resetAfter() time.Duration { return 2 * b.FailedStartWindow }

// nextRestart decides the delay and reason for restarting after a process
// that ran for uptime exited (crashed reports a nonzero status or a signal).
// It is pure: the caller measures uptime on the monotonic clock.
func nextRestart(prev backoffState, uptime time.Duration, crashed bool, b backoffPolicy) restartDecision {
	next := prev
	if uptime >= b.resetAfter() {
		next.Unstable = 0
	}
	d := restartDecision{Reason: ReasonExited}
	if crashed {
		d.Reason = ReasonCrashed
	}
	if uptime < b.FailedStartWindow {
		d.Reason = ReasonFailedStart
		next.FailedStarts++
		d.Report = next.FailedStarts == failedStartReport
	} else {
		next.FailedStarts = 0
	}
	d.Delay = backoffDelay(next.Unstable, b.Min, b.Max)
	next.Unstable++
	d.State = next
	return d
}

// backoffDelay returns min·2^k capped at max, without overflowing.
func backoffDelay(k int, min, max time.Duration) time.Duration {
	d := min
	for i := 0; i < k && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		return max
	}
	return d
}
