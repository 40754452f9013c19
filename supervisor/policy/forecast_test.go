package policy

import (
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s: %v", name, err)
	}
	return loc
}

func TestPeriodPlace(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	day := Period{Length: 24 * time.Hour, Location: berlin}
	week := Period{Length: 7 * 24 * time.Hour, Location: time.UTC}
	tenMin := Period{Length: 10 * time.Minute}
	at := func(loc *time.Location, s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		name       string
		per        Period
		t          time.Time
		wantBucket int
		sameCycle  time.Time // an instant in the same repetition, or zero
		nextCycle  time.Time // an instant in the next repetition, or zero
	}{
		{name: "day starts at local midnight", per: day, t: at(berlin, "2026-03-10 00:00:00"), wantBucket: 0,
			sameCycle: at(berlin, "2026-03-10 23:59:59"), nextCycle: at(berlin, "2026-03-11 00:00:00")},
		{name: "08:05 is in the 08:00 bucket", per: day, t: at(berlin, "2026-03-10 08:05:00"), wantBucket: 48},
		{name: "last bucket of the day", per: day, t: at(berlin, "2026-03-10 23:55:00"), wantBucket: 143},
		// 2026-03-29: Berlin skips 02:00-03:00; 08:05 is still bucket 48.
		{name: "spring forward keeps wall-clock buckets", per: day, t: at(berlin, "2026-03-29 08:05:00"), wantBucket: 48,
			sameCycle: at(berlin, "2026-03-29 00:30:00"), nextCycle: at(berlin, "2026-03-30 00:00:00")},
		// 2026-10-25: Berlin repeats 02:00-03:00; both 02:30s fall in bucket 15 of the same day.
		{name: "fall back repeats the hour in the same day", per: day, t: at(berlin, "2026-10-25 02:30:00"), wantBucket: 15,
			sameCycle: at(berlin, "2026-10-25 02:30:00").Add(time.Hour)},
		{name: "week starts on Monday", per: week, t: at(time.UTC, "2026-11-30 00:00:00"), wantBucket: 0,
			sameCycle: at(time.UTC, "2026-12-06 23:59:00"), nextCycle: at(time.UTC, "2026-12-07 00:00:00")},
		{name: "Wednesday noon", per: week, t: at(time.UTC, "2026-12-02 12:00:00"), wantBucket: (2*24 + 12) * 60 / 70},
		{name: "ten-minute period boundary", per: tenMin, t: at(time.UTC, "2026-12-02 12:10:00"), wantBucket: 0,
			sameCycle: at(time.UTC, "2026-12-02 12:19:59"), nextCycle: at(time.UTC, "2026-12-02 12:20:00")},
		{name: "ten-minute period, 4.17 s buckets", per: tenMin, t: at(time.UTC, "2026-12-02 12:15:00"), wantBucket: 72},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cycle, b := tc.per.place(tc.t)
			if b != tc.wantBucket {
				t.Errorf("bucket %d, want %d", b, tc.wantBucket)
			}
			if !tc.sameCycle.IsZero() {
				if c, _ := tc.per.place(tc.sameCycle); c != cycle {
					t.Errorf("%s: cycle %d, want the same %d", tc.sameCycle, c, cycle)
				}
			}
			if !tc.nextCycle.IsZero() {
				if c, _ := tc.per.place(tc.nextCycle); c != cycle+1 {
					t.Errorf("%s: cycle %d, want the next %d", tc.nextCycle, c, cycle+1)
				}
			}
		})
	}
}

func TestPeriodValidate(t *testing.T) {
	for _, tc := range []struct {
		per  Period
		want string // "" for valid
	}{
		{Period{Length: 24 * time.Hour}, ""},
		{Period{Length: 168 * time.Hour}, ""},
		{Period{Length: time.Hour}, ""},
		{Period{Length: 2 * time.Minute}, ""},
		{Period{Length: 30 * time.Second}, "at least 1m"},
		{Period{Length: 7 * time.Minute}, "divides a day"},
		{Period{Length: 36 * time.Hour}, "whole number of days"},
		{Period{Length: time.Hour, NewWeight: 1.5}, "(0, 1]"},
	} {
		err := tc.per.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: got %v, want %q", tc.per.Length, err, tc.want)
		}
	}
}

// learn observes need at offset within each of the periods of per that
// start at start (one observation per period, in order).
func learn(p *Pattern, per Period, start time.Time, offset time.Duration, needs ...int) {
	for i, need := range needs {
		p.Observe(start.Add(time.Duration(i)*per.Length+offset), need, per)
	}
}

