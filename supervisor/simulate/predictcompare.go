package simulate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The learned floor's targets: during the ramps, a wait p95 at most
// targetRampWait times that of the same run without prediction, for at most
// targetExtraSlots more worker-seconds (process-seconds with the pool
// engine).
const (
	targetRampWait   = 0.5
	targetExtraSlots = 0.10
)

// predictPair finds the run that predicts and the first revrx run on the
// same engine that does not (simulate --compare nopredict); ok is false
// when the report has no such pair.
func predictPair(rep Report) (on, off Result, ok bool) {
	i := slices.IndexFunc(rep.Runs, func(r Result) bool { return r.Model.Predicting() })
	if i < 0 {
		return on, off, false
	}
	on = rep.Runs[i]
	j := slices.IndexFunc(rep.Runs, func(r Result) bool {
		return !r.Model.Predicting() && !r.Model.Celery() && r.Model.Engine == on.Model.Engine
	})
	if j < 0 {
		return on, off, false
	}
	return on, rep.Runs[j], true
}

// writePredictComparison writes, for a report with a run that predicts and
// one that does not (predictPair), the ratios the targets are stated in:
// the wait p95 during the ramps (all of them, and those after the first
// period, the ones the pattern could know), the overall wait p95 and the
// worker-seconds, each against the run without; and whether the first
// period, when nothing can be forecast, changed the pool the same way.
func writePredictComparison(b *strings.Builder, rep Report) {
	on, off, ok := predictPair(rep)
	if !ok {
		return
	}
	period := on.Model.Predict.Length
	fmt.Fprintf(b, "\n%s against %s (--predict-period %s, a lead of %s s):\n", on.Model.Name, off.Model.Name, period, seconds(on.Model.ForecastLead()))
	if len(rep.Trace.Ramps) > 0 {
		fmt.Fprintf(b, "  wait p95 during ramps: %s (target: at most x%.2f, %s)\n",
			waitRatio(on.RampWait(95, 0), off.RampWait(95, 0)), targetRampWait,
			verdict(on.RampWait(95, 0).Seconds() <= targetRampWait*off.RampWait(95, 0).Seconds()))
		fmt.Fprintf(b, "  wait p95 during the ramps from %s s on (after the first period): %s\n",
			seconds(period), waitRatio(on.RampWait(95, period), off.RampWait(95, period)))
	}
	fmt.Fprintf(b, "  wait p95: %s\n", waitRatio(on.Wait(95), off.Wait(95)))
	extra := on.SlotSeconds/off.SlotSeconds - 1
	fmt.Fprintf(b, "  worker-seconds: %.1f against %.1f, %+.1f %% (target: at most %+.0f %%, %s)\n",
		on.SlotSeconds, off.SlotSeconds, 100*extra, 100*targetExtraSlots, verdict(extra <= targetExtraSlots))
	fmt.Fprintf(b, "  first period (0.00-%s s, nothing forecast yet): %s\n", seconds(period), firstPeriod(on, off, period))
}

// waitRatio is "A s against B s, xR" (R = A/B; no ratio when B is 0).
func waitRatio(on, off time.Duration) string {
	s := fmt.Sprintf("%s s against %s s", seconds(on), seconds(off))
	if off > 0 {
		s += ", x" + strconv.FormatFloat(on.Seconds()/off.Seconds(), 'f', 2, 64)
	}
	return s
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "missed"
}

// firstPeriod says whether on and off changed the pool the same way (the
// same actions at the same instants, with the same reasons) before period.
func firstPeriod(on, off Result, period time.Duration) string {
	before := func(r Result) []Action {
		i := slices.IndexFunc(r.Decisions, func(a Action) bool { return a.At >= period })
		if i < 0 {
			return r.Decisions
		}
		return r.Decisions[:i]
	}
	a, b := before(on), before(off)
	for i := range min(len(a), len(b)) {
		if !sameAction(a[i], b[i]) {
			return fmt.Sprintf("the changes of the pool differ from %s s on", seconds(min(a[i].At, b[i].At)))
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d changes of the pool against %d", len(a), len(b))
	}
	return fmt.Sprintf("the same %d changes of the pool, at the same instants", len(a))
}

func sameAction(a, b Action) bool {
	return a.At == b.At && a.Start == b.Start && a.Desired == b.Desired && a.Reason == b.Reason && slices.Equal(a.Stop, b.Stop)
}
