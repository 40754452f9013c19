package main

import (
	"math"
	"slices"
)

// bucket is one cumulative bucket of a histogram: the observations at or
// below le.
type bucket struct {
	le    float64
	count float64
}

// quantile is the q-quantile (0..1) of a cumulative histogram as
// Prometheus's histogram_quantile interpolates it: linearly within the
// bucket the rank q × count falls in, from 0 below the first bound (when it
// is positive), and the highest finite bound when the rank falls into
// +Inf. It is NaN without an observation or without a +Inf bucket. The
// buckets may come in any order.
func quantile(q float64, buckets []bucket) float64 {
	bs := slices.Clone(buckets)
	slices.SortFunc(bs, func(a, b bucket) int { return cmpFloat(a.le, b.le) })
	if len(bs) < 2 || !math.IsInf(bs[len(bs)-1].le, 1) {
		return math.NaN()
	}
	total := bs[len(bs)-1].count
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	b := slices.IndexFunc(bs[:len(bs)-1], func(x bucket) bool { return x.count >= rank })
	switch {
	case b < 0:
		return bs[len(bs)-2].le
	case b == 0 && bs[0].le <= 0:
		return bs[0].le
	}
	start, end, count := 0.0, bs[b].le, bs[b].count
	if b > 0 {
		start = bs[b-1].le
		count -= bs[b-1].count
		rank -= bs[b-1].count
	}
	return start + (end-start)*(rank/count)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
