// Command startup measures how fast real Celery workers become ready, and
// how much memory each one adds, when the pool execs them (a fresh
// interpreter imports everything) or forks them from an app host (the app
// imported once). It prints one markdown table (`make startup`; docs/benchmark.md,
// "Start-up and memory: fork vs exec"); it asserts nothing.
//
//	go run ./cmd/revrx-startup                 # tasks and heavy, exec and fork, N = 1 and 7, 3 reps
//	go run ./cmd/revrx-startup -apps heavy -reps 5
//
// For each app × spawn × N it starts a private redis-server on a free
// loopback port, a pool (and for fork an app host, whose import is timed
// from Start to its ready report), then asks for N workers at once and
// times request → Celery's "<name> ready." line, read from the pool's
// logger. One second after the last ready line it sums Pss
// (/proc/PID/smaps_rollup) over each worker's process tree (main process
// and prefork child) and, for fork, over the host. Every worker is stopped
// between repetitions. The workers run in examples/app (the process chdirs
// there: the pool starts its children in its own working directory).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/revrx/revrx-supervise/pool"
)

func main() { os.Exit(realMain()) }

func realMain() int {
	apps := flag.String("apps", "tasks,heavy", "Celery apps (modules in examples/app), comma-separated")
	counts := flag.String("n", "1,7", "workers requested at once, comma-separated")
	reps := flag.Int("reps", 3, "repetitions per cell")
	logPath := flag.String("log", "", "file for every line the pool and the workers print (default: a temp file)")
	flag.Parse()
	ns, err := parseCounts(*counts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "startup: -n:", err)
		return 2
	}
	if err := enterAppDir(); err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		return 1
	}
	work, err := os.MkdirTemp("", "revrx-startup.")
	if err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		return 1
	}
	defer os.RemoveAll(work)
	if *logPath == "" {
		*logPath = filepath.Join(os.TempDir(), fmt.Sprintf("revrx-startup-%d.log", os.Getpid()))
	}
	logFile, err := os.Create(*logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		return 1
	}
	defer logFile.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rec := newRecorder(logFile)
	fmt.Fprintf(os.Stderr, "load average at start: %s; output of every process in %s\n", loadAvg(), *logPath)
	var cells []*cell
	for _, app := range strings.Split(*apps, ",") {
		for _, spawn := range []string{pool.SpawnExec, pool.SpawnFork} {
			for _, n := range ns {
				c := &cell{app: app, spawn: spawn, n: n}
				fmt.Fprintf(os.Stderr, "%s %s N=%d ...\n", app, spawn, n)
				before := markCPU()
				if err := runCell(ctx, c, *reps, rec, work); err != nil {
					c.notef("%v", err)
				}
				c.background, c.backgroundOK = before.others(markCPU())
				cells = append(cells, c)
				if errors.Is(ctx.Err(), context.Canceled) {
					fmt.Fprintln(os.Stderr, "startup: interrupted")
					return 1
				}
			}
		}
	}
	printTable(os.Stdout, cells, ns, *reps)
	fmt.Printf("\nload average at the end: %s\n", loadAvg())
	return 0
}

func parseCounts(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// enterAppDir changes into examples/app of the repository that holds the
// working directory.
func enterAppDir() error {
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	for {
		app := filepath.Join(dir, "examples", "app")
		if _, err := os.Stat(filepath.Join(app, "heavy.py")); err == nil {
			return os.Chdir(app)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return errors.New("run from the revrx-supervise repository (examples/app/heavy.py not found)")
		}
		dir = parent
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
