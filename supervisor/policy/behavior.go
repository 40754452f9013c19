package policy

import (
	"fmt"
	"math"
	"time"
)

// Behavior is the Kubernetes HPA `behavior` block (autoscaling/v2), applied
// to worker processes with the same semantics: a stabilization window per
// direction (the lowest recommendation of the window for scale-up, the
// highest for scale-down) and step policies per period.
type Behavior struct {
	ScaleUp   Rules `json:"scaleUp" yaml:"scaleUp"`
	ScaleDown Rules `json:"scaleDown" yaml:"scaleDown"`
}

// Rules is one direction of a Behavior.
type Rules struct {
	StabilizationWindowSeconds *int32       `json:"stabilizationWindowSeconds,omitempty" yaml:"stabilizationWindowSeconds,omitempty"`
	SelectPolicy               string       `json:"selectPolicy,omitempty" yaml:"selectPolicy,omitempty"` // Max (default), Min, Disabled
	Policies                   []StepPolicy `json:"policies,omitempty" yaml:"policies,omitempty"`
}

// StepPolicy allows at most Value pods (Type StepPods) or Value percent of
// the count at the start of the period (Type StepPercent) to change per
// PeriodSeconds.
type StepPolicy struct {
	Type          StepKind `json:"type" yaml:"type"`
	Value         int32    `json:"value" yaml:"value"`
	PeriodSeconds int32    `json:"periodSeconds" yaml:"periodSeconds"`
}

// StepKind is what a StepPolicy's Value counts. YAML and JSON spell it as
// the HPA API does: "Pods" or "Percent"; Validate refuses anything else.
type StepKind string

// The step policy kinds.
const (
	StepPods    StepKind = "Pods"    // Value worker processes
	StepPercent StepKind = "Percent" // Value percent of the count at the start of the period
)

// The selectPolicy values.
const (
	SelectMax      = "Max"
	SelectMin      = "Min"
	SelectDisabled = "Disabled"
)

// DefaultBehavior returns the HPA defaults: scale up by the larger of 100% or
// 4 pods per 15 s with no stabilization; scale down by up to 100% per 15 s
// after a 300 s stabilization window.
func DefaultBehavior() Behavior {
	return Behavior{
		ScaleUp: Rules{StabilizationWindowSeconds: ptr(int32(0)), SelectPolicy: SelectMax, Policies: []StepPolicy{
			{Type: StepPercent, Value: 100, PeriodSeconds: 15}, {Type: StepPods, Value: 4, PeriodSeconds: 15}}},
		ScaleDown: Rules{StabilizationWindowSeconds: ptr(int32(300)), SelectPolicy: SelectMax, Policies: []StepPolicy{
			{Type: StepPercent, Value: 100, PeriodSeconds: 15}}},
	}
}

func ptr[T any](v T) *T { return &v }

// WithDefaults fills what the block leaves out with the HPA defaults, per
// direction and per field, as the Kubernetes API server does.
func (b Behavior) WithDefaults() Behavior {
	def := DefaultBehavior()
	fill := func(r, d Rules) Rules {
		if r.StabilizationWindowSeconds == nil {
			r.StabilizationWindowSeconds = d.StabilizationWindowSeconds
		}
		if r.SelectPolicy == "" {
			r.SelectPolicy = d.SelectPolicy
		}
		if len(r.Policies) == 0 {
			r.Policies = d.Policies
		}
		return r
	}
	b.ScaleUp = fill(b.ScaleUp, def.ScaleUp)
	b.ScaleDown = fill(b.ScaleDown, def.ScaleDown)
	return b
}

// Validate checks the block as the HPA API does.
func (b Behavior) Validate() error {
	for _, d := range []struct {
		dir string
		r   Rules
	}{{"scaleUp", b.ScaleUp}, {"scaleDown", b.ScaleDown}} {
		dir, r := d.dir, d.r
		w := r.StabilizationWindowSeconds
		if w == nil {
			return fmt.Errorf("behavior.%s.stabilizationWindowSeconds: missing (WithDefaults fills it)", dir)
		}
		if *w < 0 || *w > 3600 {
			return fmt.Errorf("behavior.%s.stabilizationWindowSeconds %d: must be 0..3600", dir, *w)
		}
		switch r.SelectPolicy {
		case "", SelectMax, SelectMin, SelectDisabled:
		default:
			return fmt.Errorf("behavior.%s.selectPolicy %q: accepted: Max, Min, Disabled", dir, r.SelectPolicy)
		}
		for i, sp := range r.Policies {
			if sp.Type != StepPods && sp.Type != StepPercent {
				return fmt.Errorf("behavior.%s.policies[%d].type %q: accepted: %s, %s", dir, i, sp.Type, StepPods, StepPercent)
			}
			if sp.Value <= 0 {
				return fmt.Errorf("behavior.%s.policies[%d].value %d: must be positive", dir, i, sp.Value)
			}
			if sp.PeriodSeconds <= 0 || sp.PeriodSeconds > 1800 {
				return fmt.Errorf("behavior.%s.policies[%d].periodSeconds %d: must be 1..1800", dir, i, sp.PeriodSeconds)
			}
		}
	}
	return nil
}

