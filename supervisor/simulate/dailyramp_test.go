package simulate

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The reference trace of the learned floor, testdata/daily-ramp.trace, is
// made by dailyRampTrace: a day's pattern compressed into six periods of two
// minutes, so a real run of it (revrx-bench) takes twelve minutes.
const (
	dailyRampPeriod  = 120 // seconds
	dailyRampPeriods = 6
)

// dailyRampRamps is each period's ramp: its offset in the period, its
// length in seconds and its 1 s tasks per second. The jitter between
// periods is written here, not drawn at random.
var dailyRampRamps = [dailyRampPeriods]struct{ offset, length, rate int }{
	{60, 20, 8}, {61, 20, 8}, {59, 21, 8}, {60, 19, 9}, {62, 20, 7}, {60, 20, 8},
}

// dailyRampTrace is the text of testdata/daily-ramp.trace: a header saying
// what it models and how it is made, then each second one 0.5 s task (the
// trickle) and, inside a ramp, its tasks, each ramp after its '# ramp' line.
func dailyRampTrace() string {
	var b strings.Builder
	b.WriteString(`# daily-ramp: the learned floor's reference trace (simulate --predict on --predict-period 2m).
# A day's pattern compressed into six periods of two minutes: all the time a trickle of
# one 0.5 s task per second; in each period, at about the same offset, a ramp: for about
# 20 s about 8 tasks of 1 s each second, which need about 8 processes. The ramps' jitter
# between periods, exactly (offset in the period, length, 1 s tasks per second):
`)
	for i, r := range dailyRampRamps {
		fmt.Fprintf(&b, "#   period %d: %d s, %d s, %d/s\n", i+1, r.offset, r.length, r.rate)
	}
	b.WriteString(`# Each ramp's window is its '# ramp START-END' line (wait p95 during ramps).
# Made by dailyRampTrace in supervisor/simulate/dailyramp_test.go (no randomness);
# go test ./supervisor/simulate/ -run DailyRampTrace -update rewrites it.
# at_seconds count task_seconds
`)
	for p, r := range dailyRampRamps {
		start := p*dailyRampPeriod + r.offset
		for s := p * dailyRampPeriod; s < (p+1)*dailyRampPeriod; s++ {
			if s == start {
				fmt.Fprintf(&b, "# ramp %d-%d\n", start, start+r.length)
			}
			fmt.Fprintf(&b, "%d 1 0.5\n", s)
			if s >= start && s < start+r.length {
				fmt.Fprintf(&b, "%d %d 1\n", s, r.rate)
			}
		}
	}
	return b.String()
}

// TestDailyRampTrace: testdata/daily-ramp.trace is what dailyRampTrace
// makes (-update rewrites it), and it reads as six ramps of about 160 tasks
// over a trickle of one task a second.
func TestDailyRampTrace(t *testing.T) {
	path := filepath.Join("testdata", "daily-ramp.trace")
	checkGolden(t, path, []byte(dailyRampTrace()))
	tr, err := ReadTrace(path)
	if err != nil {
		t.Fatal(err)
	}
	ramps, during := 0, 0 // the ramps' tasks, the trickle's during them
	for _, r := range dailyRampRamps {
		ramps, during = ramps+r.length*r.rate, during+r.length
	}
	trickle := dailyRampPeriods * dailyRampPeriod
	if tr.Tasks() != trickle+ramps || len(tr.Ramps) != dailyRampPeriods || tr.LastArrival() != time.Duration(trickle-1)*time.Second {
		t.Errorf("%d tasks, %d ramps, last arrival %s; want %d, %d, %ds", tr.Tasks(), len(tr.Ramps), tr.LastArrival(),
			trickle+ramps, dailyRampPeriods, trickle-1)
	}
	if want := ramps + during; tr.RampTasks() != want {
		t.Errorf("RampTasks() = %d, want %d (the ramps' tasks and the trickle's during them)", tr.RampTasks(), want)
	}
}
