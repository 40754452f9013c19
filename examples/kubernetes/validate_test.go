package kubernetes

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

const dir = "."

// drainPerWorker is the drain of one worker at a stop (docs/operations.md,
// "Signals and shutdown"): workers drain one at a time.
const drainPerWorker = 1100 * time.Millisecond

func load(t *testing.T) []Manifest {
	t.Helper()
	ms, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func only[T any](t *testing.T, ms []Manifest) *T {
	t.Helper()
	var found []*T
	for _, m := range ms {
		if o, ok := m.Object.(*T); ok {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %T among the manifests, found %d", *new(T), len(found))
	}
	return found[0]
}

// TestEveryManifestDecodesStrictly: every document of every file decodes, and
// every kind the examples need is there.
func TestEveryManifestDecodesStrictly(t *testing.T) {
	ms := load(t)
	kinds := map[string]int{}
	for _, m := range ms {
		kinds[m.Kind]++
	}
	for _, k := range []string{"Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ScaledObject", "PodMonitor", "PrometheusRule"} {
		if kinds[k] != 1 {
			t.Errorf("%d %s manifests, want 1 (have %v)", kinds[k], k, kinds)
		}
	}
}

// TestMisspelledFieldFails renames, one at a time, every key of every
// document (appending "x") and expects the strict decoding to fail: no field
// name in these files goes unchecked. Only free-form string maps (labels,
// annotations, matchLabels) accept any key.
func TestMisspelledFieldFails(t *testing.T) {
	freeForm := []string{"labels", "annotations", "matchLabels"}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range Documents(data) {
			var tree any
			if err := yaml.Unmarshal(doc, &tree); err != nil {
				t.Fatal(err)
			}
			for _, path := range keyPaths(tree, nil, freeForm) {
				mutated := renameKey(tree, path, 0)
				out, err := yaml.Marshal(mutated)
				if err != nil {
					t.Fatal(err)
				}
				checked++
				if _, _, err := Decode(out); err == nil {
					t.Errorf("%s#%d: %s renamed to %sx still decodes", filepath.Base(f), i, strings.Join(path, "."), path[len(path)-1])
				}
			}
		}
	}
	// resources.requests/limits are maps too, checked by name in
	// TestDeployment; the counts guard against an empty walk.
	if checked < 100 {
		t.Errorf("only %d keys checked", checked)
	}
	t.Logf("%d field names checked", checked)
}

// keyPaths lists the path of every map key (list indices as "[i]").
func keyPaths(v any, prefix []string, freeForm []string) [][]string {
	var out [][]string
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			p := append(slices.Clone(prefix), k)
			if len(prefix) > 0 && slices.Contains(freeForm, prefix[len(prefix)-1]) {
				continue
			}
			if (k == "requests" || k == "limits") && len(prefix) > 0 && prefix[len(prefix)-1] == "resources" {
				out = append(out, p)
				continue
			}
			out = append(out, p)
			out = append(out, keyPaths(c, p, freeForm)...)
		}
	case []any:
		for i, c := range v {
			out = append(out, keyPaths(c, append(slices.Clone(prefix), fmt.Sprintf("[%d]", i)), freeForm)...)
		}
	}
	return out
}

// renameKey returns a deep copy of v with the key at path renamed to key+"x".
func renameKey(v any, path []string, depth int) any {
	switch v := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, c := range v {
			if k == path[depth] {
				if depth == len(path)-1 {
					m[k+"x"] = c
					continue
				}
				c = renameKey(c, path, depth+1)
			}
			m[k] = c
		}
		return m
	case []any:
		l := slices.Clone(v)
		if i, err := strconv.Atoi(strings.Trim(path[depth], "[]")); err == nil && strings.HasPrefix(path[depth], "[") {
			l[i] = renameKey(l[i], path, depth+1)
		}
		return l
	}
	return v
}

// supervisorArgs holds the revrx-supervise flags of a container (before "--"),
// with the environment variables the README lists for them as a fallback.
type supervisorArgs struct {
	max, min        int
	shutdownTimeout time.Duration
	httpPort        int
}

func flagValue(args []string, env []corev1.EnvVar, name, envName, def string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	for _, e := range env {
		if e.Name == envName && e.Value != "" {
			return e.Value
		}
	}
	return def
}

