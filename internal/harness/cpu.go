package harness

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is USER_HZ, the unit of CPU times in /proc/stat and
// /proc/PID/stat (100 on every Linux architecture Go supports).
const ClockTicks = 100

// TicksDuration converts ClockTicks to a duration.
func TicksDuration(ticks int64) time.Duration {
	return time.Duration(ticks) * time.Second / ClockTicks
}

// MachineBusy is the busy time of all CPUs since boot, from the first line
// of /proc/stat (user nice system idle iowait irq softirq steal ...; idle
// and iowait are not busy; guest time is already in user).
func MachineBusy() (time.Duration, error) {
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
	return TicksDuration(busy), nil
}
