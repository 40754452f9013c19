package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeTrace writes text to a trace file in a test directory.
func writeTrace(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "daily.trace")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const threePeriods = `# a trickle and a ramp each period of 120 s
# ramp 60-80
# ramp 180-200 (the second)
# ramp 300-320
0 1 1
60 3 2.5 bench
61 3 2.5
120 1 1
180 3 2.5
300 1 1
`

func TestReadPredictTrace(t *testing.T) {
	for _, tc := range []struct {
		name          string
		keep          int
		wantPeriods   int
		wantBatches   int
		wantRampsEnds []float64
	}{
		{"all", 0, 3, 6, []float64{80, 200, 320}},
		{"two", 2, 2, 5, []float64{80, 200}},
		{"one", 1, 1, 3, []float64{80}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := readPredictTrace(writeTrace(t, threePeriods), tc.keep)
			if err != nil {
				t.Fatal(err)
			}
			var ends []float64
			for _, w := range tr.ramps {
				ends = append(ends, w.end)
			}
			if tr.periods != tc.wantPeriods || tr.all != 3 || len(tr.batches) != tc.wantBatches || !slices.Equal(ends, tc.wantRampsEnds) {
				t.Errorf("readPredictTrace(keep %d) = %d of %d periods, %d batches, ramps ending %v; want %d of 3, %d, %v",
					tc.keep, tr.periods, tr.all, len(tr.batches), ends, tc.wantPeriods, tc.wantBatches, tc.wantRampsEnds)
			}
			if got, want := tr.horizon(), time.Duration(tc.wantPeriods)*predictPeriod; got != want {
				t.Errorf("horizon() = %s, want %s", got, want)
			}
		})
	}
}

func TestReadPredictTraceErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"no ramp", "0 1 1\n", "ramp START-END"},
		{"bad ramp", "# ramp 80-60\n0 1 1\n", "START < END"},
		{"a comment, no ramp", "# ramp up to 6/s\n0 1 1\n", "ramp START-END"},
		{"bad line", "# ramp 0-5\n0 1\n", "at_seconds count task_seconds"},
		{"too many periods", "# ramp 0-5\n0 1 1\n", "cannot keep 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readPredictTrace(writeTrace(t, tc.text), 2)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("readPredictTrace(%q) = %v, want an error with %q", tc.text, err, tc.want)
			}
		})
	}
}

func TestBatchAt(t *testing.T) {
	tr, err := readPredictTrace(writeTrace(t, threePeriods), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ offset, want float64 }{
		{-0.01, 0}, {59.996, 60}, {60.4, 60}, {60.6, 61}, {119.99, 120}, {400, 300},
	} {
		if got := tr.batchAt(tc.offset); got != tc.want {
			t.Errorf("batchAt(%g) = %g, want %g", tc.offset, got, tc.want)
		}
	}
}

func TestPredictWindow(t *testing.T) {
	tr, err := readPredictTrace(writeTrace(t, threePeriods), 2)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	// One process from t=0, three from 60 s to 90 s, one again after.
	samples := []groupSample{{At: t0, Slots: 1}, {At: t0.Add(60 * time.Second), Slots: 3}, {At: t0.Add(90 * time.Second), Slots: 1}}
	tasks := []predictTask{{at: 0, wait: 0.1, finished: true}, {at: 60, wait: 0.5, finished: true},
		{at: 61, wait: 0.3, finished: true}, {at: 120, wait: 0.2, finished: false}, {at: 180, wait: 0.4, finished: true}}
	got := predictWindow(tr, tasks, samples, t0, 0, 120)
	want := predictFigures{rampP95: 0.5, p95: 0.5, p50: 0.3, processSecs: 60 + 90 + 30, published: 7, done: 3}
	if got != want {
		t.Errorf("predictWindow(0, 120) = %+v, want %+v", got, want)
	}
	got = predictWindow(tr, tasks, samples, t0, 120, 240)
	want = predictFigures{rampP95: 0.4, p95: 0.4, p50: 0.2, processSecs: 120, published: 4, done: 1}
	if got != want {
		t.Errorf("predictWindow(120, 240) = %+v, want %+v", got, want)
	}
}

func TestPredictSimParse(t *testing.T) {
	summary := `trace daily: 10 tasks, 20.00 task-seconds, last arrival at 100.00 s
--autoscale=10,1 --keepalive=10s; start 2026-01-05T00:00:00Z; horizon 240.00 s

                                          revrx predict on                 revrx predict off
algorithm                                            revrx                             revrx
wait p95                                            0.40 s                            0.90 s
wait p95 during ramps                               0.20 s                            0.80 s
worker-seconds                                       412.5                             398.0

revrx predict on against revrx predict off (--predict-period 2m0s):
  wait p95 during ramps: 0.20 s against 0.80 s, x0.25 (target: at most x0.50, met)
`
	var s predictSim
	s.parse(summary)
	if want := (simFigures{0.2, 412.5}); s.on != want {
		t.Errorf("on = %+v, want %+v", s.on, want)
	}
	if want := (simFigures{0.8, 398}); s.off != want {
		t.Errorf("off = %+v, want %+v", s.off, want)
	}
	if s.note != "" {
		t.Errorf("note = %q, want none", s.note)
	}

	s = predictSim{}
	s.parse(strings.NewReplacer("revrx predict on ", "revrx predict off", "revrx predict off", "revrx predict on ").Replace(summary))
	if want := (simFigures{0.2, 412.5}); s.off != want {
		t.Errorf("with the columns swapped: off = %+v, want %+v", s.off, want)
	}

	s = predictSim{on: simFigures{math.NaN(), math.NaN()}}
	s.parse(strings.ReplaceAll(summary, "wait p95 during ramps", "wait p99"))
	if !math.IsNaN(s.on.rampP95) || !strings.Contains(s.note, "no wait p95 over the ramps") {
		t.Errorf("without a ramp row: on = %+v, note %q; want NaN and a note", s.on, s.note)
	}
}
