package policy

import (
	"fmt"
	"math"
	"time"
)

// Buckets is how many time buckets a Period holds: ten minutes of a day,
// seventy of a week, 25 seconds of an hour.
const Buckets = 144

// DefaultNewWeight is Period.NewWeight when it is zero: the newest period
// counts as much as all the earlier ones together.
const DefaultNewWeight = 0.5

// Period is the cycle a Pattern learns: a day, a week, an hour, or any
// length that divides a day or is a whole number of days. Instants map to
// wall-clock time in Location (UTC when nil), so a daily period follows
// daylight saving time as people do: on the day clocks go forward the
// skipped hour's buckets see nothing, on the day they go back the repeated
// hour falls twice into the same buckets. Weeks start on Monday.
type Period struct {
	Length   time.Duration
	Location *time.Location
	// NewWeight is how much the newest period counts when it is folded into
	// what earlier ones taught, in (0, 1]; zero means DefaultNewWeight.
	NewWeight float64
}

// Validate reports a Length a Pattern cannot map instants onto.
func (p Period) Validate() error {
	const day = 24 * time.Hour
	switch {
	case p.Length < time.Minute:
		return fmt.Errorf("predict period %s: must be at least 1m; accepted: a length that divides a day (10m, 1h) or a whole number of days (24h, 168h)", p.Length)
	case day%p.Length != 0 && p.Length%day != 0:
		return fmt.Errorf("predict period %s: accepted: a length that divides a day (10m, 1h) or a whole number of days (24h, 168h)", p.Length)
	case p.NewWeight < 0 || p.NewWeight > 1:
		return fmt.Errorf("predict weight %g: must be in (0, 1]", p.NewWeight)
	}
	return nil
}

// place returns which repetition of the period t falls in (cycle) and
// which of its Buckets.
func (p Period) place(t time.Time) (cycle int64, bucket int) {
	const day = 24 * time.Hour
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	y, m, d := lt.Date()
	days := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400 // civil days since 1970-01-01
	clock := time.Duration(lt.Hour())*time.Hour + time.Duration(lt.Minute())*time.Minute +
		time.Duration(lt.Second())*time.Second + time.Duration(lt.Nanosecond())
	var offset time.Duration
	if p.Length <= day {
		perDay := int64(day / p.Length)
		cycle, offset = days*perDay+int64(clock/p.Length), clock%p.Length
	} else {
		n := int64(p.Length / day)
		monday := days + 3 // 1970-01-01 was a Thursday
		cycle = floorDiv(monday, n)
		offset = time.Duration(monday-cycle*n)*day + clock
	}
	return cycle, int(int64(offset) * Buckets / int64(p.Length))
}

// BucketWidth is the length of one bucket.
func (p Period) BucketWidth() time.Duration { return p.Length / Buckets }

func (p Period) newWeight() float64 {
	if p.NewWeight == 0 {
		return DefaultNewWeight
	}
	return p.NewWeight
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Slot is what a Pattern knows of one bucket: the level the completed
// periods taught (decayed), the peak of the period it last saw (Cycle),
// and how many periods were folded into the level.
type Slot struct {
	Level   float64 `json:"l,omitempty"`
	Peak    int     `json:"p,omitempty"`
	Cycle   int64   `json:"c,omitempty"`
	Periods int     `json:"n,omitempty"`
	Seen    bool    `json:"s,omitempty"`
}

// folded is the level once the peak of the slot's Cycle is folded in.
func (s Slot) folded(w float64) float64 {
	if s.Periods == 0 {
		return float64(s.Peak)
	}
	return w*float64(s.Peak) + (1-w)*s.Level
}

// Pattern is the demand (processes needed) learned per bucket of a Period:
// for each bucket the peak of each period, folded into a level that decays
// the older periods. It is small and bounded (Buckets slots) so it can be
// stored in the broker and shared by restarts and hosts. The zero value is
// an empty pattern that starts learning at its first Observe.
type Pattern struct {
	Length time.Duration `json:"length"`
	Since  time.Time     `json:"since"` // the first observation; nothing is forecast before Since + Length
	Slots  [Buckets]Slot `json:"slots"`
}

// Fits reports whether p was learned for per's length (a stored pattern of
// another length is of no use and starts over).
func (p Pattern) Fits(per Period) bool { return p.Length == per.Length }

// Observe records that need processes were needed at t. The first
// observation of a bucket in a new period folds the previous period's
// peak into the level; a bucket not observed in some periods (the
// supervisor was down) keeps its level undecayed.
func (p *Pattern) Observe(t time.Time, need int, per Period) {
	if !p.Fits(per) || p.Since.IsZero() {
		*p = Pattern{Length: per.Length, Since: t}
	}
	cycle, b := per.place(t)
	s := &p.Slots[b]
	switch {
	case !s.Seen:
		*s = Slot{Peak: need, Cycle: cycle, Seen: true}
	case cycle == s.Cycle:
		s.Peak = max(s.Peak, need)
	case cycle > s.Cycle:
		s.Level, s.Periods = s.folded(per.newWeight()), s.Periods+1
		s.Peak, s.Cycle = need, cycle
	}
}

// Forecast returns the processes the pattern expects between t and t+lead:
// the largest forecast of the buckets that span covers, each from the
// periods before the one it is in (this period's own peak does not count:
// that is the present, which the queue already shows). ok is false before
// one full period of history: nothing is forecast then.
func (p Pattern) Forecast(t time.Time, lead time.Duration, per Period) (n int, ok bool) {
	if !p.Fits(per) || p.Since.IsZero() || t.Sub(p.Since) < per.Length {
		return 0, false
	}
	end, step := t.Add(max(lead, 0)), max(per.BucketWidth(), time.Nanosecond)
	for at := t; at.Before(end); at = at.Add(step) {
		n = max(n, p.slotForecast(at, per))
	}
	return max(n, p.slotForecast(end, per)), true
}

// slotForecast is the forecast of the bucket t falls in, rounded to the
// nearest process.
func (p Pattern) slotForecast(t time.Time, per Period) int {
	cycle, b := per.place(t)
	s := p.Slots[b]
	var level float64
	switch {
	case !s.Seen:
		return 0
	case s.Cycle < cycle:
		level = s.folded(per.newWeight())
	case s.Periods > 0:
		level = s.Level
	default:
		return 0
	}
	return int(math.Round(level))
}

// Needed is the processes d's demand needs: Demand over TasksPerWorker,
// rounded up, above MAX too (what an outer autoscaler should know). It is
// what a Pattern records: the work, not the decision, so a floor the
// forecast raised never teaches itself.
func Needed(d Decision, p Config) int {
	tpw := int64(max(p.TasksPerWorker, 1))
	return int((max(d.Demand, 0) + tpw - 1) / tpw)
}
