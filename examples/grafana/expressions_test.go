package grafana

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// expression is one PromQL expression of the dashboard, where it is used.
type expression struct {
	Where string // e.g. `panel 4 "Queue depth" target A`
	Expr  string // as in the dashboard, with its $variables
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.+), *[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// expressions returns every PromQL expression of the dashboard: targets,
// annotation queries, and the selectors of label_values variables.
func (d *dashboard) expressions() ([]expression, error) {
	var out []expression
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			out = append(out, expression{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out = append(out, expression{fmt.Sprintf("annotation %q", a.Name), a.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesRE.FindStringSubmatch(v.Query)
		if m == nil {
			return nil, fmt.Errorf("variable %q: query %q is not label_values(selector, label)", v.Name, v.Query)
		}
		out = append(out, expression{fmt.Sprintf("variable %q", v.Name), m[1]})
	}
	return out, nil
}

// dashboardExpressions returns the expressions of the dashboard file.
func dashboardExpressions(t *testing.T) []expression {
	t.Helper()
	d, err := loadDashboard(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	exprs, err := d.expressions()
	if err != nil {
		t.Fatal(err)
	}
	return exprs
}

// TestDashboardPromQLParses writes every expression, its variables replaced
// by sample values, as a recording rule and has promtool check the file: it
// parses each with Prometheus's own PromQL parser.
func TestDashboardPromQLParses(t *testing.T) {
	exprs := dashboardExpressions(t)
	if out, err := promtoolCheck(t, exprs); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// promtoolCheck runs promtool check rules on exprs; the error names the
// expressions promtool rejects.
func promtoolCheck(t *testing.T, exprs []expression) (string, error) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: `make deps` installs it (Debian package prometheus)")
	}
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		expr, err := substitute(e.Expr)
		if err != nil {
			return "", fmt.Errorf("%s: %w", e.Where, err)
		}
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:expr_%d", i), Expr: expr})
	}
	file := map[string]any{"groups": []map[string]any{{"name": "dashboard", "rules": rules}}}
	data, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err == nil {
		return string(out), nil
	}
	var bad []string
	for i, e := range exprs {
		if strings.Contains(string(out), fmt.Sprintf("%q", fmt.Sprintf("dashboard:expr_%d", i))) {
			bad = append(bad, fmt.Sprintf("%s: %s", e.Where, e.Expr))
		}
	}
	return string(out), fmt.Errorf("%w; rejected: %s", err, strings.Join(bad, "; "))
}

// TestDashboardPromtoolRejects shows that the promtool check can fail.
func TestDashboardPromtoolRejects(t *testing.T) {
	exprs := []expression{
		{"good", `sum by (state) (revrx_workers{instance=~"$instance"})`},
		{"bad", `sum by (state) (revrx_workers{instance=~"$instance"}`},
	}
	out, err := promtoolCheck(t, exprs)
	if err == nil || !strings.Contains(err.Error(), "bad:") || strings.Contains(err.Error(), "good:") {
		t.Errorf("promtoolCheck(one unclosed) = %v, want an error naming only it\n%s", err, out)
	}
}

// TestDashboardMetricNames wants every metric an expression reads to be one
// the supervisor exports or a recording rule of examples/prometheus/rules.yml,
// every selector to follow the dashboard's job and instance variables, and
// every state a worker state the supervisor reports.
func TestDashboardMetricNames(t *testing.T) {
	exprs := dashboardExpressions(t)
	exported, err := exportedNames()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := recordingRules("../prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exprs {
		sels, err := selectors(e.Expr)
		if err != nil {
			t.Errorf("%s: %v", e.Where, err)
			continue
		}
		if len(sels) == 0 {
			t.Errorf("%s: %s reads no metric", e.Where, e.Expr)
		}
		for _, s := range sels {
			ruleExpr, isRule := rules[s.Name]
			if !exported[s.Name] && !isRule {
				t.Errorf("%s: %s is neither exported by the supervisor nor a recording rule of rules.yml", e.Where, s.Name)
			}
			// A rule that aggregates the instance away (the queue waits,
			// per job) follows the job only.
			wantInstance := !isRule || strings.Contains(ruleExpr, "instance")
			checkSelector(t, e, s, wantInstance)
		}
	}
}

func checkSelector(t *testing.T, e expression, s selector, wantInstance bool) {
	t.Helper()
	if strings.HasPrefix(e.Where, "variable ") {
		return
	}
	if s.Matchers["job"] != `=~ $job` {
		t.Errorf("%s: %s has no job=~\"$job\" matcher", e.Where, s.Name)
	}
	if wantInstance && s.Matchers["instance"] != `=~ $instance` {
		t.Errorf("%s: %s has no instance=~\"$instance\" matcher", e.Where, s.Name)
	}
	if state, ok := s.Matchers["state"]; ok {
		for _, st := range strings.Split(strings.TrimPrefix(state, "=~ "), "|") {
			if !isPhase(st) {
				t.Errorf("%s: %s state %q is not a worker state (%v)", e.Where, s.Name, st, policy.Phases)
			}
		}
	}
}

func isPhase(s string) bool {
	for _, ph := range policy.Phases {
		if string(ph) == s {
			return true
		}
	}
	return false
}

// recordingRules returns the recording rules of a Prometheus rules file,
// record name -> expr.
func recordingRules(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recording rules: %w", err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rules := map[string]string{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				rules[r.Record] = r.Expr
			}
		}
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("%s: no recording rule", path)
	}
	return rules, nil
}
