package prometheus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/revrx/revrx-supervise/internal/harness"
)

const (
	// integrationBudget bounds the whole integration test.
	integrationBudget = 90 * time.Second
	// queue is the test's own queue name.
	queue = "promtest"
	// shortFor replaces the for: of RevrxBacklogAtMax in the test's rules.
	shortFor = "3s"
)

// TestPrometheusScrapesSupervisor runs a real Prometheus (1 s scrape and
// evaluation intervals, the rules of rules.yml with RevrxBacklogAtMax's for:
// shortened to 3 s) against a real revrx-supervise at --autoscale=1,1 with a
// real Celery worker and a private redis-server, publishes a burst with
// examples/producer.py, and checks through the HTTP API that the recorded
// series (the cost ones included) take the expected values and that the alert fires during the burst
// and resolves after it. Everything it starts is stopped at the end.
func TestPrometheusScrapesSupervisor(t *testing.T) {
	if testing.Short() {
		t.Skip("real Prometheus, supervisor and Celery for about 40 s: skipped with -short")
	}
	promBin := promtool(t, "prometheus")
	if err := exec.Command("/usr/bin/python3", "-c", "import celery, redis").Run(); err != nil {
		t.Skip("/usr/bin/python3 cannot import celery and redis (make deps)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), integrationBudget)
	defer cancel()
	start := time.Now()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	srv := harness.StartTestRedis(t)

	bin := filepath.Join(tmp, "revrx-supervise")
	if err := harness.BuildSupervisor(ctx, root, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built in %s", time.Since(start).Round(100*time.Millisecond))

	supAddr := freeAddr(t)
	sup := startProc(t, "revrx-supervise", filepath.Join(root, "examples/app"),
		[]string{"CELERY_BROKER_URL=" + srv.URL(0)},
		bin, "-A", "tasks", "--autoscale=1,1", "-Q", queue,
		"--celery-cmd", "/usr/bin/python3 -m celery", "--http-addr", supAddr, "--keepalive", "2s")
	waitHTTP(ctx, t, sup, "http://"+supAddr+"/readyz")
	t.Logf("supervisor ready at %s", time.Since(start).Round(100*time.Millisecond))

	promAddr := freeAddr(t)
	cfg := writeTestConfig(t, tmp, supAddr)
	prom := startProc(t, "prometheus", tmp, nil, promBin,
		"--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(tmp, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	waitHTTP(ctx, t, prom, "http://"+promAddr+"/-/ready")
	api := promAPI{base: "http://" + promAddr}
	api.waitFor(ctx, t, prom, `up{job="revrx-supervise"} == 1`, nil)
	api.waitFor(ctx, t, prom, `revrx_workers{state=~"idle|busy"} == 1`, nil)
	t.Logf("prometheus scraping at %s", time.Since(start).Round(100*time.Millisecond))

	// Not firing: one worker idle at MAX, nothing waiting.
	if got := api.query(ctx, t, `ALERTS{alertname="RevrxBacklogAtMax"}`); len(got) != 0 {
		t.Errorf("RevrxBacklogAtMax before the burst = %v, want no alert", got)
	}

	// 8 tasks of 1.5 s on 1 worker: about 10 s of backlog at MAX.
	producer := exec.CommandContext(ctx, "/usr/bin/python3", "examples/producer.py",
		"--burst", "8", "--seconds", "1.5", "--queue", queue)
	producer.Dir = root
	producer.Env = append(os.Environ(), "CELERY_BROKER_URL="+srv.URL(0))
	if out, err := producer.CombinedOutput(); err != nil {
		t.Fatalf("producer.py: %v\n%s", err, out)
	}
	burst := time.Now()

	api.waitFor(ctx, t, sup, `revrx:queue_depth_per_worker > 0`, nil)
	t.Logf("revrx:queue_depth_per_worker > 0 %s after the burst", time.Since(burst).Round(100*time.Millisecond))
	api.waitFor(ctx, t, sup, `ALERTS{alertname="RevrxBacklogAtMax",alertstate="pending"}`, nil)
	api.waitFor(ctx, t, sup, `ALERTS{alertname="RevrxBacklogAtMax",alertstate="firing"}`, func(s sample) bool {
		return s.Metric["severity"] == "warning" && s.Metric["job"] == "revrx-supervise"
	})
	t.Logf("RevrxBacklogAtMax pending, then firing %s after the burst", time.Since(burst).Round(100*time.Millisecond))
	// One worker at --autoscale=1,1: waiting messages per worker are the
	// waiting messages, at most the 8 published; waiting + reserved +
	// running per worker at least as many.
	api.expectValue(ctx, t, `max_over_time(revrx:queue_depth_per_worker[1m])`, 2, 8)
	api.expectValue(ctx, t, `max_over_time(revrx:tasks_per_worker[1m])`, 3, 8)

	// The backlog drains: the alert resolves and tasks have been processed.
	api.waitFor(ctx, t, sup, `sum(revrx_queue_messages) == 0 and sum(revrx_workers{state="busy"}) == 0`, nil)
	api.waitFor(ctx, t, sup, `absent(ALERTS{alertname="RevrxBacklogAtMax"})`, nil)
	api.waitFor(ctx, t, sup, `sum(revrx_tasks_completed_total) >= 8`, nil)
	api.expectValue(ctx, t, `sum(revrx_tasks_completed_total)`, 8, 8)
	api.waitFor(ctx, t, sup, `revrx:tasks_processed:rate1m > 0`, nil)
	t.Logf("drained, alert resolved, tasks processed, %s after the burst", time.Since(burst).Round(100*time.Millisecond))
	// One process all along, busy 1.5 s per task and idle before the
	// burst: about 1.5 process-seconds a task or more (the two rates are
	// extrapolated apart), and some but not all of them idle.
	api.expectValue(ctx, t, `revrx:process_seconds_per_task`, 1, 30)
	api.expectValue(ctx, t, `revrx:idle_process_share`, 0.01, 0.99)
	// The example app sends task-sent events, so each wait is known: the
	// first task waited ~0 s, the last ~7 x 1.5 s.
	api.expectValue(ctx, t, `revrx:queue_wait_seconds:p50{queue="`+queue+`"}`, 0.5, 60)
	api.expectValue(ctx, t, `revrx:queue_wait_seconds:p95{queue="`+queue+`"}`, 2.5, 60)

	stop(t, prom)
	stop(t, sup)
	t.Logf("done in %s", time.Since(start).Round(100*time.Millisecond))
}

// writeTestConfig writes prometheus.yml with 1 s intervals, the supervisor
// at addr as its only target, and the rules of rules.yml with
// RevrxBacklogAtMax's for: set to shortFor; it returns the config's path.
func writeTestConfig(t *testing.T, dir, addr string) string {
	t.Helper()
	var cfg map[string]any
	readYAML(t, "prometheus.yml", &cfg)
	cfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	cfg["rule_files"] = []string{filepath.Join(dir, "rules.yml")}
	scrapes, _ := cfg["scrape_configs"].([]any)
	if len(scrapes) != 1 {
		t.Fatalf("prometheus.yml: %d scrape_configs, want 1", len(scrapes))
	}
	job, _ := scrapes[0].(map[string]any)
	if job["job_name"] != "revrx-supervise" {
		t.Fatalf("prometheus.yml: job_name %v, want revrx-supervise", job["job_name"])
	}
	job["static_configs"] = []any{map[string]any{"targets": []string{addr}}}
	writeYAML(t, filepath.Join(dir, "prometheus.yml"), cfg)

	var rules map[string]any
	readYAML(t, "rules.yml", &rules)
	changed := 0
	groups, _ := rules["groups"].([]any)
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		rs, _ := gm["rules"].([]any)
		for _, r := range rs {
			if rm, _ := r.(map[string]any); rm["alert"] == "RevrxBacklogAtMax" {
				rm["for"] = shortFor
				changed++
			}
		}
	}
	if changed != 1 {
		t.Fatalf("rules.yml: %d rules RevrxBacklogAtMax, want 1", changed)
	}
	writeYAML(t, filepath.Join(dir, "rules.yml"), rules)
	return filepath.Join(dir, "prometheus.yml")
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// freeAddr returns a free 127.0.0.1:PORT (never a fixed one such as 9090).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProc starts argv in dir with extra environment variables, in a
// process group of its own (harness.StartLogged); t.Cleanup stops it and
// logs its output if t failed.
func startProc(t *testing.T, name, dir string, env []string, argv ...string) *harness.Process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	p, err := harness.StartLogged(name, argv, dir, append(os.Environ(), env...), logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop(t, p)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s output (last lines):\n%s", name, lastLines(string(b), 40))
		}
	})
	return p
}

// stop sends SIGTERM, waits up to 20 s, then SIGKILLs the process's tree;
// a process that has already exited is left alone.
func stop(t *testing.T, p *harness.Process) {
	if _, err := p.Stop(syscall.SIGTERM, 20*time.Second); errors.Is(err, harness.ErrKilled) {
		t.Errorf("%s still running 20 s after SIGTERM: killed", p.Name)
	}
}

// waitHTTP waits until url answers 200, failing if p exits or ctx ends.
func waitHTTP(ctx context.Context, t *testing.T, p *harness.Process, url string) {
	t.Helper()
	var last string
	for {
		if resp, err := http.Get(url); err == nil {
			body := new(bytes.Buffer)
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(body.String()))
		} else {
			last = err.Error()
		}
		if p.Exited() {
			t.Fatalf("%s exited before %s answered 200 (last: %s)", p.Name, url, last)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: no 200 within the test's budget (last: %s)", url, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// sample is one element of an instant vector from /api/v1/query.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) float() float64 {
	str, _ := s.Value[1].(string)
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return 0
	}
	return f
}

// promAPI queries a Prometheus over its HTTP API.
type promAPI struct{ base string }

// query runs an instant query and returns its vector; it fails the test on
// an error.
func (a promAPI) query(ctx context.Context, t *testing.T, q string) []sample {
	t.Helper()
	got, err := a.tryQuery(ctx, q)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	return got
}

func (a promAPI) tryQuery(ctx context.Context, q string) ([]sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string   `json:"resultType"`
			Result     []sample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("status %s: %s", r.Status, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", r.Data.ResultType)
	}
	return r.Data.Result, nil
}

// waitFor polls q every 250 ms until it returns a sample (matching ok, if
// given); it fails the test when ctx ends or watched exits first.
func (a promAPI) waitFor(ctx context.Context, t *testing.T, watched *harness.Process, q string, ok func(sample) bool) {
	t.Helper()
	var last []sample
	for {
		got, err := a.tryQuery(ctx, q)
		if err != nil && ctx.Err() == nil {
			t.Fatalf("query %s: %v", q, err)
		}
		for _, s := range got {
			if ok == nil || ok(s) {
				return
			}
		}
		last = got
		if watched.Exited() {
			t.Fatalf("%s exited while waiting for %s", watched.Name, q)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: no matching sample within the test's budget (last result %v)", q, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// expectValue fails the test unless q returns exactly one sample in [lo,
// hi], and logs its value.
func (a promAPI) expectValue(ctx context.Context, t *testing.T, q string, lo, hi float64) {
	t.Helper()
	got := a.query(ctx, t, q)
	if len(got) != 1 {
		t.Errorf("%s = %v, want one sample in [%g, %g]", q, got, lo, hi)
		return
	}
	v := got[0].float()
	if v < lo || v > hi {
		t.Errorf("%s = %g, want it in [%g, %g]", q, v, lo, hi)
		return
	}
	t.Logf("%s = %.3g", q, v)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
