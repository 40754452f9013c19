package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

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
	traces     []trace     // none unless -scenarios has "traces"
	contenders []contender // the traces' contenders
	scenarios  []scenario  // the other measurements, in run order
	h          bench
}

func parseConfig() (config, error) {
	var cfg config
	names := make([]string, len(allContenders))
	for i, c := range allContenders {
		names[i] = c.key
	}
	scens := flag.String("scenarios", envOr("BENCH_SCENARIOS", traceScenario),
		"measurements, comma-separated, from: "+strings.Join(scenarioNames(), ",")+" ($BENCH_SCENARIOS)")
	bin := flag.String("bin", envOr("BENCH_BIN", "bin/revrx-supervise"), "revrx-supervise binary ($BENCH_BIN)")
	traces := flag.String("traces", envOr("BENCH_TRACES", "burst,ramp,spiky"), "traces to replay, comma-separated ($BENCH_TRACES)")
	conts := flag.String("contenders", envOr("BENCH_CONTENDERS", strings.Join(names, ",")),
		"contenders, comma-separated, from: "+strings.Join(names, ",")+" ($BENCH_CONTENDERS)")
	horizon := flag.String("horizon", envOr("BENCH_HORIZON", "110s"), "measured window from the trace's t=0, the same for every contender ($BENCH_HORIZON)")
	out := flag.String("out", os.Getenv("BENCH_OUT"), "directory for bench-results.md and the run logs (default: a new temp dir) ($BENCH_OUT)")
	measure := flag.String("measure", envOr("MEASURE", "60s"), "the idle scenario's CPU window, seconds or a duration ($MEASURE)")
	traceDir := flag.String("trace-dir", os.Getenv("BENCH_TRACE_DIR"), "directory of *.trace files (default: the repository's supervisor/simulate/testdata) ($BENCH_TRACE_DIR)")
	groupsTrace := flag.String("groups-trace", os.Getenv("BENCH_GROUPS_TRACE"), "the groups scenario's trace (default: cmd/revrx-bench/testdata/groups.trace) ($BENCH_GROUPS_TRACE)")
	groupsCut := flag.String("groups-cut", envOr("BENCH_GROUPS_CUT", "0"), "groups scenario: leave out the trace's lines published from this many seconds on, to shorten it (0 = the whole trace) ($BENCH_GROUPS_CUT)")
	groupsConts := flag.String("groups-contenders", envOr("BENCH_GROUPS_CONTENDERS", strings.Join(groupsDefault, ",")),
		"groups scenario's contenders, comma-separated, from: "+strings.Join(groupContenderKeys(), ",")+" ($BENCH_GROUPS_CONTENDERS)")
	brokerKind := flag.String("broker", envOr("BROKER", brokerRedis), "the runs' broker: redis or rabbitmq, a fresh private one per run ($BROKER)")
	predictTrace := flag.String("predict-trace", os.Getenv("BENCH_PREDICT_TRACE"),
		"the predict scenario's trace, with '# ramp START-END' lines (default: supervisor/simulate/testdata/daily-ramp.trace) ($BENCH_PREDICT_TRACE)")
	predictPeriods := flag.String("predict-periods", envOr("BENCH_PREDICT_PERIODS", "0"),
		"predict scenario: replay only the trace's first N periods of 2 minutes, to shorten it (0 = all) ($BENCH_PREDICT_PERIODS)")
	flag.Parse()

	root, err := harness.RepoRoot()
	if err != nil {
		return cfg, err
	}
	h := &cfg.h
	if h.horizon, err = parseHorizon(*horizon); err != nil || h.horizon <= 0 {
		return cfg, fmt.Errorf("horizon %q: want seconds or a duration such as 110s", *horizon)
	}
	if h.idleMeasure, err = parseHorizon(*measure); err != nil || h.idleMeasure <= 0 {
		return cfg, fmt.Errorf("measure %q: want seconds or a duration such as 60s", *measure)
	}
	if h.bin, err = filepath.Abs(*bin); err != nil {
		return cfg, err
	}
	if _, err := os.Stat(h.bin); err != nil {
		return cfg, fmt.Errorf("revrx-supervise binary: %w (run make build)", err)
	}
	if h.groupsCut, err = strconv.ParseFloat(*groupsCut, 64); err != nil || h.groupsCut < 0 {
		return cfg, fmt.Errorf("groups-cut %q: want seconds", *groupsCut)
	}
	h.groupsTrace = *groupsTrace
	if h.predictPeriods, err = strconv.Atoi(*predictPeriods); err != nil || h.predictPeriods < 0 {
		return cfg, fmt.Errorf("predict-periods %q: want a whole number of periods, 0 for all", *predictPeriods)
	}
	h.predictTrace = *predictTrace
	if h.broker = *brokerKind; h.broker != brokerRedis && h.broker != brokerRabbit {
		return cfg, fmt.Errorf("broker %q: accepted: %s, %s", h.broker, brokerRedis, brokerRabbit)
	}
	h.groupsKeys = splitList(*groupsConts)
	for _, k := range h.groupsKeys {
		if !slices.Contains(groupContenderKeys(), k) {
			return cfg, fmt.Errorf("unknown groups contender %q; choose from %s", k, strings.Join(groupContenderKeys(), ","))
		}
	}
	if err := h.findTools(root); err != nil {
		return cfg, err
	}
	replay := false
	if cfg.scenarios, replay, err = selectScenarios(splitList(*scens)); err != nil {
		return cfg, err
	}
	for _, sc := range cfg.scenarios {
		if sc.redisOnly && h.broker != brokerRedis {
			return cfg, fmt.Errorf("scenario %s measures Redis itself; run it with -broker %s", sc.name, brokerRedis)
		}
	}
	if replay {
		if cfg.traces, err = selectTraces(root, *traceDir, splitList(*traces)); err != nil {
			return cfg, err
		}
		if cfg.contenders, err = selectContenders(names, splitList(*conts)); err != nil {
			return cfg, err
		}
	}
	if replay && (len(cfg.traces) == 0 || len(cfg.contenders) == 0) {
		return cfg, errors.New("nothing to replay: no trace or no contender selected")
	}
	if !replay && len(cfg.scenarios) == 0 {
		return cfg, errors.New("nothing to run: no scenario selected")
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

// findTools sets the paths of the app, the producer and redis-server,
// and checks that Celery can be imported.
func (h *bench) findTools(root string) error {
	var err error
	h.appDir = filepath.Join(root, "examples", "app")
	h.producer = filepath.Join(root, "examples", "producer.py")
	if h.redisServer, err = exec.LookPath("redis-server"); err != nil {
		return fmt.Errorf("%w (make deps installs it)", err)
	}
	if err := exec.Command(celeryPython, "-c", "import celery, redis").Run(); err != nil {
		return fmt.Errorf("%s cannot import celery and redis (make deps installs them)", celeryPython)
	}
	return nil
}

// selectTraces reads the named traces from dir (default: the repository's
// reference traces, which the simulator's golden tests use too).
func selectTraces(root, dir string, names []string) ([]trace, error) {
	if dir == "" {
		dir = filepath.Join(root, "supervisor", "simulate", "testdata")
	}
	var out []trace
	for _, name := range names {
		tr, err := readTrace(filepath.Join(dir, name+".trace"))
		if err != nil {
			return nil, fmt.Errorf("trace %s: %w (set BENCH_TRACE_DIR)", name, err)
		}
		out = append(out, tr)
	}
	return out, nil
}

// selectContenders returns the wanted contenders, always in the fixed run
// order; names are the known keys.
func selectContenders(names, want []string) ([]contender, error) {
	for _, k := range want {
		if !slices.Contains(names, k) {
			return nil, fmt.Errorf("unknown contender %q; choose from %s", k, strings.Join(names, ","))
		}
	}
	var out []contender
	for _, c := range allContenders {
		if slices.Contains(want, c.key) {
			out = append(out, c)
		}
	}
	return out, nil
}

// selectScenarios returns the wanted scenarios in run order, and whether
// the trace replay is wanted too.
func selectScenarios(want []string) ([]scenario, bool, error) {
	names := scenarioNames()
	for _, k := range want {
		if !slices.Contains(names, k) {
			return nil, false, fmt.Errorf("unknown scenario %q; choose from %s", k, strings.Join(names, ","))
		}
	}
	var out []scenario
	for _, sc := range allScenarios {
		if slices.Contains(want, sc.name) {
			out = append(out, sc)
		}
	}
	return out, slices.Contains(want, traceScenario), nil
}

func scenarioNames() []string {
	names := []string{traceScenario}
	for _, sc := range allScenarios {
		names = append(names, sc.name)
	}
	return names
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
