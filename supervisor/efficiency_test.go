package supervisor

import (
	"testing"
	"time"
)

// TestEfficiencyRing adds ticks at fixed instants and reads the window at
// others: a tick falls into its minute, the window holds the current minute
// and the 59 before, and the ring never keeps more.
func TestEfficiencyRing(t *testing.T) {
	r := newEfficiencyRing(efficiencyStep, EfficiencyWindow)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	r.add(at(10*time.Second), Efficiency{TasksCompleted: 1, BusySeconds: 3, IdleSeconds: 1})
	r.add(at(50*time.Second), Efficiency{TasksCompleted: 1, BusySeconds: 2, IdleSeconds: 2, StartingSeconds: 2})
	r.add(at(70*time.Second), Efficiency{IdleSeconds: 10})
	for _, tc := range []struct {
		name string
		now  time.Duration
		want Efficiency
	}{
		{"within the first minute", 50 * time.Second,
			Efficiency{Since: at(10 * time.Second), TasksCompleted: 2, BusySeconds: 5, IdleSeconds: 3, StartingSeconds: 2, IdleShare: 0.3, SecondsPerTask: 5}},
		{"both minutes", 2 * time.Minute,
			Efficiency{Since: at(10 * time.Second), TasksCompleted: 2, BusySeconds: 5, IdleSeconds: 13, StartingSeconds: 2, IdleShare: 0.65, SecondsPerTask: 10}},
		{"the last of the first minute's hour", 59*time.Minute + 59*time.Second,
			Efficiency{Since: at(10 * time.Second), TasksCompleted: 2, BusySeconds: 5, IdleSeconds: 13, StartingSeconds: 2, IdleShare: 0.65, SecondsPerTask: 10}},
		{"an hour on: the first minute is out", time.Hour,
			Efficiency{Since: at(70 * time.Second), IdleSeconds: 10, IdleShare: 1}},
		{"two hours on: nothing", 2 * time.Hour, Efficiency{}},
		{"before the first tick: nothing", -time.Minute, Efficiency{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.view(at(tc.now)); got != tc.want {
				t.Errorf("view(t0+%s) = %+v, want %+v", tc.now, got, tc.want)
			}
		})
	}

	r = newEfficiencyRing(efficiencyStep, EfficiencyWindow)
	for m := range 3 * 60 {
		r.add(at(time.Duration(m)*time.Minute+time.Second), Efficiency{BusySeconds: 1, TasksCompleted: 1})
	}
	if n := len(r.buckets.all()); n != 60 {
		t.Errorf("after 3 hours of ticks the ring holds %d buckets, want 60", n)
	}
	now := at(3*time.Hour - time.Minute + 30*time.Second) // within the last bucket
	want := Efficiency{Since: at(2*time.Hour + time.Second), TasksCompleted: 60, BusySeconds: 60, SecondsPerTask: 1}
	if got := r.view(now); got != want {
		t.Errorf("view after 3 hours = %+v, want %+v", got, want)
	}
}

// TestEfficiencyPlus: a host's efficiency is its groups' sums, the earliest
// start, ratios of the sums.
func TestEfficiencyPlus(t *testing.T) {
	a := Efficiency{Since: t0.Add(time.Minute), TasksCompleted: 3, BusySeconds: 6, IdleSeconds: 2}.withRatios()
	b := Efficiency{Since: t0, TasksCompleted: 1, IdleSeconds: 8, StartingSeconds: 4}.withRatios()
	want := Efficiency{Since: t0, TasksCompleted: 4, BusySeconds: 6, IdleSeconds: 10, StartingSeconds: 4, IdleShare: 0.5, SecondsPerTask: 5}
	if got := (Efficiency{}).plus(a).plus(b); got != want {
		t.Errorf("plus = %+v, want %+v", got, want)
	}
	if got := (Efficiency{IdleSeconds: 5}).withRatios(); got.SecondsPerTask != 0 || got.IdleShare != 1 {
		t.Errorf("withRatios() with no task = %+v, want no seconds per task, idle share 1", got)
	}
}