func parseSupervisor(t *testing.T, c corev1.Container) supervisorArgs {
	t.Helper()
	var s supervisorArgs
	as := strings.Split(flagValue(c.Args, c.Env, "--autoscale", "REVRX_AUTOSCALE", ""), ",")
	a, err1 := strconv.Atoi(as[0])
	b := 0
	var err2 error
	if len(as) > 1 {
		b, err2 = strconv.Atoi(as[1])
	}
	if err1 != nil || err2 != nil || len(as) > 2 {
		t.Fatalf("container %s: --autoscale=%s is not MAX[,MIN]", c.Name, strings.Join(as, ","))
	}
	s.max, s.min = max(a, b), min(a, b)
	st := flagValue(c.Args, c.Env, "--shutdown-timeout", "REVRX_SHUTDOWN_TIMEOUT", "25s")
	if s.shutdownTimeout, err1 = time.ParseDuration(st); err1 != nil {
		t.Fatalf("container %s: --shutdown-timeout=%s: %v", c.Name, st, err1)
	}
	addr := flagValue(c.Args, c.Env, "--http-addr", "REVRX_HTTP_ADDR", ":9829")
	_, port, _ := strings.Cut(addr, ":")
	if s.httpPort, err1 = strconv.Atoi(port); err1 != nil {
		t.Fatalf("container %s: --http-addr=%s has no port", c.Name, addr)
	}
	return s
}

func supervisorContainer(t *testing.T, d *appsv1.Deployment) (corev1.Container, supervisorArgs) {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if flagValue(c.Args, c.Env, "--autoscale", "REVRX_AUTOSCALE", "") != "" {
			return c, parseSupervisor(t, c)
		}
	}
	t.Fatal("no container of the Deployment runs revrx-supervise --autoscale")
	return corev1.Container{}, supervisorArgs{}
}

