package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strings"
)

// simFigures are the simulator's two figures for one run.
type simFigures struct{ rampP95, processSecs float64 }

// predictSim is what `revrx-supervise simulate` gives for the trace: the
// figures of its columns "… predict on" and (--compare nopredict)
// "… predict off", or, in note, why some are missing.
type predictSim struct {
	argv    []string
	on, off simFigures
	note    string // "" when every figure is there
}

// simulatePredict runs the binary's simulator on the trace at path with the
// "on" run's flags and --compare nopredict, over the same horizon as the
// real runs, and with --predict-lead lead when lead is positive (the lead
// the real run measured; else the model's own). A simulator that does not
// know these flags yet leaves the figures NaN and says so in the note.
func (h *bench) simulatePredict(ctx context.Context, tr predictTrace, path string, lead float64) predictSim {
	on := predictModes[len(predictModes)-1]
	args := append([]string{"simulate", "--trace", path, predictAutoscale, "-Q", benchQueue}, on.flags...)
	args = append(args, "--compare", "nopredict", "--horizon", fmt.Sprintf("%gs", tr.horizon().Seconds()))
	if lead > 0 {
		args = append(args, "--predict-lead", fmt.Sprintf("%.2fs", lead))
	}
	s := predictSim{argv: append([]string{"revrx-supervise"}, args...)}
	s.on, s.off = simFigures{math.NaN(), math.NaN()}, simFigures{math.NaN(), math.NaN()}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 2:
		s.note = "simulate refused the flags (exit 2), as a build whose simulator does not replay the learned floor " +
			"(--predict on, --compare nopredict) does: " + firstLine(stderr.String())
		return s
	case err != nil:
		s.note = fmt.Sprintf("simulate failed: %v: %s", err, firstLine(stderr.String()))
		return s
	}
	s.parse(string(out))
	return s
}

// columnGap separates the columns of the simulator's summary table.
var columnGap = regexp.MustCompile(`\s{2,}`)

// parse reads the summary's table: the columns are those whose header
// ends in "predict on" and "predict off"; the process-seconds row is the
// one labelled worker-seconds or process-seconds, the ramp row the one
// whose label has "ramp" and "p95".
func (s *predictSim) parse(summary string) {
	var missing []string
	found := map[string]bool{}
	onCol, offCol := -1, -1
	sc := bufio.NewScanner(strings.NewReader(summary))
	for sc.Scan() {
		cells := columnGap.Split(strings.TrimSpace(sc.Text()), -1)
		if onCol < 0 || offCol < 0 { // the header has no label cell
			for i, c := range cells {
				switch {
				case strings.HasSuffix(c, "predict on"):
					onCol = i + 1
				case strings.HasSuffix(c, "predict off"):
					offCol = i + 1
				}
			}
			continue
		}
		if len(cells) <= max(onCol, offCol) {
			continue
		}
		label := cells[0]
		var on, off *float64
		switch {
		case strings.Contains(label, "ramp") && strings.Contains(label, "p95"):
			on, off, found["ramp"] = &s.on.rampP95, &s.off.rampP95, true
		case label == "worker-seconds" || label == "process-seconds":
			on, off, found["seconds"] = &s.on.processSecs, &s.off.processSecs, true
		default:
			continue
		}
		*on, _ = leadingNumber(cells[onCol])
		*off, _ = leadingNumber(cells[offCol])
	}
	if onCol < 0 || offCol < 0 {
		missing = append(missing, "no columns 'predict on' and 'predict off'")
	}
	if !found["ramp"] {
		missing = append(missing, "no wait p95 over the ramps")
	}
	if !found["seconds"] {
		missing = append(missing, "no process-seconds")
	}
	if len(missing) > 0 {
		s.note = "the simulator's summary has " + strings.Join(missing, " and ")
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// Agreement of the simulator with the bench, as TestCalibration
// (supervisor/simulate) holds it: ±25 %, or ±0.05 s for a wait p95 under
// 0.2 s, where a relative bound means nothing.
const (
	simAgreeRel      = 0.25
	simAgreeSmallP95 = 0.2
	simAgreeAbsP95   = 0.05
)

// agreesWait reports whether the simulated wait p95 sim is within the
// tolerance of the real one; false when either is missing.
func agreesWait(real, sim float64) bool {
	tol := simAgreeRel * real
	if real < simAgreeSmallP95 {
		tol = simAgreeAbsP95
	}
	return math.Abs(sim-real) <= tol
}

// agreesSeconds reports whether sim is within ±25 % of real.
func agreesSeconds(real, sim float64) bool { return math.Abs(sim-real) <= simAgreeRel*real }
