package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// The predict scenario (-scenarios predict): the learned floor (--predict)
// on a trace that repeats every two minutes, a trickle and a ramp at the
// same offset of each period (the simulator's daily-ramp.trace, so the
// table can set the simulator's figures beside the real ones). The trace
// runs twice, each time on a fresh redis-server (no stored pattern), as
// users type it: --predict off, then --predict on --predict-period 2m.
// Nothing is forecast before a full period, so the first period should
// measure the same in both runs.
const (
	predictPeriod     = 2 * time.Minute // predictPeriodFlag
	predictPeriodFlag = "2m"
	predictMin        = 1 // --autoscale=10,1
)

// predictTraceFile is the scenario's default trace, relative to the
// repository root: the simulator's own.
var predictTraceFile = filepath.Join("supervisor", "simulate", "testdata", "daily-ramp.trace")

// predictMode is one of the scenario's two runs.
type predictMode struct {
	key   string   // "off" or "on": the run directory is runs/predict-KEY
	flags []string // revrx-supervise's flags after --autoscale and -Q
}

// predictModes in run order; the last is the one `simulate` replays, with
// --compare nopredict for the first.
var predictModes = []predictMode{
	{key: "off", flags: []string{"--predict", "off"}},
	{key: "on", flags: []string{"--predict", "on", "--predict-period", predictPeriodFlag}},
}

// predictAutoscale is both runs' --autoscale.
var predictAutoscale = fmt.Sprintf("--autoscale=%d,%d", autoscaleMax, predictMin)

// label is the mode's command line as users type it.
func (m predictMode) label() string {
	return strings.Join(append([]string{"revrx-supervise", predictAutoscale, "-Q", benchQueue}, m.flags...), " ")
}

// command is the mode's exact command line: the broker only in the
// environment, no worker arguments (the bench waits for /readyz and the
// worker main instead of "ready." lines).
func (m predictMode) command(bin, appDir, broker, record, httpAddr string) command {
	env := []string{"CELERY_BROKER_URL=" + broker, "REVRX_RECORD=" + record, "REVRX_ACKS_LATE=1"}
	argv := append([]string{bin, "-A", "tasks", predictAutoscale, "-Q", benchQueue,
		"--celery-cmd", celeryPython + " -m celery", "--http-addr", httpAddr}, m.flags...)
	return command{dir: appDir, env: env, argv: argv}
}

// predictScenario runs the predict scenario and returns its markdown
// section: both runs, then the simulator's figures for the same trace.
func (h *bench) predictScenario(ctx context.Context) (string, bool) {
	tr, path, err := h.predictTraceCopy()
	if err != nil {
		return "error: " + err.Error() + "\n", true
	}
	fmt.Fprintf(os.Stderr, "bench: [predict] %s; horizon %s per run\n", tr.describe(), horizonText(tr.horizon()))
	var runs []scenarioRun[predictResult]
	failed := false
	for _, m := range predictModes {
		r, cmd, err := h.runPredict(ctx, tr, path, m)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: [predict/%s] error: %v\n", m.key, err)
			failed = true
		} else {
			fmt.Fprintf(os.Stderr, "bench: [predict/%s] ramp wait p95 %s, wait p95 %s, %.0f process-seconds, %d/%d finished\n",
				m.key, secs(r.whole.rampP95), secs(r.whole.p95), r.whole.processSecs, r.finished, r.published)
		}
		runs = append(runs, scenarioRun[predictResult]{c: contender{key: m.key, label: m.label()}, cmd: cmd, m: r, err: err})
	}
	return predictTable(tr, runs, h.simulatePredict(ctx, tr, path, measuredLead(runs))), failed
}

// measuredLead is the start-up lead the --predict on run measured, as its
// /status showed it at the horizon, in seconds; 0 when it measured none.
func measuredLead(runs []scenarioRun[predictResult]) float64 {
	for _, x := range runs {
		if f := x.m.forecast; x.c.key == "on" && x.err == nil && f != nil && f.LeadMeasured {
			return f.LeadSeconds
		}
	}
	return 0
}

// predictTraceCopy reads the scenario's trace (-predict-trace, else the
// simulator's daily-ramp.trace), cut to -predict-periods, and writes what
// both runs and the simulator replay to runs/predict.trace.
func (h *bench) predictTraceCopy() (predictTrace, string, error) {
	src := h.predictTrace
	if src == "" {
		root, err := harness.RepoRoot()
		if err != nil {
			return predictTrace{}, "", err
		}
		src = filepath.Join(root, predictTraceFile)
	}
	tr, err := readPredictTrace(src, h.predictPeriods)
	if err != nil {
		return tr, "", fmt.Errorf("predict trace: %w (set -predict-trace)", err)
	}
	dst := filepath.Join(h.out, "runs", "predict.trace")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return tr, "", err
	}
	return tr, dst, tr.write(dst)
}