func TestDeployment(t *testing.T) {
	d := only[appsv1.Deployment](t, load(t))
	ps := d.Spec.Template.Spec
	c, s := supervisorContainer(t, d)

	// Grace period: the drains one at a time, then --shutdown-timeout.
	need := time.Duration(s.max)*drainPerWorker + s.shutdownTimeout
	if ps.TerminationGracePeriodSeconds == nil {
		t.Errorf("terminationGracePeriodSeconds unset (default 30 s); need more than %v", need)
	} else if got := time.Duration(*ps.TerminationGracePeriodSeconds) * time.Second; got <= need {
		t.Errorf("terminationGracePeriodSeconds = %v, need more than MAX %d x %v + --shutdown-timeout %v = %v",
			got, s.max, drainPerWorker, s.shutdownTimeout, need)
	}

	// Probes on the metrics port.
	var metricsPort *corev1.ContainerPort
	for i, p := range c.Ports {
		if int(p.ContainerPort) == s.httpPort {
			metricsPort = &c.Ports[i]
		}
	}
	if metricsPort == nil || metricsPort.Name != "metrics" {
		t.Fatalf("container %s: no port named metrics = %d (--http-addr); ports %v", c.Name, s.httpPort, c.Ports)
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe on %s", name, path)
			return
		}
		if p.HTTPGet.Path != path {
			t.Errorf("%s path = %q, want %s", name, p.HTTPGet.Path, path)
		}
		if port := p.HTTPGet.Port; port.String() != metricsPort.Name && port.IntValue() != s.httpPort {
			t.Errorf("%s port = %s, want %s (%d)", name, port.String(), metricsPort.Name, s.httpPort)
		}
	}
	probe("livenessProbe", c.LivenessProbe, "/livez")
	probe("readinessProbe", c.ReadinessProbe, "/readyz")

	// The restricted Pod Security Standard, container settings over pod ones.
	psc, csc := ps.SecurityContext, c.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	pick := func(cv, pv *bool) bool { return (cv != nil && *cv) || (cv == nil && pv != nil && *pv) }
	if !pick(csc.RunAsNonRoot, psc.RunAsNonRoot) {
		t.Error("runAsNonRoot is not true")
	}
	uid := psc.RunAsUser
	if csc.RunAsUser != nil {
		uid = csc.RunAsUser
	}
	if uid == nil || *uid == 0 {
		t.Error("runAsUser is unset or 0")
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if csc.Privileged != nil && *csc.Privileged {
		t.Error("privileged")
	}
	if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") || len(csc.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %+v, want drop [ALL] and nothing added", csc.Capabilities)
	}
	sp := psc.SeccompProfile
	if csc.SeccompProfile != nil {
		sp = csc.SeccompProfile
	}
	if sp == nil || (sp.Type != corev1.SeccompProfileTypeRuntimeDefault && sp.Type != corev1.SeccompProfileTypeLocalhost) {
		t.Errorf("seccompProfile = %+v, want RuntimeDefault", sp)
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	} else {
		// Celery's prefork pool writes its pymp-* files with tempfile.
		ok := false
		for _, vm := range c.VolumeMounts {
			for _, v := range ps.Volumes {
				if vm.MountPath == "/tmp" && vm.Name == v.Name && v.EmptyDir != nil && !vm.ReadOnly {
					ok = true
				}
			}
		}
		if !ok {
			t.Error("read-only root filesystem without a writable emptyDir on /tmp")
		}
	}

	// The broker URL only from a Secret.
	for _, a := range c.Args {
		if a == "-b" || a == "--broker" || strings.HasPrefix(a, "-b=") || strings.HasPrefix(a, "--broker=") || strings.Contains(a, "://") {
			t.Errorf("args carry a broker or URL (%q): any user can read argv; use CELERY_BROKER_URL from a Secret", a)
		}
	}
	seen := false
	for _, e := range c.Env {
		if strings.Contains(e.Value, "://") {
			t.Errorf("env %s has a literal URL; take it from a Secret", e.Name)
		}
		if e.Name == "CELERY_BROKER_URL" {
			seen = true
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name == "" || e.ValueFrom.SecretKeyRef.Key == "" {
				t.Error("CELERY_BROKER_URL must come from valueFrom.secretKeyRef")
			}
		}
	}
	if !seen {
		t.Error("no CELERY_BROKER_URL from a Secret")
	}
	if len(c.EnvFrom) > 0 {
		t.Error("envFrom hides which variables are set; name them in env")
	}

	// Resources for MAX forked workers: ~61 MB for the first worker and the
	// app host, ~22 MB PSS per further worker, ~24 MB for the supervisor
	// (docs/benchmark.md, "Start-up and memory").
	for _, rl := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
		for name := range rl {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory && name != corev1.ResourceEphemeralStorage {
				t.Errorf("resources: unknown resource %q", name)
			}
		}
	}
	atMax := resource.MustParse(strconv.Itoa(61+22*(s.max-1)+24) + "M")
	req, lim := c.Resources.Requests.Memory(), c.Resources.Limits.Memory()
	if req.Cmp(atMax) < 0 {
		t.Errorf("memory request %s is below the %s of MAX=%d forked workers", req, &atMax, s.max)
	}
	if lim.IsZero() || lim.Cmp(*req) < 0 {
		t.Errorf("memory limit %s unset or below the request %s", lim, req)
	}
	if c.Resources.Requests.Cpu().IsZero() {
		t.Error("no CPU request: the HPA's CPU utilization needs one")
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	ms := load(t)
	d, pdb := only[appsv1.Deployment](t, ms), only[policyv1.PodDisruptionBudget](t, ms)
	if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("PodDisruptionBudget selector %v does not select the Deployment's pods %v", pdb.Spec.Selector, d.Spec.Template.Labels)
	}
	if (pdb.Spec.MaxUnavailable == nil) == (pdb.Spec.MinAvailable == nil) {
		t.Error("want exactly one of maxUnavailable and minAvailable")
	}
}

