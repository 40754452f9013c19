// Command bench replays the reference load traces against revrx-supervise
// and against Celery's own workers, one contender after another on this
// machine, with a private redis-server and real Celery workers, and prints
// one markdown table per trace (`make bench`; see docs/benchmark.md,
// "Reference traces").
//
//	go run ./cmd/revrx-bench -bin bin/revrx-supervise
//	BENCH_TRACES=spiky BENCH_CONTENDERS=revrx,celery-autoscale BENCH_HORIZON=60s go run ./cmd/revrx-bench
//	go run ./cmd/revrx-bench -scenarios footprint,heavy-burst
//	MEASURE=10 go run ./cmd/revrx-bench -scenarios idle   # make footprint
//
// -scenarios adds three measurements to (or, without "traces", instead of)
// the trace replay: "footprint", the PSS of each contender's process tree
// with 10 busy pool processes; "heavy-burst", how soon 6 tasks run on an
// idle contender with no pool process and a slow-to-import app; and
// "idle", the supervisor's own CPU and RSS with 10 idle workers over
// -measure (exec'd and forked), the PSS of each worker tree and of the app
// host, and the Redis commands it sends per poll. "groups" (two queues
// under one budget) and "predict" (the learned floor, --predict off
// against on, beside the simulator's figures) are longer; see
// docs/benchmark.md.
//
// Every setting is a flag with an environment default: BENCH_SCENARIOS,
// BENCH_TRACES, BENCH_CONTENDERS, BENCH_HORIZON, BENCH_OUT,
// BENCH_TRACE_DIR, BENCH_BIN, MEASURE, BENCH_GROUPS_TRACE,
// BENCH_GROUPS_CUT, BENCH_GROUPS_CONTENDERS, BENCH_PREDICT_TRACE,
// BENCH_PREDICT_PERIODS.
// Standard library and internal/harness only: Redis is reached over RESP
// (harness.Client) and through the producer (examples/producer.py).
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

func main() {
	os.Exit(realMain())
}

func realMain() int {
	cfg, err := parseConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigc
		fmt.Fprintln(os.Stderr, "\nbench: interrupted: stopping the current run (again to kill everything now)")
		cancel()
		<-sigc
		harness.KillAll()
		os.Exit(130)
	}()

	started := time.Now()
	rep := newReport(cfg)
	failed, err := runTraces(ctx, cfg, rep, started)
	for _, sc := range cfg.scenarios {
		if err != nil {
			break
		}
		section, scFailed := sc.run(&cfg.h, ctx)
		if err = ctx.Err(); err == nil {
			failed = failed || scFailed
			fmt.Print(section)
			rep.addSection(sc.name, section)
		}
	}
	if err != nil { // interrupted
		if err := rep.write(time.Since(started)); err == nil {
			fmt.Fprintln(os.Stderr, "bench: interrupted; partial results in", rep.path)
		}
		return 130
	}
	if len(cfg.traces) > 0 {
		fmt.Print(rep.footer(time.Since(started)))
	}
	if err := rep.write(time.Since(started)); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "bench: results in", rep.path, "(run logs under", filepath.Join(cfg.h.out, "runs")+")")
	if failed {
		return 1
	}
	return 0
}

// runTraces replays each trace against each contender, printing a table
// per trace and rewriting the report after each. It returns whether a run
// failed, and ctx's error once interrupted (the report keeps the runs
// that completed).
func runTraces(ctx context.Context, cfg config, rep *report, started time.Time) (failed bool, err error) {
	for _, tr := range cfg.traces {
		if end := tr.lastPublish + 5; cfg.h.horizon.Seconds() < end {
			fmt.Fprintf(os.Stderr, "bench: warning: horizon %s is shorter than %s's last publish (%.0f s) + 5 s: the trace is cut\n",
				horizonText(cfg.h.horizon), tr.name, tr.lastPublish)
		}
		tres := traceRuns{tr: tr}
		for _, c := range cfg.contenders {
			r, cmd, err := cfg.h.runOne(ctx, tr, c)
			if ctx.Err() != nil {
				if len(tres.runs) > 0 {
					rep.add(tres) // the runs of this trace that completed
				}
				return failed, ctx.Err()
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: [%s/%s] error: %v\n", tr.name, c.key, err)
				failed = true
			} else {
				fmt.Fprintf(os.Stderr, "bench: [%s/%s] wait p95 %s, %.0f worker-seconds, %.1f PSS GB-s, %d/%d finished, %d lost\n",
					tr.name, c.key, secs(r.WaitP95), r.WorkerSecs, r.PssGBSecs, r.Finished, r.Published, r.Lost)
			}
			tres.runs = append(tres.runs, run{c: c, cmd: cmd, r: r, err: err})
		}
		rep.add(tres)
		fmt.Print(rep.traceSection(tres))
		if err := rep.write(time.Since(started)); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
	return failed, nil
}

// machine describes where the benchmark ran.
func machine() string {
	var uname syscall.Utsname
	_ = syscall.Uname(&uname)
	rel := make([]byte, 0, len(uname.Release))
	for _, c := range uname.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	celery, _ := exec.Command(celeryPython, "-m", "celery", "--version").Output()
	return fmt.Sprintf("%d CPUs, Linux %s, celery %s", runtime.NumCPU(), rel, strings.TrimSpace(string(celery)))
}