func TestPatternForecast(t *testing.T) {
	per := Period{Length: 10 * time.Minute}
	start := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ramp := 2 * time.Minute // the ramp's offset in each period
	for _, tc := range []struct {
		name   string
		needs  []int         // observed at the ramp, one per period
		at     time.Duration // when to forecast, after start
		lead   time.Duration
		want   int
		wantOK bool
	}{
		{name: "the first period forecasts nothing", needs: []int{8}, at: 5 * time.Minute, lead: time.Second},
		{name: "one full period later the ramp is forecast", needs: []int{8}, at: 10*time.Minute + ramp, want: 8, wantOK: true},
		{name: "the lead looks ahead into the ramp's bucket", needs: []int{8}, at: 10*time.Minute + ramp - 3*time.Second,
			lead: 4 * time.Second, want: 8, wantOK: true},
		{name: "without the lead the bucket before says nothing", needs: []int{8}, at: 10*time.Minute + ramp - 5*time.Second,
			want: 0, wantOK: true},
		{name: "the newest period weighs half", needs: []int{8, 2}, at: 20*time.Minute + ramp, want: 5, wantOK: true},
		{name: "a one-off peak decays", needs: []int{10, 2, 2, 2}, at: 40*time.Minute + ramp, want: 3, wantOK: true},
		{name: "a steady ramp stays", needs: []int{6, 6, 6, 6, 6}, at: 50*time.Minute + ramp, want: 6, wantOK: true},
		{name: "in the ramp's bucket this period's own peak is not the forecast", needs: []int{4, 4, 9},
			at: 20*time.Minute + ramp, want: 4, wantOK: true},
		{name: "periods the supervisor missed do not decay it", needs: []int{8}, at: 50*time.Minute + ramp, want: 8, wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Pattern
			p.Observe(start, 0, per) // the supervisor starts
			learn(&p, per, start, ramp, tc.needs...)
			got, ok := p.Forecast(start.Add(tc.at), tc.lead, per)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Forecast = %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestPatternStartsOver(t *testing.T) {
	per := Period{Length: 10 * time.Minute}
	start := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var learned Pattern
	learned.Observe(start, 0, per)
	learn(&learned, per, start, time.Minute, 7, 7)
	at := start.Add(20*time.Minute + time.Minute)
	if n, ok := learned.Forecast(at, 0, per); n != 7 || !ok {
		t.Fatalf("learned pattern forecasts %d, %v; want 7, true", n, ok)
	}

	// The broker lost the history: an empty pattern starts learning at its
	// first observation and forecasts nothing for a full period.
	var lost Pattern
	lost.Observe(at, 1, per)
	if n, ok := lost.Forecast(at.Add(per.Length-time.Second), 0, per); ok {
		t.Errorf("a lost history forecasts %d before a full period", n)
	}

	// A pattern stored for another period length is of no use.
	hourly := Period{Length: time.Hour}
	if n, ok := learned.Forecast(at, 0, hourly); ok {
		t.Errorf("a 10m pattern forecasts %d for a 1h period", n)
	}
	stale := learned
	stale.Observe(at, 3, hourly)
	if stale.Length != time.Hour || !stale.Since.Equal(at) || stale.Slots[0].Seen && stale.Slots[0].Peak == 7 {
		t.Errorf("observing with another period kept the old pattern: length %s since %s", stale.Length, stale.Since)
	}
}

func TestPatternDailyAcrossDST(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	per := Period{Length: 24 * time.Hour, Location: ny}
	// 2026-11-01: New York falls back at 02:00. A batch at 09:00 local on
	// the Saturday is forecast at 09:00 local on the Sunday, 25 hours later.
	sat := time.Date(2026, 10, 31, 9, 0, 0, 0, ny)
	var p Pattern
	p.Observe(sat.Add(-25*time.Hour), 0, per) // the supervisor starts the day before, at 08:00
	p.Observe(sat, 5, per)
	sun := time.Date(2026, 11, 1, 9, 0, 0, 0, ny)
	if got := sun.Sub(sat); got != 25*time.Hour {
		t.Fatalf("test setup: %s between the two 09:00s, want 25h", got)
	}
	if n, ok := p.Forecast(sun, 0, per); n != 5 || !ok {
		t.Errorf("09:00 after the change: forecast %d, %v; want 5, true", n, ok)
	}
	if n, _ := p.Forecast(sat.Add(24*time.Hour), 0, per); n != 0 {
		t.Errorf("08:00 local (24 h later): forecast %d, want 0 (the batch comes at 09:00)", n)
	}
}
