package harness

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PssKB returns the Pss line of /proc/PID/smaps_rollup, in KiB: the
// process's proportional share of the memory it maps (a page shared by n
// processes counts 1/n to each).
func PssKB(pid int) (int64, error) {
	return statusLine(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
}

// RssKB returns VmRSS from /proc/PID/status, in KiB: the resident pages,
// shared ones counted in full.
func RssKB(pid int) (int64, error) {
	return statusLine(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
}

// TreePssKB sums PssKB over tree (from Tree). A process that exited in the
// meantime counts 0; only tree[0], the root, must be readable (an empty
// tree, a root not found, is an error).
func TreePssKB(tree []int) (int64, error) {
	if len(tree) == 0 {
		return 0, errors.New("pss: no such process")
	}
	var sum int64
	for i, pid := range tree {
		kb, err := PssKB(pid)
		if err != nil && i == 0 {
			return 0, err
		}
		sum += kb
	}
	return sum, nil
}

// statusLine returns the number after key ("Pss:      1234 kB") in path.
func statusLine(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			n, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %s: %w", path, key, err)
			}
			return n, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no %s line", path, key)
}
