package prometheus

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// ruleFile is the part of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record string `yaml:"record"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
	For    string `yaml:"for"`
}

// unitTestFile is the part of a promtool unit-test file the tests read.
type unitTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name           string `yaml:"name"`
		PromQLExprTest []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// promtool returns the path of name (promtool or prometheus) and fails the
// test, never skips it, when it is missing.
func promtool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not on PATH: `make deps` installs it (Debian package prometheus)", name)
	}
	return path
}

// runTool runs name with args in this directory and fails the test with its
// output if it exits non-zero.
func runTool(t *testing.T, name string, args ...string) {
	t.Helper()
	start := time.Now()
	out, err := exec.Command(promtool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	t.Logf("%s %v: ok in %s", name, args, time.Since(start).Round(time.Millisecond))
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	runTool(t, "promtool", "check", "rules", "rules.yml")
}

func TestPromtoolCheckConfig(t *testing.T) {
	runTool(t, "promtool", "check", "config", "prometheus.yml")
}

func TestPromtoolTestRules(t *testing.T) {
	runTool(t, "promtool", "test", "rules", "rules_test.yml")
}

// TestEveryRuleHasACase fails when an alert of rules.yml lacks a firing or a
// non-firing case in rules_test.yml, a recording rule is used by no
// promql_expr_test, or a case names an alert rules.yml does not have (promtool
// passes a case that expects no alert from a rule that does not exist).
func TestEveryRuleHasACase(t *testing.T) {
	var rules ruleFile
	var tests unitTestFile
	readYAML(t, "rules.yml", &rules)
	readYAML(t, "rules_test.yml", &tests)
	if len(tests.RuleFiles) != 1 || tests.RuleFiles[0] != "rules.yml" {
		t.Errorf("rules_test.yml rule_files = %q, want [rules.yml]", tests.RuleFiles)
	}

	firing, quiet := map[string]int{}, map[string]int{}
	var exprs []string
	for _, tg := range tests.Tests {
		for _, at := range tg.AlertRuleTest {
			if len(at.ExpAlerts) > 0 {
				firing[at.Alertname]++
			} else {
				quiet[at.Alertname]++
			}
		}
		for _, et := range tg.PromQLExprTest {
			exprs = append(exprs, et.Expr)
		}
	}

	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			switch {
			case r.Alert != "":
				alerts[r.Alert] = true
				if firing[r.Alert] == 0 {
					t.Errorf("alert %s: no case in rules_test.yml where it fires (alert_rule_test with exp_alerts)", r.Alert)
				}
				if quiet[r.Alert] == 0 {
					t.Errorf("alert %s: no case in rules_test.yml where it does not fire (alert_rule_test with exp_alerts: [])", r.Alert)
				}
			case r.Record != "":
				if !usesName(exprs, r.Record) {
					t.Errorf("recording rule %s: no promql_expr_test in rules_test.yml queries it", r.Record)
				}
			}
		}
	}
	if len(alerts) == 0 {
		t.Fatal("rules.yml has no alert")
	}
	for name := range firing {
		if !alerts[name] {
			t.Errorf("rules_test.yml tests alert %s, which rules.yml does not define", name)
		}
	}
	for name := range quiet {
		if !alerts[name] {
			t.Errorf("rules_test.yml tests alert %s, which rules.yml does not define", name)
		}
	}
}

// usesName reports whether one of exprs contains the metric name as a whole
// name (not as the prefix of a longer one, as :p95 of :p950).
func usesName(exprs []string, name string) bool {
	re := regexp.MustCompile(`(^|[^a-zA-Z0-9_:])` + regexp.QuoteMeta(name) + `($|[^a-zA-Z0-9_:])`)
	for _, e := range exprs {
		if re.MatchString(e) {
			return true
		}
	}
	return false
}
