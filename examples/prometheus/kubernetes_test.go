package prometheus

import (
	"bytes"
	"flag"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated part of ../kubernetes/prometheusrule.yaml from rules.yml")

const (
	prometheusRulePath = "../kubernetes/prometheusrule.yaml"
	podMonitorPath     = "../kubernetes/podmonitor.yaml"
	deploymentPath     = "../kubernetes/deployment.yaml"
	// specLine ends the hand-written head of prometheusrule.yaml; the
	// generated groups follow it.
	specLine = "spec:\n"
)

// ruleSpec returns rules.yml as the body of a PrometheusRule's spec: its
// leading comment block dropped, every other line indented by two spaces
// (comments inside the groups are kept).
func ruleSpec(rules []byte) []byte {
	lines := strings.SplitAfter(string(rules), "\n")
	for len(lines) > 0 && (strings.HasPrefix(lines[0], "#") || strings.TrimSpace(lines[0]) == "") {
		lines = lines[1:]
	}
	var b bytes.Buffer
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			b.WriteString("  ")
		}
		b.WriteString(l)
	}
	return b.Bytes()
}

// TestPrometheusRuleMatchesRules keeps the PrometheusRule's groups equal to
// rules.yml, byte for byte below its "spec:" line and as parsed YAML; with
// -update it rewrites that part instead.
func TestPrometheusRuleMatchesRules(t *testing.T) {
	rules, err := os.ReadFile("rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(prometheusRulePath)
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := bytes.Cut(cur, []byte("\n"+specLine))
	if !ok {
		t.Fatalf("%s: no line %q ending the hand-written head", prometheusRulePath, strings.TrimSpace(specLine))
	}
	want := slices.Concat(head, []byte("\n"+specLine), ruleSpec(rules))
	if *update {
		if err := os.WriteFile(prometheusRulePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		cur = want
	}
	if !bytes.Equal(cur, want) {
		t.Errorf("%s differs from rules.yml below %q: run cd examples && go test ./prometheus -run PrometheusRule -update",
			prometheusRulePath, strings.TrimSpace(specLine))
	}

	var pr struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Groups any `yaml:"groups"`
		} `yaml:"spec"`
	}
	var rf struct {
		Groups any `yaml:"groups"`
	}
	readYAML(t, prometheusRulePath, &pr)
	readYAML(t, "rules.yml", &rf)
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Errorf("%s is %s %s, want monitoring.coreos.com/v1 PrometheusRule", prometheusRulePath, pr.APIVersion, pr.Kind)
	}
	if rf.Groups == nil || !reflect.DeepEqual(pr.Spec.Groups, rf.Groups) {
		t.Errorf("%s spec.groups parse differently from rules.yml groups", prometheusRulePath)
	}
}

// TestPodMonitorSelectsTheDeployment checks that podmonitor.yaml selects the
// pods of deployment.yaml and scrapes the container port named there.
func TestPodMonitorSelectsTheDeployment(t *testing.T) {
	var pm struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port string `yaml:"port"`
				Path string `yaml:"path"`
			} `yaml:"podMetricsEndpoints"`
		} `yaml:"spec"`
	}
	var dep struct {
		Spec struct {
			Template struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					Containers []struct {
						Args  []string `yaml:"args"`
						Ports []struct {
							Name          string `yaml:"name"`
							ContainerPort int    `yaml:"containerPort"`
						} `yaml:"ports"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	readYAML(t, podMonitorPath, &pm)
	readYAML(t, deploymentPath, &dep)
	if pm.Kind != "PodMonitor" {
		t.Errorf("%s kind = %q, want PodMonitor", podMonitorPath, pm.Kind)
	}
	podLabels := dep.Spec.Template.Metadata.Labels
	if len(pm.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("%s selects no labels", podMonitorPath)
	}
	for k, v := range pm.Spec.Selector.MatchLabels {
		if podLabels[k] != v {
			t.Errorf("%s selects %s=%s, the Deployment's pods have %s=%q", podMonitorPath, k, v, k, podLabels[k])
		}
	}
	ports := map[string]int{}
	var args []string
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		args = append(args, c.Args...)
	}
	if len(pm.Spec.Endpoints) == 0 {
		t.Fatalf("%s has no podMetricsEndpoints", podMonitorPath)
	}
	for _, ep := range pm.Spec.Endpoints {
		port, ok := ports[ep.Port]
		if !ok {
			t.Errorf("%s scrapes port %q, which no container of the Deployment names (it has %v)", podMonitorPath, ep.Port, ports)
			continue
		}
		if addr := "--http-addr=:" + strconv.Itoa(port); !slices.Contains(args, addr) {
			t.Errorf("port %q is %d, but the Deployment's args do not contain %s", ep.Port, port, addr)
		}
		if ep.Path != "/metrics" {
			t.Errorf("%s path = %q, want /metrics", podMonitorPath, ep.Path)
		}
	}
}