func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestHPA(t *testing.T) {
	ms := load(t)
	d, h := only[appsv1.Deployment](t, ms), only[autoscalingv2.HorizontalPodAutoscaler](t, ms)
	c, s := supervisorContainer(t, d)
	if r := h.Spec.ScaleTargetRef; r.Kind != "Deployment" || r.Name != d.Name || r.APIVersion != "apps/v1" {
		t.Errorf("scaleTargetRef = %+v, want the Deployment %s", r, d.Name)
	}
	var revrx, cpu, mem bool
	for _, m := range h.Spec.Metrics {
		switch m.Type {
		case autoscalingv2.ExternalMetricSourceType:
			if !strings.HasPrefix(m.External.Metric.Name, "revrx_") {
				continue
			}
			revrx = true
			if v := m.External.Target.AverageValue; m.External.Target.Type != autoscalingv2.AverageValueMetricType || v == nil || v.Value() != int64(s.max) {
				t.Errorf("external %s target = %+v, want AverageValue = MAX %d", m.External.Metric.Name, m.External.Target, s.max)
			}
			if sel := m.External.Metric.Selector; sel == nil || sel.MatchLabels["container"] != c.Name {
				t.Errorf("external %s selector %v, want container=%s", m.External.Metric.Name, sel, c.Name)
			}
		case autoscalingv2.PodsMetricSourceType:
			revrx = revrx || strings.HasPrefix(m.Pods.Metric.Name, "revrx_")
		case autoscalingv2.ResourceMetricSourceType:
			cpu = cpu || m.Resource.Name == corev1.ResourceCPU
			mem = mem || m.Resource.Name == corev1.ResourceMemory
		}
	}
	if !revrx || !cpu || !mem {
		t.Errorf("metrics: revrx %v, cpu %v, memory %v; want all three", revrx, cpu, mem)
	}
	checkBehavior(t, "hpa.yaml", h.Spec.Behavior)
}

func checkBehavior(t *testing.T, file string, b *autoscalingv2.HorizontalPodAutoscalerBehavior) {
	t.Helper()
	if b == nil || b.ScaleUp == nil || b.ScaleDown == nil {
		t.Fatalf("%s: want a behavior with scaleUp and scaleDown", file)
	}
	if w := b.ScaleDown.StabilizationWindowSeconds; w == nil || *w < 120 {
		t.Errorf("%s: scaleDown stabilization %v, want at least 120 s", file, w)
	}
	if len(b.ScaleUp.Policies) == 0 || len(b.ScaleDown.Policies) == 0 {
		t.Errorf("%s: want rate-limiting policies both ways", file)
	}
}

func TestScaledObject(t *testing.T) {
	ms := load(t)
	d, so := only[appsv1.Deployment](t, ms), only[ScaledObject](t, ms)
	_, s := supervisorContainer(t, d)
	if r := so.Spec.ScaleTargetRef; r == nil || r.Name != d.Name || (r.Kind != "" && r.Kind != "Deployment") {
		t.Errorf("scaleTargetRef = %+v, want the Deployment %s", r, d.Name)
	}
	found := false
	for _, tr := range so.Spec.Triggers {
		if tr.Type != "prometheus" {
			continue
		}
		found = true
		q := tr.Metadata["query"]
		if !strings.Contains(q, "revrx_unmet_demand_workers") && !strings.Contains(q, "revrx_queue_messages") {
			t.Errorf("prometheus query %q uses neither revrx_unmet_demand_workers nor revrx_queue_messages", q)
		}
		if tr.Metadata["threshold"] != strconv.Itoa(s.max) {
			t.Errorf("threshold %q, want MAX %d", tr.Metadata["threshold"], s.max)
		}
	}
	if !found {
		t.Error("no prometheus trigger")
	}
	if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount < 1 {
		t.Error("minReplicaCount below 1")
	}
	if a := so.Spec.Advanced; a == nil || a.HorizontalPodAutoscalerConfig == nil {
		t.Error("no advanced.horizontalPodAutoscalerConfig")
	} else {
		checkBehavior(t, "keda-scaledobject.yaml", a.HorizontalPodAutoscalerConfig.Behavior)
	}
}

func TestPodMonitor(t *testing.T) {
	ms := load(t)
	d, pm := only[appsv1.Deployment](t, ms), only[monitoringv1.PodMonitor](t, ms)
	c, _ := supervisorContainer(t, d)
	if !selects(pm.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("PodMonitor selector %v does not select %v", pm.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	for _, ep := range pm.Spec.PodMetricsEndpoints {
		if ep.Port == nil || !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == *ep.Port }) {
			t.Errorf("PodMonitor port %v is not a port name of container %s", ep.Port, c.Name)
		}
	}
	_ = only[monitoringv1.PrometheusRule](t, ms)
}
