package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulatePredictMatchesGolden: `simulate --autoscale=10,1 --predict on
// --predict-period 2m --compare nopredict daily-ramp.trace` (or with
// REVRX_PREDICT and REVRX_SIM_COMPARE) prints what the simulate package's
// golden files for daily-ramp hold: the pool engine with its default
// keepalive, with and without the learned floor.
func TestSimulatePredictMatchesGolden(t *testing.T) {
	clearSimulateEnv(t)
	trace := filepath.Join(simTestdata, "daily-ramp.trace")
	base := "daily-ramp-pool-predict-compare-nopredict"
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{nil, []string{"--predict", "on", "--compare", "nopredict"}},
		{map[string]string{"REVRX_PREDICT": "on", "REVRX_SIM_COMPARE": "nopredict"}, nil},
	} {
		for k, v := range tc.env {
			os.Setenv(k, v) // clearSimulateEnv restores it
		}
		svg := filepath.Join(t.TempDir(), "out.svg")
		args := append(tc.args, "--autoscale=10,1", "--predict-period", "2m", "--timezone", "UTC", "--svg", svg, trace)
		code, stdout, stderr := simulateMain(args...)
		if code != 0 {
			t.Fatalf("simulate %q: exit %d, want 0\nstderr: %s", args, code, stderr)
		}
		for _, c := range []struct{ golden, got string }{{base + ".summary.golden", stdout}, {base + ".svg.golden", simReadFile(t, svg)}} {
			if want := simReadFile(t, filepath.Join(simTestdata, c.golden)); c.got != want {
				t.Errorf("simulate %q: output differs from %s\n--- got\n%s\n--- want\n%s", args, c.golden, c.got, want)
			}
		}
		for k := range tc.env {
			os.Unsetenv(k)
		}
	}
}

// TestSimulatePredictForecastIsOff: --predict forecast changes no decision,
// so its run is the run without --predict; --predict on is not, and
// --predict-lead sets how far ahead it looks.
func TestSimulatePredictForecastIsOff(t *testing.T) {
	clearSimulateEnv(t)
	args := []string{"--autoscale=10,1", "--predict-period", "2m", filepath.Join(simTestdata, "daily-ramp.trace")}
	run := func(extra ...string) string {
		code, stdout, stderr := simulateMain(append(extra, args...)...)
		if code != 0 {
			t.Fatalf("simulate %q: exit %d\nstderr: %s", append(extra, args...), code, stderr)
		}
		return stdout
	}
	off, forecast, on := run(), run("--predict", "forecast"), run("--predict", "on")
	if forecast != off {
		t.Errorf("--predict forecast differs from off:\n%s\n--- off\n%s", forecast, off)
	}
	if on == off || !strings.Contains(on, modelPredictOn) {
		t.Errorf("--predict on: want a %q column that differs from off:\n%s", modelPredictOn, on)
	}
	lead := run("--predict", "on", "--predict-lead", "2.6s", "--compare", "nopredict")
	if !strings.Contains(lead, "a lead of 2.60 s") || !strings.Contains(lead, "2.60 s ahead (as told)") || strings.Contains(on, "2.60 s") {
		t.Errorf("--predict-lead 2.6s: want the lead stated in the comparison and the note:\n%s", lead)
	}
}

// TestSimulateCompareColumns: --compare takes celery, nopredict or both,
// and nopredict works with queue groups (the groups' own patterns).
func TestSimulateCompareColumns(t *testing.T) {
	clearSimulateEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string // column names, in order
	}{
		{"both", []string{"--autoscale=10,1", "--predict=on", "--predict-period=2m", "--compare", "celery,nopredict",
			filepath.Join(simTestdata, "daily-ramp.trace")}, []string{modelPredictOn, modelPredictOff, compareCelery}},
		{"groups", []string{"--autoscale=10,0", "-Q", "video:0-10,audio:0-10", "--predict=on", "--predict-period=1m", "--compare=nopredict",
			filepath.Join(simTestdata, "video-audio.trace")}, []string{modelPredictOn, modelPredictOff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := simulateMain(tc.args...)
			if code != 0 {
				t.Fatalf("exit %d\nstderr: %s", code, stderr)
			}
			header, at := strings.SplitN(stdout, "\n", 5)[3], 0
			for _, name := range tc.want {
				i := strings.Index(header[at:], name)
				if i < 0 {
					t.Fatalf("columns %q, want %q in that order", header, tc.want)
				}
				at += i + len(name)
			}
			if !strings.Contains(stdout, modelPredictOn+" against "+modelPredictOff) {
				t.Errorf("no comparison of the two:\n%s", stdout)
			}
		})
	}
}
