package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// simTestdata holds the reference traces and the simulator's golden files.
const simTestdata = "../../supervisor/simulate/testdata"

// clearSimulateEnv unsets every environment variable a simulate flag reads.
func clearSimulateEnv(t *testing.T) {
	t.Helper()
	for _, f := range append(simulateFlags(), policyFlags()...) {
		if df, ok := f.(cli.DocGenerationFlag); ok {
			for _, v := range df.GetEnvVars() {
				t.Setenv(v, "")
				os.Unsetenv(v)
			}
		}
	}
}

func simulateMain(args ...string) (code int, stdout, stderr string) {
	var out, errBuf bytes.Buffer
	code = realMain(append([]string{"revrx-supervise", "simulate"}, args...), &out, &errBuf)
	return code, out.String(), errBuf.String()
}

// TestSimulateMatchesGolden: `simulate --autoscale=10,3` (and with
// --compare celery, --svg, --engine or REVRX_SIM_ENGINE) prints exactly
// what the simulate package's golden files hold for the default policy on
// that engine (the pool engine by default), so the flags build the policy
// and the models the goldens were made with.
func TestSimulateMatchesGolden(t *testing.T) {
	clearSimulateEnv(t)
	for _, tc := range []struct {
		base string
		env  string // REVRX_SIM_ENGINE
		args []string
	}{
		{"burst-pool", "", nil},
		{"burst-pool-compare-celery", "", []string{"--compare", "celery"}},
		{"burst-workers", "", []string{"--engine", "workers"}},
		{"burst-workers-compare-celery", "workers", []string{"--compare", "celery"}},
	} {
		if tc.env != "" {
			os.Setenv("REVRX_SIM_ENGINE", tc.env) // clearSimulateEnv restores it
		} else {
			os.Unsetenv("REVRX_SIM_ENGINE")
		}
		svg := filepath.Join(t.TempDir(), "out.svg")
		// The goldens are the simulate package's, at 30 s (the pool engine's own
		// default, 10 s, is pinned by TestSimulatePoolKeepaliveDefault).
		args := append(tc.args, "--trace", filepath.Join(simTestdata, "burst.trace"), "--autoscale=10,3", "--keepalive=30s", "--svg", svg)
		code, stdout, stderr := simulateMain(args...)
		if code != 0 {
			t.Fatalf("simulate %q: exit %d, want 0\nstderr: %s", args, code, stderr)
		}
		for _, c := range []struct{ golden, got string }{{tc.base + ".summary.golden", stdout}, {tc.base + ".svg.golden", simReadFile(t, svg)}} {
			if want := simReadFile(t, filepath.Join(simTestdata, c.golden)); c.got != want {
				t.Errorf("simulate %q: output differs from %s\n--- got\n%s\n--- want\n%s", args, c.golden, c.got, want)
			}
		}
		if !strings.Contains(stdout, "wait p95") || !strings.Contains(stdout, "worker-seconds") {
			t.Errorf("summary lacks the wait and worker-seconds rows:\n%s", stdout)
		}
	}
}

// TestSimulateGroupsMatchesGolden: `simulate --autoscale=10,0 -Q
// video:0-10,audio:0-10 TRACE` (the trace as the argument, or from
// REVRX_SIM_QUEUES) prints what the simulate package's multi-queue golden
// files hold, one pool per group under the host budget.
func TestSimulateGroupsMatchesGolden(t *testing.T) {
	clearSimulateEnv(t)
	trace := filepath.Join(simTestdata, "video-audio.trace")
	for _, tc := range []struct {
		env  string // REVRX_SIM_QUEUES
		args []string
	}{
		{"", []string{"-Q", "video:0-10,audio:0-10", trace}},
		{"video:0-10,audio:0-10", []string{"--trace", trace}},
	} {
		os.Setenv("REVRX_SIM_QUEUES", tc.env) // clearSimulateEnv restores it
		svg := filepath.Join(t.TempDir(), "out.svg")
		args := append([]string{"--autoscale=10,0", "--keepalive=10s", "--svg", svg}, tc.args...)
		code, stdout, stderr := simulateMain(args...)
		if code != 0 {
			t.Fatalf("simulate %q: exit %d, want 0\nstderr: %s", args, code, stderr)
		}
		for _, c := range []struct{ golden, got string }{{"video-audio-groups.summary.golden", stdout}, {"video-audio-groups.svg.golden", simReadFile(t, svg)}} {
			if want := simReadFile(t, filepath.Join(simTestdata, c.golden)); c.got != want {
				t.Errorf("simulate %q: output differs from %s\n--- got\n%s\n--- want\n%s", args, c.golden, c.got, want)
			}
		}
	}
}