// History is what Decide carries from one decision to the next: recent
// recommendations (for stabilization windows), recent changes (for step
// policies) and the Celery algorithm's timers.
type History struct {
	Recommendations []Recommendation
	Changes         []Change
	LastScaleUp     time.Time // AlgorithmCelery: the last scale-up
	LastCheck       time.Time // AlgorithmCelery: the last periodic check
	// SurplusSince is when the pool last went above the desired count
	// without coming back down; zero while it is not above.
	SurplusSince time.Time
}

// Recommendation is one decision's unstabilized target.
type Recommendation struct {
	At    time.Time
	Count int
}

// Change is one decision's change in workers: positive up, negative down.
type Change struct {
	At    time.Time
	Delta int
}

// historyHorizon bounds how long entries are kept without a Behavior.
const historyHorizon = 30 * time.Minute

// prune returns a copy of h without entries older than any window or period
// of b can use.
func (h History) prune(now time.Time, b *Behavior) History {
	keep := time.Duration(0)
	if b != nil {
		for _, r := range []Rules{b.ScaleUp, b.ScaleDown} {
			if r.StabilizationWindowSeconds != nil {
				keep = max(keep, seconds(*r.StabilizationWindowSeconds))
			}
			for _, sp := range r.Policies {
				keep = max(keep, seconds(sp.PeriodSeconds))
			}
		}
	}
	keep = min(keep, historyHorizon)
	out := History{LastScaleUp: h.LastScaleUp, LastCheck: h.LastCheck, SurplusSince: h.SurplusSince}
	for _, r := range h.Recommendations {
		if now.Sub(r.At) < keep {
			out.Recommendations = append(out.Recommendations, r)
		}
	}
	for _, c := range h.Changes {
		if now.Sub(c.At) < keep {
			out.Changes = append(out.Changes, c)
		}
	}
	return out
}

// record notes a decision's change, if any.
func (h *History) record(now time.Time, delta int) {
	if delta != 0 {
		h.Changes = append(h.Changes, Change{At: now, Delta: delta})
	}
}

func seconds(s int32) time.Duration { return time.Duration(s) * time.Second }

// apply stabilizes target against the recent recommendations and limits the
// change from current by the step policies, as the HPA controller does
// (stabilizeRecommendationWithBehaviors, convertDesiredReplicasWithBehaviorRate).
// It records target as this instant's recommendation in h.
func (b *Behavior) apply(target, current int, now time.Time, h *History) int {
	up, down := target, target
	for _, r := range h.Recommendations {
		if now.Sub(r.At) < seconds(*b.ScaleUp.StabilizationWindowSeconds) {
			up = min(up, r.Count)
		}
		if now.Sub(r.At) < seconds(*b.ScaleDown.StabilizationWindowSeconds) {
			down = max(down, r.Count)
		}
	}
	h.Recommendations = append(h.Recommendations, Recommendation{At: now, Count: target})
	stabilized := current
	if stabilized < up {
		stabilized = up
	}
	if stabilized > down {
		stabilized = down
	}
	switch {
	case stabilized > current:
		return min(stabilized, max(current, upLimit(b.ScaleUp, current, h.Changes, now)))
	case stabilized < current:
		return max(stabilized, min(current, downLimit(b.ScaleDown, current, h.Changes, now)))
	}
	return stabilized
}

// upLimit is the most workers the scale-up policies allow now.
func upLimit(r Rules, current int, changes []Change, now time.Time) int {
	if r.SelectPolicy == SelectDisabled {
		return current
	}
	result, pick := math.MinInt, func(a, b int) int { return max(a, b) }
	if r.SelectPolicy == SelectMin {
		result, pick = math.MaxInt, func(a, b int) int { return min(a, b) }
	}
	for _, sp := range r.Policies {
		start := current - changedIn(changes, now, seconds(sp.PeriodSeconds), 1)
		proposed := start + int(sp.Value)
		if sp.Type == StepPercent {
			proposed = int(math.Ceil(float64(start) * (1 + float64(sp.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

// downLimit is the fewest workers the scale-down policies allow now.
func downLimit(r Rules, current int, changes []Change, now time.Time) int {
	if r.SelectPolicy == SelectDisabled {
		return current
	}
	result, pick := math.MaxInt, func(a, b int) int { return min(a, b) }
	if r.SelectPolicy == SelectMin {
		result, pick = math.MinInt, func(a, b int) int { return max(a, b) }
	}
	for _, sp := range r.Policies {
		start := current + changedIn(changes, now, seconds(sp.PeriodSeconds), -1)
		proposed := start - int(sp.Value)
		if sp.Type == StepPercent {
			proposed = int(float64(start) * (1 - float64(sp.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

// changedIn sums the changes in one direction (sign +1 up, -1 down) within
// the period before now, as a positive count.
func changedIn(changes []Change, now time.Time, period time.Duration, sign int) int {
	n := 0
	for _, c := range changes {
		if now.Sub(c.At) < period && c.Delta*sign > 0 {
			n += c.Delta * sign
		}
	}
	return n
}
