package simulate

import (
	"fmt"
	"strconv"
	"strings"
)

// BoundsViolations names every bound a run with queue groups passed: the
// host-wide peak of processes alive above the host max (Policy.Max), and
// each group whose peak passed its cap. Empty when all held, or without
// groups.
func (r Result) BoundsViolations() []string {
	if len(r.Groups) == 0 {
		return nil
	}
	var out []string
	if r.PeakWorkers > r.Model.Policy.Max {
		out = append(out, fmt.Sprintf("the host had %d processes alive together, above MAX %d", r.PeakWorkers, r.Model.Policy.Max))
	}
	for _, g := range r.Groups {
		if g.PeakWorkers > g.Group.Max {
			out = append(out, fmt.Sprintf("group %s had %d processes alive, above its cap %d", g.Group.Name, g.PeakWorkers, g.Group.Max))
		}
	}
	return out
}

// writeGroups writes, for each run with queue groups, one line per group
// (its queues, range, wait p50 and p95, process-seconds, peak processes and
// tasks finished) and whether the host stayed within MAX and every group
// within its cap. It writes nothing for runs without groups.
func writeGroups(b *strings.Builder, rep Report) {
	for _, r := range rep.Runs {
		if len(r.Groups) == 0 {
			continue
		}
		fmt.Fprintf(b, "\n%s: one pool per queue group, each Decide under its part of the host budget of %d processes "+
			"(policy.Allocate through policy.Ledger, as the supervisor's groups; rebalance after %s s):\n",
			r.Model.Name, r.Model.Policy.Max, seconds(r.Model.RebalanceAfter))
		rows := [][]string{{"group", "queues", "range", "wait p50", "wait p95", "process-seconds", "peak processes", "tasks finished"}}
		for _, g := range r.Groups {
			rows = append(rows, []string{g.Group.Name, strings.Join(g.Group.Queues, ","),
				fmt.Sprintf("%d-%d", g.Group.Min, g.Group.Max), seconds(g.Wait(50)) + " s", seconds(g.Wait(95)) + " s",
				strconv.FormatFloat(g.SlotSeconds, 'f', 1, 64), strconv.Itoa(g.PeakWorkers), fmt.Sprintf("%d/%d", g.Finished, g.Published)})
		}
		writeTable(b, rows)
		if v := r.BoundsViolations(); len(v) > 0 {
			fmt.Fprintf(b, "bounds passed: %s\n", strings.Join(v, "; "))
			continue
		}
		fmt.Fprintf(b, "bounds held: at most %d processes alive together (never above MAX %d), no group above its cap\n",
			r.PeakWorkers, r.Model.Policy.Max)
	}
}