// TestSimulateDecisions: --decisions lists the decisions with their reasons.
func TestSimulateDecisions(t *testing.T) {
	clearSimulateEnv(t)
	code, stdout, stderr := simulateMain("--trace", filepath.Join(simTestdata, "burst.trace"), "--autoscale=10,3", "--decisions")
	if code != 0 || !strings.Contains(stdout, "revrx decisions that changed the pool:") || !strings.Contains(stdout, "by queue (max 10)") {
		t.Errorf("exit %d, stdout:\n%s\nstderr: %s", code, stdout, stderr)
	}
}

// TestSimulateBadUsage: a bad command line or trace exits 2 with a message
// naming the flag (or the trace line) and what is accepted.
func TestSimulateBadUsage(t *testing.T) {
	clearSimulateEnv(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.trace")
	if err := os.WriteFile(bad, []byte("# ok\n0 1 1\n3 x 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope.trace")
	good := filepath.Join(simTestdata, "burst.trace")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing trace file", []string{"--trace", missing, "--autoscale=10,3"}, []string{"--trace", missing, "no such file"}},
		{"bad trace line", []string{"--trace", bad, "--autoscale=10,3"}, []string{"--trace", "bad:3:", `count "x"`}},
		{"no trace", []string{"--autoscale=10,3"}, []string{"--trace is required"}},
		{"no autoscale", []string{"--trace", good}, []string{"--autoscale is required", "--autoscale=MAX[,MIN]"}},
		{"bad autoscale", []string{"--trace", good, "--autoscale=a"}, []string{"--autoscale", "accepted"}},
		{"bad compare", []string{"--trace", good, "--autoscale=10,3", "--compare", "hpa"}, []string{"--compare", "accepted: celery, nopredict"}},
		{"bad compare list", []string{"--trace", good, "--autoscale=10,3", "--compare", "celery,hpa"}, []string{`--compare "celery,hpa"`}},
		{"nopredict without predict", []string{"--trace", good, "--autoscale=10,3", "--compare", "nopredict"}, []string{"--compare nopredict", "--predict on"}},
		{"nopredict with predict forecast", []string{"--trace", good, "--autoscale=10,3", "--predict", "forecast", "--compare", "nopredict"},
			[]string{"--compare nopredict", "--predict on"}},
		{"predict on celery", []string{"--trace", good, "--autoscale=10,3", "--policy", "celery", "--predict", "on"}, []string{"--predict on with --policy celery"}},
		{"predict lead without predict", []string{"--trace", good, "--autoscale=10,3", "--predict-lead", "2s"}, []string{"--predict-lead", "--predict on"}},
		{"negative predict lead", []string{"--trace", good, "--autoscale=10,3", "--predict", "on", "--predict-lead", "-1s"},
			[]string{"predict lead -1s", "must not be negative"}},
		{"bad predict period", []string{"--trace", good, "--autoscale=10,3", "--predict", "on", "--predict-period", "7m"}, []string{"--predict-period", "divides a day"}},
		{"bad engine", []string{"--trace", good, "--autoscale=10,3", "--engine", "threads"}, []string{`--engine "threads"`, "accepted: pool, workers"}},
		{"prefetch on the pool engine", []string{"--trace", good, "--autoscale=10,3", "--prefetch", "2"}, []string{"--prefetch", "--engine workers"}},
		{"celery vs celery", []string{"--trace", good, "--autoscale=10,3", "--policy", "celery", "--compare", "celery"}, []string{"itself"}},
		{"bad start", []string{"--trace", good, "--autoscale=10,3", "--start", "monday"}, []string{"--start", "RFC 3339"}},
		{"negative spawn", []string{"--trace", good, "--autoscale=10,3", "--spawn-time", "-1s"}, []string{"spawn time", "--spawn-time"}},
		{"offset past interval", []string{"--trace", good, "--autoscale=10,3", "--poll-offset", "2s"}, []string{"poll offset", "--poll-offset"}},
		{"stray argument", []string{"--trace", good, "--autoscale=10,3", "extra"}, []string{"unexpected argument", `"extra"`}},
		{"unknown flag", []string{"--trace", good, "--autoscale=10,3", "--nope"}, []string{"nope"}},
		{"two trace arguments", []string{"--autoscale=10,3", good, good}, []string{"unexpected argument"}},
		{"queue in no group", []string{"--autoscale=10,0", "-Q", "video:0-10", filepath.Join(simTestdata, "video-audio.trace")},
			[]string{"--trace", `queue "audio" is in no queue group (video)`}},
		{"groups against celery", []string{"--autoscale=10,0", "-Q", "video:0-10,audio", "--compare", "celery", good}, []string{"-Q", "drop --compare"}},
		{"bad group range", []string{"--autoscale=10,0", "-Q", "video:4-2,audio", good}, []string{"--queues", `"video:4-2"`, "accepted"}},
		{"negative rebalance", []string{"--autoscale=10,0", "-Q", "video:0-4,audio", "--rebalance-after=-1s", good}, []string{"--rebalance-after", "accepted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := simulateMain(tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestSimulateEngineEnv: a bad REVRX_SIM_ENGINE exits 2 naming the value,
// as --engine does.
func TestSimulateEngineEnv(t *testing.T) {
	clearSimulateEnv(t)
	t.Setenv("REVRX_SIM_ENGINE", "threads")
	code, stdout, stderr := simulateMain("--trace", filepath.Join(simTestdata, "burst.trace"), "--autoscale=10,3")
	if code != 2 || !strings.Contains(stderr, `--engine "threads": accepted: pool, workers`) {
		t.Errorf("exit %d, want 2 naming the engine\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

func simReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSimulateSharesFlags: every scaling flag `simulate` has is the main
// command's own, with the same names, environment variables, default and
// help, so the two cannot drift apart.
func TestSimulateSharesFlags(t *testing.T) {
	type doc struct{ names, env, def, usage string }
	describe := func(f cli.Flag) doc {
		df := f.(cli.DocGenerationFlag)
		return doc{strings.Join(f.Names(), ","), strings.Join(df.GetEnvVars(), ","), df.GetDefaultText(), df.GetUsage()}
	}
	own := map[string]doc{}
	for _, f := range flags() {
		own[f.Names()[0]] = describe(f)
	}
	// simulate's --engine picks the model of its revrx column; it has its
	// own variable, REVRX_SIM_ENGINE, so the REVRX_ENGINE of a deployment
	// does not change what a simulation shows.
	delete(own, flagEngine)
	// simulate's -Q names the trace's queue groups; it has its own variable,
	// REVRX_SIM_QUEUES, and no default, so a deployment's REVRX_QUEUES does not
	// split a simulation into groups.
	delete(own, flagQueues)
	shared := 0
	for _, f := range simulateCommand().Flags {
		want, ok := own[f.Names()[0]]
		if !ok {
			continue
		}
		shared++
		if got := describe(f); got != want {
			t.Errorf("simulate --%s = %+v, want the main command's %+v", f.Names()[0], got, want)
		}
	}
	if want := len(scaleFlags()) + 2 + len(policyFlags()); shared != want {
		t.Errorf("simulate shares %d flags with the main command, want %d (scale flags, --poll-interval, --rebalance-after, policy flags)", shared, want)
	}
}

// TestSimulatePoolKeepaliveDefault: simulate's pool engine keeps an idle
// process the pool engine's default keepalive (10 s) unless --keepalive is
// given; Celery's column keeps Celery's 30 s.
func TestSimulatePoolKeepaliveDefault(t *testing.T) {
	clearSimulateEnv(t)
	trace := filepath.Join(simTestdata, "burst.trace")
	_, def, _ := simulateMain("--trace", trace, "--autoscale=10,3")
	_, ten, _ := simulateMain("--trace", trace, "--autoscale=10,3", "--keepalive=10s")
	_, thirty, _ := simulateMain("--trace", trace, "--autoscale=10,3", "--keepalive=30s")
	if def != ten || def == thirty {
		t.Errorf("the default run equals --keepalive=10s: %v, equals --keepalive=30s: %v; want true, false", def == ten, def == thirty)
	}
}
