package web

import (
	"strconv"

	"github.com/revrx/revrx-supervise/supervisor"
)

// pageEfficiency is one row of the efficiency table: a queue group's, the
// host's total under groups, or the only one without groups (Group "").
type pageEfficiency struct {
	Group string
	Total bool // the groups' sum
	supervisor.Efficiency
}

// efficiencyRows returns the efficiency table of st: one row per group and
// their total, or st's own row when it has no groups.
func efficiencyRows(st supervisor.Status) []pageEfficiency {
	if len(st.Groups) == 0 {
		return []pageEfficiency{{Efficiency: st.Efficiency}}
	}
	var rows []pageEfficiency
	for _, g := range st.Groups {
		if g.Group != nil {
			rows = append(rows, pageEfficiency{Group: g.Group.Name, Efficiency: g.Efficiency})
		}
	}
	return append(rows, pageEfficiency{Group: "all groups", Total: true, Efficiency: st.Efficiency})
}

// processSeconds formats a count of process-seconds: whole ones from 10
// on, one decimal below.
func processSeconds(v float64) string {
	if v >= 10 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
