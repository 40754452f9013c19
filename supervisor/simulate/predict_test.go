package simulate

import (
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// dailyRampModels are what `simulate --autoscale=10,1 --predict on
// --predict-period 2m --compare nopredict` runs: the pool engine with its
// process keepalive (10 s), with and without the learned floor.
func dailyRampModels() (on, off Model) {
	p := referencePolicy()
	p.Min, p.Keepalive = 1, 10*time.Second
	off = PoolModel(p)
	off.Name = "revrx predict off"
	on = off
	on.Name, on.Predict = "revrx predict on", policy.Period{Length: 2 * time.Minute, Location: time.UTC}
	return on, off
}

// TestPredictAtInstants: five 2 s tasks at 30 s of a 1 m period. In the
// first period nothing is forecast; in the second the poll at 89 s looks
// 1.15 s ahead (start-up 0.15 s + poll 1 s), into the bucket of 90 s that
// saw 5 needed at 30 s, and forks 5 processes by forecast before the
// repeat arrives; the poll at 88 s looks only to 89.15 s and sees nothing,
// and from 93 s on the buckets ahead saw the tasks done (they ran from
// 30.15 s, once their processes were forked, to 32.15 s).
func TestPredictAtInstants(t *testing.T) {
	m := poolTestModel(0, 10, 10*time.Second)
	m.Predict = policy.Period{Length: time.Minute}
	if got := m.ForecastLead(); got != sec(1.15) {
		t.Fatalf("ForecastLead() = %s, want 1.15s", got)
	}
	s := newTestSim(t, mustTrace(t, "30 5 2\n90 5 2\n"), m, 100*time.Second)
	obs, dec := record(s)
	s.until(t, 100*time.Second)
	for _, tt := range []struct {
		at       float64
		forecast int
		start    int
	}{{29, 0, 0}, {30, 0, 5}, {59, 0, 0}, {88, 0, 0}, {89, 5, 5}, {90, 5, 0}, {92, 5, 0}, {93, 0, 0}} {
		o, ok := obs[sec(tt.at)]
		if !ok {
			t.Fatalf("no decision at %g s", tt.at)
		}
		if d := dec[sec(tt.at)]; o.Forecast != tt.forecast || d.Start != tt.start {
			t.Errorf("at %g s: forecast %d, started %d; want %d, %d (%s)", tt.at, o.Forecast, d.Start, tt.forecast, tt.start, d.Reason)
		}
	}
	if d := dec[sec(89)]; d.Strategy != policy.StrategyForecast {
		t.Errorf("at 89 s: strategy %s, want %s (%s)", d.Strategy, policy.StrategyForecast, d.Reason)
	}
}

// TestPredictLead: a lead told (a host's measured one) replaces start-up +
// poll: 2.5 s ahead, the poll at 88 s already sees the bucket of 90 s.
func TestPredictLead(t *testing.T) {
	m := poolTestModel(0, 10, 10*time.Second)
	m.Predict, m.Lead = policy.Period{Length: time.Minute}, sec(2.5)
	if got := m.ForecastLead(); got != sec(2.5) {
		t.Fatalf("ForecastLead() = %s, want 2.5s", got)
	}
	s := newTestSim(t, mustTrace(t, "30 5 2\n90 5 2\n"), m, 100*time.Second)
	obs, dec := record(s)
	s.until(t, 100*time.Second)
	if o, d := obs[sec(87)], dec[sec(88)]; o.Forecast != 0 || d.Start != 5 || d.Strategy != policy.StrategyForecast {
		t.Errorf("forecast %d at 87 s, want 0; at 88 s started %d by %s, want 5 by forecast (%s)", o.Forecast, d.Start, d.Strategy, d.Reason)
	}
}

// TestPredictFirstPeriodAsOff: over daily-ramp's first period (2 min) the
// run with the learned floor is the run without it, to the last wait and
// decision; over two periods it is not (its second ramp is forecast).
func TestPredictFirstPeriodAsOff(t *testing.T) {
	tr, err := ReadTrace("testdata/daily-ramp.trace")
	if err != nil {
		t.Fatal(err)
	}
	on, off := dailyRampModels()
	run := func(m Model, horizon time.Duration) Result {
		r, err := Run(tr, m, DefaultStart, horizon)
		if err != nil {
			t.Fatal(err)
		}
		r.Model = Model{}
		return r
	}
	first := on.Predict.Length - time.Nanosecond
	if a, b := run(on, first), run(off, first); !reflect.DeepEqual(a, b) || len(a.Decisions) == 0 || len(a.RampWaits) == 0 {
		t.Errorf("first period: with prediction %d decisions, wait p95 %s, ramps' %s; without %d, %s, %s: want the same run, with decisions and ramp tasks",
			len(a.Decisions), a.Wait(95), a.RampWait(95, 0), len(b.Decisions), b.Wait(95), b.RampWait(95, 0))
	}
	two := 2 * on.Predict.Length
	if a, b := run(on, two), run(off, two); a.RampWait(95, on.Predict.Length) >= b.RampWait(95, on.Predict.Length) {
		t.Errorf("second period: ramp wait p95 %s with prediction, %s without: want it lower", a.RampWait(95, on.Predict.Length), b.RampWait(95, on.Predict.Length))
	}
}

// TestGoldenDailyRamp: daily-ramp with and without the learned floor
// (simulate --autoscale=10,1 --predict on --predict-period 2m --compare
// nopredict) prints the summary and chart in testdata, finishes every
// task in both runs, and is the same over the first period.
func TestGoldenDailyRamp(t *testing.T) {
	on, off := dailyRampModels()
	summary, svg, rep := renderModels(t, "daily-ramp", []Model{on, off})
	checkGolden(t, filepath.Join("testdata", "daily-ramp-pool-predict-compare-nopredict.summary.golden"), summary)
	checkGolden(t, filepath.Join("testdata", "daily-ramp-pool-predict-compare-nopredict.svg.golden"), svg)
	for _, r := range rep.Runs {
		if r.Finished != r.Tasks || r.PeakWorkers > 10 {
			t.Errorf("%s: finished %d of %d, peak %d processes (max 10)", r.Model.Name, r.Finished, r.Tasks, r.PeakWorkers)
		}
	}
	if !strings.Contains(string(summary), "first period (0.00-120.00 s, nothing forecast yet): the same") {
		t.Errorf("the summary does not find the first period the same:\n%s", summary)
	}
}

// TestPredictPerGroup: with queue groups each group learns its own
// pattern, as each group's supervisor does: audio's repeated burst is
// forecast for audio, never for video, whose demand stays one task.
func TestPredictPerGroup(t *testing.T) {
	m := videoAudio()
	m.Predict = policy.Period{Length: time.Minute}
	var lines []string
	for at := 0; at < 120; at += 2 {
		lines = append(lines, strconv.Itoa(at)+" 1 1 video")
		if at%60 == 30 {
			lines = append(lines, strconv.Itoa(at)+" 6 1 audio")
		}
	}
	h, err := newHost(mustTrace(t, strings.Join(lines, "\n")), m, DefaultStart, 120*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, s := range h.sims {
		s.decide = func(o policy.Observation, now time.Time, p policy.Config) policy.Decision {
			seen[s.group] = max(seen[s.group], o.Forecast)
			return policy.Decide(o, now, p)
		}
	}
	if err := h.runUntil(120 * time.Second); err != nil {
		t.Fatal(err)
	}
	if seen["audio"] != 6 || seen["video"] != 1 {
		t.Errorf("largest forecast: audio %d, video %d; want 6 (its burst), 1 (its own task)", seen["audio"], seen["video"])
	}
}

func TestPredictValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		m    func() Model
		want string // "" for valid
	}{
		{"off", func() Model { return poolTestModel(0, 10, time.Second) }, ""},
		{"on", func() Model { m, _ := dailyRampModels(); return m }, ""},
		{"bad period", func() Model {
			m := poolTestModel(0, 10, time.Second)
			m.Predict = policy.Period{Length: 7 * time.Minute}
			return m
		}, "predict period 7m0s"},
		{"negative lead", func() Model {
			m, _ := dailyRampModels()
			m.Lead = -time.Second
			return m
		}, "must not be negative"},
		{"lead without a period", func() Model {
			_, m := dailyRampModels()
			m.Lead = time.Second
			return m
		}, "does not predict"},
		{"celery", func() Model {
			m := CeleryModel(referencePolicy())
			m.Predict = policy.Period{Length: time.Hour}
			return m
		}, "no learned floor"},
	} {
		err := tt.m().Validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestFirstPeriod: the comparison's first-period line says whether the
// pool changed the same way before the period, and where it first did not.
func TestFirstPeriod(t *testing.T) {
	a := []Action{{At: sec(1), Start: 2, Reason: "x"}, {At: sec(5), Stop: []string{"p2"}, Reason: "y"}, {At: sec(70), Start: 1, Reason: "z"}}
	b := []Action{{At: sec(1), Start: 2, Reason: "x"}, {At: sec(5), Stop: []string{"p3"}, Reason: "y"}}
	for _, tt := range []struct {
		name     string
		on, off  []Action
		contains string
	}{
		{"same before the period", a, a[:2], "the same 2 changes"},
		{"a stop differs", a, b, "differ from 5.00 s on"},
		{"one more", a, a[:1], "2 changes of the pool against 1"},
	} {
		if got := firstPeriod(Result{Decisions: tt.on}, Result{Decisions: tt.off}, time.Minute); !strings.Contains(got, tt.contains) {
			t.Errorf("%s: firstPeriod = %q, want it to contain %q", tt.name, got, tt.contains)
		}
	}
}
