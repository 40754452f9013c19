package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// report accumulates the traces' results and rewrites bench-results.md
// after each trace, so an interrupted run keeps what it measured.
type report struct {
	cfg      config
	path     string
	header   string
	traces   []traceRuns
	sections []string // the other scenarios' sections, titled
}

func newReport(cfg config) *report {
	version, err := exec.Command(cfg.h.bin, "version").Output()
	if err != nil { // the version command may want the required flags
		version, _ = exec.Command(cfg.h.bin, "--autoscale=1", "version").Output()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# revrx-supervise benchmark\n\n")
	fmt.Fprintf(&b, "%s; %s; %s.\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine(),
		strings.TrimSpace(string(version)))
	if len(cfg.traces) == 0 { // the other scenarios describe themselves
		b.WriteString("\n")
	} else {
		fmt.Fprintf(&b, "Each contender in turn on a fresh %s, the example app with `REVRX_ACKS_LATE=1` "+
			"(task_acks_late) and prefetch multiplier 1 (Celery's pool prefetches MAX x 1; revrx-supervise's pool engine "+
			"prefetches processes x 1; with --engine workers its single-slot workers get --prefetch-multiplier=2); "+
			"horizon %s from the trace's t=0 for every contender; "+
			"/proc sampled every %s.\n\n", cfg.h.brokerText(), horizonText(cfg.h.horizon), sampleEvery)
	}
	return &report{cfg: cfg, path: filepath.Join(cfg.h.out, "bench-results.md"), header: b.String()}
}

func (rep *report) add(t traceRuns) { rep.traces = append(rep.traces, t) }

// addSection adds a scenario's section (-scenarios) under its name.
func (rep *report) addSection(name, text string) {
	rep.sections = append(rep.sections, "## "+name+"\n\n"+text+"\n")
}

// traceSection is one trace's table, ratios and run details.
func (rep *report) traceSection(t traceRuns) string {
	var b strings.Builder
	b.WriteString(t.table(rep.cfg.h.horizon))
	b.WriteString("\n")
	if ratios, _ := t.ratios(); ratios != "" {
		b.WriteString(ratios + "\n")
	}
	b.WriteString(t.runDetails() + "\n")
	return b.String()
}

// commands lists each contender's exact command line, from its first run.
func (rep *report) commands() string {
	var b strings.Builder
	b.WriteString("## Command lines\n\nAs run (cwd, environment, argv); the ports and the run directory differ per run.\n\n")
	seen := map[string]bool{}
	for _, t := range rep.traces {
		for _, x := range t.runs {
			if seen[x.c.key] || len(x.cmd.argv) == 0 {
				continue
			}
			seen[x.c.key] = true
			fmt.Fprintf(&b, "- `%s`:\n\n  ```sh\n  %s\n  ```\n\n", x.c.key, x.cmd)
		}
	}
	b.WriteString("revrx-supervise forks its worker main from its app host as `celery -A tasks worker -Q bench " +
		"-n worker1@%h --concurrency 1 --pool prefork -E --without-mingle --without-gossip --prefetch-multiplier=1 --loglevel=INFO` " +
		"and sizes its prefork pool from inside it (the pool engine); with --engine workers it forks one such worker per slot, " +
		"`-n workerN@%h`, with --prefetch-multiplier=2 (the app acks late, which the supervisor reads from the app).\n\n")
	return b.String()
}

// footer is the pass/fail summary and the total run time.
func (rep *report) footer(elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString("## Summary\n\n")
	n := 0
	for _, t := range rep.traces {
		_, lines := t.ratios()
		for _, l := range lines {
			b.WriteString(l + "\n")
			n++
		}
	}
	if n == 0 {
		b.WriteString("No revrx-supervise run had a celery --autoscale run to compare with.\n")
	}
	fmt.Fprintf(&b, "\nTotal run time: %s.\n", elapsed.Round(time.Second))
	return b.String()
}

const legend = `## Columns

- **wait p50/p95/max**: publish → task start, from the ` + "`published_at`" + ` header the producer stamps and the
  start time the task records (nearest-rank percentiles over the tasks that started).
- **worker-seconds**: execution slots integrated over the horizon; slots = prefork pool children of the
  Celery worker main processes (for revrx-supervise, summed over its workers), counted in /proc.
- **PSS GB-s**: Σ Pss (/proc/PID/smaps_rollup) over the contender's whole process tree, supervisor included,
  integrated over the horizon (1 GB = 10⁹ bytes).
- **CPU s**: user + system CPU time of that tree over the horizon.
- **scaling events**: changes of the slot count between consecutive samples.
- **peak slots**: the largest slot count seen.
- **finished / published**: distinct tasks that finished before the contender stopped / tasks the producer published;
  "still queued" = left in Redis (queue + unacked) after the warm stop, i.e. not done but not lost.
- **tasks lost**: published, never finished and no longer in Redis.
- **run twice**: tasks that started more than once.
`

// write rewrites bench-results.md with everything measured so far.
func (rep *report) write(elapsed time.Duration) error {
	var b strings.Builder
	b.WriteString(rep.header)
	for _, t := range rep.traces {
		b.WriteString("## " + t.tr.name + "\n\n")
		b.WriteString(rep.traceSection(t))
	}
	if len(rep.cfg.traces) > 0 {
		b.WriteString(rep.footer(elapsed) + "\n")
	}
	for _, sec := range rep.sections {
		b.WriteString(sec)
	}
	if len(rep.cfg.traces) > 0 {
		b.WriteString(rep.commands())
		b.WriteString(legend)
	} else {
		fmt.Fprintf(&b, "Total run time: %s.\n", elapsed.Round(time.Second))
	}
	return os.WriteFile(rep.path, []byte(b.String()), 0o644)
}
