package policy

import (
	"math"
	"time"
)

// waitProposal is the queue-wait (SLA) strategy: while the oldest waiting
// message has waited longer than the target, it asks for more workers than
// there are, in proportion to how far the wait is over the target (as HPA
// scales on a metric's ratio to its target), but never more than one per
// waiting message on top of the current ones. Under the target it proposes
// nothing (0), leaving the decision to the other strategies.
func waitProposal(oldest time.Duration, waiting int64, current int, p Config) int {
	if p.TargetWait <= 0 || oldest <= p.TargetWait || waiting == 0 {
		return 0
	}
	ratio := float64(oldest) / float64(p.TargetWait)
	want := int(math.Ceil(float64(max(current, 1)) * ratio))
	return max(current+1, min(want, current+int(min(waiting, math.MaxInt32))))
}
