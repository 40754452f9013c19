package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// scenario is a measurement other than the trace replay, run with -scenarios.
// run returns its markdown section and whether a run failed.
type scenario struct {
	name      string
	run       func(h *bench, ctx context.Context) (section string, failed bool)
	redisOnly bool // it measures Redis itself (-broker redis only)
}

// traceScenario names the trace replay (-traces, -contenders) in -scenarios.
const traceScenario = "traces"

// allScenarios in run order, after the traces.
var allScenarios = []scenario{
	{name: "footprint", run: (*bench).footprintScenario},
	{name: "heavy-burst", run: (*bench).heavyBurstScenario},
	{name: "idle", run: (*bench).idleScenario, redisOnly: true},
	{name: "groups", run: (*bench).groupsScenario},
	{name: "predict", run: (*bench).predictScenario},
}

// scenarioRun is one contender's run in a scenario: m holds its figures
// (some may be missing when err is set).
type scenarioRun[T any] struct {
	c   contender
	cmd command // empty if it could not start
	m   T
	err error
}

// runEach starts, one after another, the contenders with these keys (in
// this order, each passed through adapt), each ready in
// runs/<scenario>-<key>, measures it and stops it, until ctx ends. failed
// reports a run that ended with an error.
func runEach[T any](ctx context.Context, h *bench, scenario string, keys []string, adapt func(contender) contender,
	measure func(*session) (T, error)) (runs []scenarioRun[T], failed bool) {
	for _, c := range scenarioContenders(keys) {
		r := scenarioRun[T]{c: adapt(c)}
		s, err := h.startSession(ctx, filepath.Join(h.out, "runs", scenario+"-"+c.key), scenario+"/"+c.key, r.c)
		if err == nil {
			r.cmd = s.cmd
			r.m, err = measure(s)
			s.close()
		}
		if ctx.Err() != nil {
			break
		}
		r.err = err
		failed = failed || err != nil
		runs = append(runs, r)
	}
	return runs, failed
}

// scenarioContenders returns the contenders with these keys, in this
// order; a key no contender has is skipped.
func scenarioContenders(keys []string) []contender {
	var out []contender
	for _, k := range keys {
		for _, c := range allContenders {
			if c.key == k {
				out = append(out, c)
			}
		}
	}
	return out
}

// commandDetails lists the runs' command lines in a collapsed block.
func commandDetails[T any](section string, runs []scenarioRun[T]) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<details><summary>%s: command lines</summary>\n\n", section)
	for _, x := range runs {
		if len(x.cmd.argv) > 0 {
			fmt.Fprintf(&b, "- `%s`:\n\n  ```sh\n  %s\n  ```\n\n", x.c.key, x.cmd)
		}
	}
	b.WriteString("</details>\n")
	return b.String()
}
