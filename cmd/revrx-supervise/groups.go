package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
	"github.com/urfave/cli/v2"
)

// queueGroup is one queue group of -Q: the queues one worker main consumes
// and the range of pool processes it may have under the host budget.
type queueGroup struct {
	Name     string   // its queues joined by "+", as written
	Queues   []string // at least one
	Min, Max int      // 0 <= Min <= Max <= the host MAX
}

// nodeName is the group's name as it goes into worker node names ("+"
// becomes "-").
func (g queueGroup) nodeName() string { return strings.ReplaceAll(g.Name, "+", "-") }

// The worker node name template of a group's main: groupPlaceholder is
// replaced by its node name.
const (
	groupPlaceholder         = "{group}"
	defaultGroupNameTemplate = "{group}{n}@%h"
)

// nameTemplate is the group's node name template, from the one in force
// (defaultGroupNameTemplate unless --worker-name set another).
func (g queueGroup) nameTemplate(tmpl string) string {
	return strings.ReplaceAll(tmpl, groupPlaceholder, g.nodeName())
}

const groupForm = "accepted: comma-separated groups QUEUE[+QUEUE...][:MIN-MAX or :MAX], e.g. -Q video:1-4,audio:0-6,default"

// parseGroups reads -Q as queue groups. It returns nil when s names plain
// queues (no range and no "+" anywhere): today's meaning, one group of all
// of them. A group without a range may use 0 to the host MAX; hostMin,
// when above the groups' minimums together, is spread one process at a time
// over the groups, in the order given, up to their caps. Every error names
// the value and what is accepted.
func parseGroups(s string, hostMin, hostMax int) ([]queueGroup, error) {
	if !strings.ContainsAny(s, ":+") {
		return nil, nil
	}
	var groups []queueGroup
	seen := map[string]string{}
	for _, item := range strings.Split(s, ",") {
		g, err := parseGroup(strings.TrimSpace(item), hostMax)
		if err != nil {
			return nil, fmt.Errorf("--queues %q: %w; %s", s, err, groupForm)
		}
		for _, q := range g.Queues {
			if other, ok := seen[q]; ok {
				return nil, fmt.Errorf("--queues %q: queue %q is in groups %q and %q; a queue belongs to one group; %s", s, q, other, g.Name, groupForm)
			}
			seen[q] = g.Name
		}
		groups = append(groups, g)
	}
	mins := 0
	for _, g := range groups {
		mins += g.Min
	}
	if mins > hostMax {
		return nil, fmt.Errorf("--queues %q: the group minimums add up to %d, above the host MAX %d of --autoscale; accepted: minimums that fit in MAX together", s, mins, hostMax)
	}
	spreadHostMin(groups, hostMin-mins)
	return groups, nil
}

// parseGroup reads one group, QUEUE[+QUEUE...][:RANGE].
func parseGroup(item string, hostMax int) (queueGroup, error) {
	names, rng, ranged := strings.Cut(item, ":")
	g := queueGroup{Name: strings.TrimSpace(names), Max: hostMax}
	if g.Name == "" {
		return g, fmt.Errorf("group %q has no queue", item)
	}
	for _, q := range strings.Split(g.Name, "+") {
		if q = strings.TrimSpace(q); q == "" || strings.ContainsAny(q, " \t") {
			return g, fmt.Errorf("group %q: %q is not a queue name", item, q)
		}
		g.Queues = append(g.Queues, q)
	}
	g.Name = strings.Join(g.Queues, "+")
	if !ranged {
		return g, nil
	}
	lo, hi, err := parseRange(strings.TrimSpace(rng))
	if err != nil {
		return g, fmt.Errorf("group %q: range %q: %w", item, rng, err)
	}
	g.Min, g.Max = lo, min(hi, hostMax)
	if lo > g.Max {
		return g, fmt.Errorf("group %q: its minimum %d is above the host MAX %d", item, lo, hostMax)
	}
	return g, nil
}

// parseRange reads "MIN-MAX" or "MAX" (minimum 0): whole numbers, MIN at
// most MAX, MAX at least 1.
func parseRange(s string) (lo, hi int, err error) {
	a, b, both := strings.Cut(s, "-")
	if hi, err = strconv.Atoi(strings.TrimSpace(a)); err != nil {
		return 0, 0, fmt.Errorf("%q is not a whole number", a)
	}
	if both {
		lo = hi
		if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
			return 0, 0, fmt.Errorf("%q is not a whole number", b)
		}
	}
	switch {
	case lo < 0:
		return 0, 0, fmt.Errorf("the minimum %d is negative", lo)
	case lo > hi:
		return 0, 0, fmt.Errorf("the minimum %d is above the maximum %d", lo, hi)
	case hi < 1:
		return 0, 0, fmt.Errorf("the maximum must be at least 1")
	}
	return lo, hi, nil
}

// spreadHostMin raises the groups' minimums by extra processes in all, one
// at a time over the groups in order, each up to its cap.
func spreadHostMin(groups []queueGroup, extra int) {
	for extra > 0 {
		raised := false
		for i := range groups {
			if extra > 0 && groups[i].Min < groups[i].Max {
				groups[i].Min++
				extra--
				raised = true
			}
		}
		if !raised {
			return
		}
	}
}

// allQueues is every group's queues, in order.
func allQueues(groups []queueGroup) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g.Queues...)
	}
	return out
}

// rebalanceAfterFromFlags reads --rebalance-after: 0 or more, else a
// usageError naming it.
func rebalanceAfterFromFlags(c *cli.Context) (time.Duration, error) {
	d := c.Duration(flagRebalanceAfter)
	if d < 0 {
		return 0, usagef("--rebalance-after %s: accepted: a duration of 0 or more, like 1s", d)
	}
	return d, nil
}

// checkGroupSchedules checks --schedule against the queue groups: one with
// group=NAME sets that group's bounds (within its range) and needs groups;
// one without sets the host's, where only max= (a lower host budget) can
// hold with groups.
func checkGroupSchedules(groups []queueGroup, schedules []policy.Schedule) error {
	for _, sc := range schedules {
		switch {
		case sc.Group == "" && groups != nil && sc.Min >= 0:
			return usagef("--schedule %q: with queue groups a host schedule sets max= only; accepted: group=NAME for a group's min=, e.g. %q",
				sc.Spec, sc.Spec+" group="+groups[0].Name)
		case sc.Group == "":
		case groups == nil:
			return usagef("--schedule %q: group=%s without queue groups; accepted: group= with -Q groups like video:1-4,audio", sc.Spec, sc.Group)
		default:
			i := slices.IndexFunc(groups, func(g queueGroup) bool { return g.Name == sc.Group })
			if i < 0 {
				return usagef("--schedule %q: no queue group %q; accepted: one of %s", sc.Spec, sc.Group, groupNames(groups))
			}
			if err := sc.Validate(groups[i].Max); err != nil {
				return usageError{fmt.Errorf("--schedule: group %s: %w", sc.Group, err)}
			}
		}
	}
	return nil
}

func groupNames(groups []queueGroup) string {
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.Name
	}
	return strings.Join(names, ", ")
}
