package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

const composeFile = "docker-compose.yml"

// A Prometheus configuration, the fields the two files use.
type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		DNSSDConfigs []struct {
			Names           []string `yaml:"names"`
			Type            string   `yaml:"type"`
			Port            int      `yaml:"port"`
			RefreshInterval string   `yaml:"refresh_interval"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

// Grafana's provisioning files (examples/grafana/provisioning), the fields
// this test needs; examples/grafana's own test decodes them strictly.
type grafanaDatasources struct {
	Datasources []struct {
		Type string `yaml:"type"`
		URL  string `yaml:"url"`
	} `yaml:"datasources"`
}

type grafanaDashboards struct {
	Providers []struct {
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

func decodeYAML(file string, v any, strict bool) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(strict)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: more than one document", file)
	}
	return nil
}

// composeTool is `docker compose` (v2) or `docker-compose`; the test fails
// without one.
func composeTool(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("docker"); err == nil {
		if exec.Command("docker", "compose", "version").Run() == nil {
			return []string{"docker", "compose"}
		}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	t.Fatal("no `docker compose` nor `docker-compose` to validate docker-compose.yml: " +
		"apt-get install docker-compose (make deps installs it)")
	return nil
}

// TestComposeConfig has the compose tool itself parse, validate and
// interpolate the file (offline: `config` needs no daemon and no image).
func TestComposeConfig(t *testing.T) {
	tool := composeTool(t)
	args := append(tool[1:], "-f", composeFile, "config", "-q")
	cmd := exec.Command(tool[0], args...)
	cmd.Env = append(os.Environ(), "CELERY_BROKER_URL=redis://:pw@redis:6379/0", "REVRX_VERSION=test")
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
}

// loadComposeFile loads file with compose-go, the Compose specification's
// reference library: it validates the file against the compose-spec schema
// (an unknown or misspelled key fails) and normalizes it. Variables are not
// interpolated (checkBroker reads ${CELERY_BROKER_URL:-...} as written) and
// paths stay relative to this directory.
func loadComposeFile(ctx context.Context, file string) (*types.Project, error) {
	details := types.ConfigDetails{WorkingDir: ".", ConfigFiles: []types.ConfigFile{{Filename: file}}, Environment: types.Mapping{}}
	return loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName("revrx-compose-test", true)
		o.SkipInterpolation = true
	})
}

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadComposeFile(t.Context(), composeFile)
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	for _, name := range []string{"redis", "workers", "producer", "prometheus", "grafana"} {
		if _, ok := p.Services[name]; !ok {
			t.Fatalf("%s: no %s service", composeFile, name)
		}
	}
	return p
}

// mounts maps a service's container paths to host paths (relative to this
// directory) and checks each bind mount's source exists, each named volume
// is declared.
func mounts(t *testing.T, p *types.Project, name string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, v := range p.Services[name].Volumes {
		switch v.Type {
		case types.VolumeTypeBind:
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s volume %s: %v", name, v.String(), err)
			}
		case types.VolumeTypeVolume:
			if _, ok := p.Volumes[v.Source]; !ok {
				t.Errorf("%s volume %s: named volume %s is not declared under volumes:", name, v.String(), v.Source)
			}
		default:
			t.Errorf("%s volume %s: type %s, want a bind mount or a named volume", name, v.String(), v.Type)
		}
		m[v.Target] = filepath.Clean(v.Source)
	}
	return m
}

// containerPorts is the set of container ports a service publishes.
func containerPorts(s types.ServiceConfig) map[int]bool {
	out := map[int]bool{}
	for _, p := range s.Ports {
		out[int(p.Target)] = true
	}
	return out
}

// environment is a service's environment; a variable without a value
// (taken from the host) is "".
func environment(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// TestComposeBuild: workers and producer build this Dockerfile from the
// repository root, under one image name.
func TestComposeBuild(t *testing.T) {
	c := loadCompose(t)
	root, _ := filepath.Abs(repoRoot)
	for _, name := range []string{"workers", "producer"} {
		s := c.Services[name]
		if s.Build == nil {
			t.Errorf("%s: no build: (it would be pulled, and %s is not on a registry)", name, s.Image)
			continue
		}
		ctx, _ := filepath.Abs(s.Build.Context)
		if ctx != root {
			t.Errorf("%s: build context %s = %s, want the repository root %s (COPY go.mod, examples/app)", name, s.Build.Context, ctx, root)
		}
		df, _ := filepath.Abs(filepath.Join(ctx, s.Build.Dockerfile))
		here, _ := filepath.Abs("Dockerfile")
		if df != here {
			t.Errorf("%s: build dockerfile %s = %s, want %s", name, s.Build.Dockerfile, df, here)
		}
		if _, ok := s.Build.Args["VERSION"]; !ok {
			t.Errorf("%s: no build arg VERSION (the Dockerfile's ARG)", name)
		}
		if s.Image != c.Services["workers"].Image {
			t.Errorf("%s: image %s, want the workers' %s", name, s.Image, c.Services["workers"].Image)
		}
	}
}

// TestComposeWorkers: the broker, the stop grace, the HTTP port, the
// inherited HEALTHCHECK.
func TestComposeWorkers(t *testing.T) {
	c := loadCompose(t)
	d, _, runtime := dockerfileStages(t)
	w := c.Services["workers"]
	if w.HealthCheck != nil {
		t.Errorf("workers: healthcheck %+v: leave it to the image's HEALTHCHECK", *w.HealthCheck)
	}
	if len(w.Entrypoint) != 0 {
		t.Errorf("workers: entrypoint %v: the image's (the supervisor as PID 1) is meant", w.Entrypoint)
	}
	checkBroker(t, c, "workers")
	if w.DependsOn["redis"].Condition != types.ServiceConditionHealthy {
		t.Errorf("workers: depends_on %v: want redis: service_healthy", w.DependsOn)
	}

	env := d.envOf(t, runtime)
	maps.Copy(env, environment(w))
	shutdown, err := time.ParseDuration(env["REVRX_SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("workers: REVRX_SHUTDOWN_TIMEOUT: %v", err)
	}
	if w.StopGracePeriod == nil {
		t.Fatal("workers: no stop_grace_period (compose's default, 10 s, kills running tasks)")
	}
	grace := time.Duration(*w.StopGracePeriod)
	max := autoscaleMax(t, w.Command)
	if need := shutdownNeed(shutdown, max); grace <= need {
		t.Errorf("workers: stop_grace_period %v, want > --shutdown-timeout %v + %d x 1.1 s = %v", grace, shutdown, max, need)
	}
	if port := httpPort(t, env); !containerPorts(w)[port] {
		t.Errorf("workers: ports %v do not publish REVRX_HTTP_ADDR's port %d (the status page)", w.Ports, port)
	}
}

// httpPort is the port of REVRX_HTTP_ADDR.
func httpPort(t *testing.T, env map[string]string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(env["REVRX_HTTP_ADDR"])
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("REVRX_HTTP_ADDR=%q: want [HOST]:PORT", env["REVRX_HTTP_ADDR"])
	}
	return n
}

var defaultValue = regexp.MustCompile(`^\$\{(\w+):?-(.*)\}$`)

// checkBroker wants the service's CELERY_BROKER_URL from the environment,
// defaulting to the redis service.
func checkBroker(t *testing.T, c *types.Project, name string) {
	t.Helper()
	v := environment(c.Services[name])["CELERY_BROKER_URL"]
	m := defaultValue.FindStringSubmatch(v)
	if m == nil || m[1] != "CELERY_BROKER_URL" {
		t.Errorf("%s: CELERY_BROKER_URL=%q: want ${CELERY_BROKER_URL:-redis://redis:6379/N} (the URL and its password from the environment)", name, v)
		return
	}
	u, err := url.Parse(m[2])
	if err != nil || u.Scheme != "redis" || u.Hostname() != "redis" || u.Port() != "6379" {
		t.Errorf("%s: broker default %q: want redis://redis:6379/N, the redis service", name, m[2])
	}
}

// TestComposeProducer: the producer runs examples/producer.py, mounted with
// app/ beside it, with arguments producer.py accepts.
func TestComposeProducer(t *testing.T) {
	c := loadCompose(t)
	p := c.Services["producer"]
	checkBroker(t, c, "producer")
	if p.HealthCheck == nil || !p.HealthCheck.Disable {
		t.Error("producer: the image's HEALTHCHECK (the supervisor's /readyz) must be disabled: no supervisor runs there")
	}
	if _, ok := p.DependsOn["workers"]; !ok {
		t.Errorf("producer: depends_on %v: want workers", p.DependsOn)
	}
	m := mounts(t, c, "producer")
	var script string
	if len(p.Entrypoint) == 2 && p.Entrypoint[0] == "/bin/sh" && p.Entrypoint[1] == "-c" && len(p.Command) == 1 {
		script = p.Command[0]
	} else {
		t.Fatalf("producer: entrypoint %v command %v: want /bin/sh -c SCRIPT", p.Entrypoint, p.Command)
	}
	if out, err := exec.Command("sh", "-n", "-c", script).CombinedOutput(); err != nil {
		t.Errorf("producer script: sh -n: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`python3 (\S+producer\.py)((?: --?[\w-]+(?: [\w.,]+)?)+)`)
	runs := re.FindAllStringSubmatch(script, -1)
	if len(runs) == 0 {
		t.Fatalf("producer script %q: no python3 .../producer.py ARGS", script)
	}
	for _, r := range runs {
		target := r[1]
		if m[target] != filepath.Clean("../producer.py") {
			t.Errorf("producer: %s is not mounted from ../producer.py (mounts %v)", target, m)
		}
		if appDir := path.Join(path.Dir(target), "app"); m[appDir] != filepath.Clean("../app") {
			t.Errorf("producer: producer.py imports the app from %s, not mounted from ../app (mounts %v)", appDir, m)
		}
		// producer.py's own argument parser accepts these arguments.
		args := strings.Fields(r[2])
		py := fmt.Sprintf("import sys; sys.path.insert(0, '..'); import producer; producer.parse_args(%s)", pyList(args))
		cmd := exec.Command("python3", "-c", py)
		cmd.Env = append(os.Environ(), "CELERY_BROKER_URL=redis://redis:6379/0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("producer.py %s: %v\n%s", r[2], err, out)
		}
	}
}

func pyList(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// TestComposePrometheus: the config mounted where prom/prometheus reads it,
// the rules beside it, one target per workers replica on the HTTP port; the
// same settings as examples/prometheus/prometheus.yml; promtool accepts the
// config as laid out in the container.
func TestComposePrometheus(t *testing.T) {
	c := loadCompose(t)
	d, _, runtime := dockerfileStages(t)
	m := mounts(t, c, "prometheus")
	const confPath = "/etc/prometheus/prometheus.yml"
	host, ok := m[confPath]
	if !ok {
		t.Fatalf("prometheus: nothing mounted at %s (mounts %v)", confPath, m)
	}
	var conf, shipped promConfig
	if err := decodeYAML(host, &conf, true); err != nil {
		t.Fatal(err)
	}
	if err := decodeYAML("../prometheus/prometheus.yml", &shipped, true); err != nil {
		t.Fatal(err)
	}
	if conf.Global != shipped.Global || fmt.Sprint(conf.RuleFiles) != fmt.Sprint(shipped.RuleFiles) {
		t.Errorf("%s: global %+v rule_files %v, want examples/prometheus/prometheus.yml's %+v %v", host, conf.Global, conf.RuleFiles, shipped.Global, shipped.RuleFiles)
	}
	// Lay out the container's /etc/prometheus and let promtool check it:
	// the rule_files resolve relative to the config, as in the container.
	etc := t.TempDir()
	for dst, src := range m {
		if !strings.HasPrefix(dst, "/etc/prometheus/") {
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(etc, strings.TrimPrefix(dst, "/etc/prometheus/")), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, rf := range conf.RuleFiles {
		if _, ok := m[path.Join("/etc/prometheus", rf)]; !ok {
			t.Errorf("rule_files %s: nothing mounted at %s", rf, path.Join("/etc/prometheus", rf))
		}
	}
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Fatal("no promtool to check the Prometheus config (Debian package prometheus; make deps installs it)")
	}
	if out, err := exec.Command("promtool", "check", "config", filepath.Join(etc, "prometheus.yml")).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}

	env := d.envOf(t, runtime)
	maps.Copy(env, environment(c.Services["workers"]))
	port := httpPort(t, env)
	if len(conf.ScrapeConfigs) != 1 || len(conf.ScrapeConfigs) != len(shipped.ScrapeConfigs) {
		t.Fatalf("%s: %d scrape configs, want 1 like the shipped one", host, len(conf.ScrapeConfigs))
	}
	sc := conf.ScrapeConfigs[0]
	if sc.JobName != shipped.ScrapeConfigs[0].JobName || sc.MetricsPath != "/metrics" {
		t.Errorf("scrape config %s %s: want job %s, /metrics (the dashboard's $job)", sc.JobName, sc.MetricsPath, shipped.ScrapeConfigs[0].JobName)
	}
	var targets []string
	for _, sd := range sc.DNSSDConfigs {
		if sd.Type != "A" {
			t.Errorf("dns_sd_configs type %q: want A (Docker's DNS answers a service with its replicas' A records)", sd.Type)
		}
		for _, n := range sd.Names {
			targets = append(targets, net.JoinHostPort(n, strconv.Itoa(sd.Port)))
		}
	}
	for _, st := range sc.StaticConfigs {
		targets = append(targets, st.Targets...)
	}
	want := net.JoinHostPort("workers", strconv.Itoa(port))
	if len(targets) != 1 || targets[0] != want {
		t.Errorf("scrape targets %v: want exactly %s (the workers service, REVRX_HTTP_ADDR)", targets, want)
	}
	if !containerPorts(c.Services["prometheus"])[9090] {
		t.Errorf("prometheus: ports %v: want 9090 published", c.Services["prometheus"].Ports)
	}
}

// TestComposeGrafana: examples/grafana's provisioning where Grafana reads
// it, the dashboard where its provider looks, the data source URL the
// prometheus service.
func TestComposeGrafana(t *testing.T) {
	c := loadCompose(t)
	g := c.Services["grafana"]
	m := mounts(t, c, "grafana")
	prov := filepath.Clean("../grafana/provisioning")
	if m["/etc/grafana/provisioning"] != prov {
		t.Errorf("grafana: %s is not mounted at /etc/grafana/provisioning (mounts %v)", prov, m)
	}
	var dash grafanaDashboards
	if err := decodeYAML(filepath.Join(prov, "dashboards/revrx-supervise.yml"), &dash, false); err != nil {
		t.Fatal(err)
	}
	if len(dash.Providers) != 1 {
		t.Fatalf("grafana dashboard providers: %d, want 1", len(dash.Providers))
	}
	want := path.Join(dash.Providers[0].Options.Path, "revrx-supervise.json")
	if m[want] != filepath.Clean("../grafana/revrx-supervise.json") {
		t.Errorf("grafana: ../grafana/revrx-supervise.json is not mounted at %s, where the provider reads (mounts %v)", want, m)
	}
	var ds grafanaDatasources
	if err := decodeYAML(filepath.Join(prov, "datasources/prometheus.yml"), &ds, false); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("grafana data sources %+v: want one prometheus", ds.Datasources)
	}
	raw := ds.Datasources[0].URL
	if v, ok := strings.CutPrefix(raw, "$"); ok {
		raw = environment(g)[strings.Trim(v, "{}")]
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() != "prometheus" || u.Port() != "9090" {
		t.Errorf("grafana data source url %q (from %q): want http://prometheus:9090, the prometheus service", raw, ds.Datasources[0].URL)
	}
	if !containerPorts(g)[3000] {
		t.Errorf("grafana: ports %v: want 3000 published", g.Ports)
	}
}

// TestComposeLoaderRejects shows that compose-go fails on a misspelled key,
// a malformed duration and a dependency on a missing service.
func TestComposeLoaderRejects(t *testing.T) {
	for name, file := range map[string]string{
		"misspelled key":  "services:\n  w:\n    image: x\n    stop_grace_periode: 45s\n",
		"bad duration":    "services:\n  w:\n    image: x\n    stop_grace_period: 45x\n",
		"missing service": "services:\n  w:\n    image: x\n    depends_on: [redis]\n",
	} {
		path := filepath.Join(t.TempDir(), "compose.yml")
		if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadComposeFile(t.Context(), path); err == nil {
			t.Errorf("%s: loadComposeFile(%q) = nil error, want one", name, file)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
