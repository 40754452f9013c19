package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseAutoscale reads "MAX[,MIN]" the way Celery's --autoscale does: the
// larger number is MAX, a missing MIN is 0. It rejects what Celery rejects
// (letters, three values) and what Celery would accept but cannot run
// (negative numbers, MAX 0).
func parseAutoscale(s string) (lo, hi int, err error) {
	const form = "accepted: --autoscale=MAX[,MIN] with whole numbers, MAX at least 1, e.g. --autoscale=10,3"
	parts := strings.Split(strings.TrimSpace(s), ",")
	if len(parts) > 2 {
		return 0, 0, fmt.Errorf("--autoscale %q: %d values; %s", s, len(parts), form)
	}
	nums := make([]int, 0, 2)
	for _, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return 0, 0, fmt.Errorf("--autoscale %q: %q is not a whole number; %s", s, p, form)
		}
		if n < 0 {
			return 0, 0, fmt.Errorf("--autoscale %q: %d is negative; %s", s, n, form)
		}
		nums = append(nums, n)
	}
	hi, lo = nums[0], 0
	if len(nums) == 2 {
		hi, lo = max(nums[0], nums[1]), min(nums[0], nums[1])
	}
	if hi < 1 {
		return 0, 0, fmt.Errorf("--autoscale %q: MAX must be at least 1; %s", s, form)
	}
	return lo, hi, nil
}

// parseKeepalive reads a Go duration ("30s", "1m30s") or, as Celery's
// AUTOSCALE_KEEPALIVE, a bare number of seconds ("30", "2.5").
func parseKeepalive(s string) (time.Duration, error) {
	const form = "accepted: a duration like 30s or 2m, or a number of seconds like 30"
	s = strings.TrimSpace(s)
	var d time.Duration
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		d = time.Duration(secs * float64(time.Second))
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("--keepalive %q: %s", s, form)
	}
	if d <= 0 {
		return 0, fmt.Errorf("--keepalive %q: must be positive; %s", s, form)
	}
	return d, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseSteps reads kombu priority steps, e.g. "0,3,6,9".
func parseSteps(s string) ([]int, error) {
	var steps []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 255 {
			return nil, fmt.Errorf("--priority-steps %q: %q is not a step; accepted: comma-separated numbers 0-255 like 0,3,6,9", s, f)
		}
		steps = append(steps, n)
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("--priority-steps %q: empty; accepted: comma-separated numbers like 0,3,6,9", s)
	}
	return steps, nil
}
