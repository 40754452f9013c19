package main

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ticksPerSecond is USER_HZ, the unit of /proc/stat (100 on Linux).
const ticksPerSecond = 100

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
	m.busy, m.err = machineBusy()
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

// machineBusy is the busy time of all CPUs from the first line of /proc/stat
// (user nice system idle iowait irq softirq steal ...; guest time is
// already in user).
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var busy int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / ticksPerSecond, nil
}

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}
