package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule raises or lowers the bounds during some hours of some days: a
// predictive floor for a known daily peak, e.g. "Mon-Fri 08:00-18:00 min=6".
// A range whose end is not after its start crosses midnight and belongs to
// the day it starts on ("Fri 22:00-06:00" runs into Saturday morning).
// Times are wall-clock times in the policy's Location, so a schedule follows
// daylight saving time as people do.
type Schedule struct {
	Spec       string  // as given, for logs and reasons
	Days       [7]bool // indexed by time.Weekday
	Start, End int     // minutes after midnight
	Min, Max   int     // -1 when not set
	// Group names the queue group whose bounds it sets ("group=video");
	// "" means the host's (with groups, its max= lowers the host budget).
	Group string
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseSchedule reads "[DAYS] HH:MM-HH:MM min=N [max=N] [group=NAME]".
// DAYS is a comma list of days or day ranges (Mon-Fri, Sat,Sun, Fri-Mon)
// or "*"; omitted means every day.
func ParseSchedule(spec string) (Schedule, error) {
	const form = `accepted: "[DAYS] HH:MM-HH:MM min=N [max=N] [group=NAME]", e.g. "Mon-Fri 08:00-18:00 min=6"`
	s := Schedule{Spec: spec, Min: -1, Max: -1}
	fields := strings.Fields(spec)
	if len(fields) == 0 {
		return s, fmt.Errorf("schedule %q: empty; %s", spec, form)
	}
	if !strings.Contains(fields[0], ":") {
		if err := s.parseDays(fields[0]); err != nil {
			return s, fmt.Errorf("schedule %q: %w; %s", spec, err, form)
		}
		fields = fields[1:]
	} else {
		s.Days = [7]bool{true, true, true, true, true, true, true}
	}
	if len(fields) < 2 {
		return s, fmt.Errorf("schedule %q: needs a time range and min= or max=; %s", spec, form)
	}
	start, end, ok := strings.Cut(fields[0], "-")
	var err1, err2 error
	s.Start, err1 = parseClock(start)
	s.End, err2 = parseClock(end)
	if !ok || err1 != nil || err2 != nil {
		return s, fmt.Errorf("schedule %q: time range %q is not HH:MM-HH:MM; %s", spec, fields[0], form)
	}
	for _, kv := range fields[1:] {
		k, v, _ := strings.Cut(kv, "=")
		if k == "group" && v != "" {
			s.Group = v
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || (k != "min" && k != "max") {
			return s, fmt.Errorf("schedule %q: %q is not min=N or max=N; %s", spec, kv, form)
		}
		if k == "min" {
			s.Min = n
		} else {
			s.Max = n
		}
	}
	if s.Min < 0 && s.Max < 0 {
		return s, fmt.Errorf("schedule %q: sets neither min= nor max=; %s", spec, form)
	}
	return s, nil
}

func (s *Schedule) parseDays(f string) error {
	if f == "*" {
		s.Days = [7]bool{true, true, true, true, true, true, true}
		return nil
	}
	for _, part := range strings.Split(strings.ToLower(f), ",") {
		a, b, isRange := strings.Cut(part, "-")
		from, ok1 := weekdays[a]
		to, ok2 := weekdays[b]
		if !ok1 || (isRange && !ok2) {
			return fmt.Errorf("days %q: use Mon Tue Wed Thu Fri Sat Sun, ranges like Mon-Fri, or *", f)
		}
		if !isRange {
			to = from
		}
		for d := from; ; d = (d + 1) % 7 {
			s.Days[d] = true
			if d == to {
				break
			}
		}
	}
	return nil
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		if s == "24:00" {
			return 24 * 60, nil
		}
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Validate checks the schedule against the upper bound of the policy.
func (s Schedule) Validate(max int) error {
	if s.Min > max || (s.Max >= 0 && s.Min > s.Max) {
		return fmt.Errorf("schedule %q: min=%d must be at most max (%d)", s.Spec, s.Min, max)
	}
	if s.Max == 0 {
		return fmt.Errorf("schedule %q: max=0 would stop every worker; use min=0 instead", s.Spec)
	}
	return nil
}

// Active reports whether the schedule applies at t (already in its location).
func (s Schedule) Active(t time.Time) bool {
	minute := t.Hour()*60 + t.Minute()
	if s.Start < s.End {
		return s.Days[t.Weekday()] && minute >= s.Start && minute < s.End
	}
	// Crosses midnight: the evening of a listed day, or the morning after it.
	return (s.Days[t.Weekday()] && minute >= s.Start) || (s.Days[(t.Weekday()+6)%7] && minute < s.End)
}

// Bounds returns the MIN and MAX in force at now, and the spec of the
// schedule that set them ("" for the static bounds). When schedules overlap
// the highest floor and the highest ceiling win.
func (p Config) Bounds(now time.Time) (lo, hi int, spec string) {
	lo, hi = p.Min, p.Max
	loc := p.Location
	if loc == nil {
		loc = time.Local
	}
	t := now.In(loc)
	first := true
	for _, s := range p.Schedules {
		if !s.Active(t) {
			continue
		}
		if first {
			first, spec = false, s.Spec
			if s.Min >= 0 {
				lo = s.Min
			}
			if s.Max >= 0 {
				hi = s.Max
			}
			continue
		}
		lo, hi = max(lo, s.Min), max(hi, s.Max)
	}
	hi = min(max(hi, 1), p.Max)
	return min(lo, hi), hi, spec
}

// SchedulesFor returns the schedules whose Group is group ("": the host's).
func SchedulesFor(all []Schedule, group string) []Schedule {
	var out []Schedule
	for _, s := range all {
		if s.Group == group {
			out = append(out, s)
		}
	}
	return out
}
