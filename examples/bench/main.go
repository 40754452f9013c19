// Command bench replays the reference load traces against revrx-supervise
// and against Celery's own workers, one contender after another on this
// machine, with a private redis-server and real Celery workers, and prints
// one markdown table per trace (`make bench`; see examples/README.md,
// "Benchmark").
//
//	go run ./examples/bench -bin bin/revrx-supervise
//	BENCH_TRACES=spiky BENCH_CONTENDERS=revrx,celery-autoscale BENCH_HORIZON=60s go run ./examples/bench
//
// Every setting is a flag with an environment default: BENCH_TRACES,
// BENCH_CONTENDERS, BENCH_HORIZON, BENCH_OUT, BENCH_TRACE_DIR, BENCH_BIN.
// Standard library only: Redis is reached through redis-cli and the
// producer (examples/producer.py).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(realMain())
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// parseHorizon accepts a Go duration ("110s", "2m") or plain seconds ("110").
func parseHorizon(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

func horizonText(d time.Duration) string { return fmt.Sprintf("%g s", d.Seconds()) }

// config is the harness's settings after flags and environment.
type config struct {
	traces     []trace
	contenders []contender
	h          harness
}

func parseConfig() (config, error) {
	var cfg config
	names := make([]string, len(allContenders))
	for i, c := range allContenders {
		names[i] = c.key
	}
	bin := flag.String("bin", envOr("BENCH_BIN", "bin/revrx-supervise"), "revrx-supervise binary ($BENCH_BIN)")
	traces := flag.String("traces", envOr("BENCH_TRACES", "burst,ramp,spiky"), "traces to replay, comma-separated ($BENCH_TRACES)")
	conts := flag.String("contenders", envOr("BENCH_CONTENDERS", strings.Join(names, ",")),
		"contenders, comma-separated, from: "+strings.Join(names, ",")+" ($BENCH_CONTENDERS)")
	horizon := flag.String("horizon", envOr("BENCH_HORIZON", "110s"), "measured window from the trace's t=0, the same for every contender ($BENCH_HORIZON)")
	out := flag.String("out", os.Getenv("BENCH_OUT"), "directory for bench-results.md and the run logs (default: a new temp dir) ($BENCH_OUT)")
	traceDir := flag.String("trace-dir", os.Getenv("BENCH_TRACE_DIR"), "directory of *.trace files (default: ../shared/traces next to the repository, else supervisor/simulate/testdata) ($BENCH_TRACE_DIR)")
	flag.Parse()

	root, err := repoRoot()
	if err != nil {
		return cfg, err
	}
	h := &cfg.h
	if h.horizon, err = parseHorizon(*horizon); err != nil || h.horizon <= 0 {
		return cfg, fmt.Errorf("horizon %q: want seconds or a duration such as 110s", *horizon)
	}
	if h.bin, err = filepath.Abs(*bin); err != nil {
		return cfg, err
	}
	if _, err := os.Stat(h.bin); err != nil {
		return cfg, fmt.Errorf("revrx-supervise binary: %w (run make build)", err)
	}
	h.appDir = filepath.Join(root, "examples", "app")
	h.producer = filepath.Join(root, "examples", "producer.py")
	if h.redisServer, err = exec.LookPath("redis-server"); err != nil {
		return cfg, fmt.Errorf("%w (make deps installs it)", err)
	}
	if h.redisCLI, err = exec.LookPath("redis-cli"); err != nil {
		return cfg, fmt.Errorf("%w (make deps installs it)", err)
	}
	if err := exec.Command(celeryPython, "-c", "import celery, redis").Run(); err != nil {
		return cfg, fmt.Errorf("%s cannot import celery and redis (make deps installs them)", celeryPython)
	}
	if *traceDir == "" {
		// The reference traces next to the repository, else the copies the
		// simulator's golden tests keep.
		*traceDir = filepath.Join(root, "..", "shared", "traces")
		if _, err := os.Stat(*traceDir); err != nil {
			*traceDir = filepath.Join(root, "supervisor", "simulate", "testdata")
		}
	}
	for _, name := range splitList(*traces) {
		tr, err := readTrace(filepath.Join(*traceDir, name+".trace"))
		if err != nil {
			return cfg, fmt.Errorf("trace %s: %w (set BENCH_TRACE_DIR)", name, err)
		}
		cfg.traces = append(cfg.traces, tr)
	}
	want := splitList(*conts)
	for _, k := range want {
		if !slices.Contains(names, k) {
			return cfg, fmt.Errorf("unknown contender %q; choose from %s", k, strings.Join(names, ","))
		}
	}
	for _, c := range allContenders { // always in the fixed run order
		if slices.Contains(want, c.key) {
			cfg.contenders = append(cfg.contenders, c)
		}
	}
	if len(cfg.traces) == 0 || len(cfg.contenders) == 0 {
		return cfg, errors.New("nothing to run: no trace or no contender selected")
	}
	if *out == "" {
		*out, err = os.MkdirTemp("", "revrx-bench-")
	} else {
		err = os.MkdirAll(*out, 0o755)
	}
	if err != nil {
		return cfg, err
	}
	if h.out, err = filepath.Abs(*out); err != nil {
		return cfg, err
	}
	// A copy, so that a rebuild during the long run cannot mix versions.
	h.bin, err = copyExecutable(h.bin, filepath.Join(h.out, "revrx-supervise"))
	return cfg, err
}

func copyExecutable(src, dst string) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(dst+".tmp", b, 0o755); err != nil {
		return "", err
	}
	return dst, os.Rename(dst+".tmp", dst)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// repoRoot is the nearest directory upwards with go.mod and examples/app.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "examples", "app", "tasks.py")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from the revrx-supervise repository (examples/app/tasks.py not found)")
		}
		dir = parent
	}
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
		killAll()
		os.Exit(130)
	}()

	started := time.Now()
	rep := newReport(cfg)
	failed := false
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
				if err := rep.write(time.Since(started)); err == nil {
					fmt.Fprintln(os.Stderr, "bench: interrupted; partial results in", rep.path)
				}
				return 130
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
	fmt.Print(rep.footer(time.Since(started)))
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
