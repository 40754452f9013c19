package grafana

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// selector is one vector selector of a PromQL expression: a metric name and
// its label matchers.
type selector struct {
	Name     string
	Matchers map[string]string // label -> "op value", e.g. "=~ $instance"
}

// promql is Prometheus's own PromQL parser, with its default options.
var promql = parser.NewParser(parser.Options{})

// selectors substitutes the sample values for the $variables of a dashboard
// expression, parses it with Prometheus's PromQL parser and returns its
// vector selectors in order. A matcher whose value is a variable's sample
// value is given back as the variable ("=~ $instance").
func selectors(expr string) ([]selector, error) {
	sub, err := substitute(expr)
	if err != nil {
		return nil, err
	}
	ast, err := promql.ParseExpr(sub)
	if err != nil {
		return nil, fmt.Errorf("promql: %w", err)
	}
	var out []selector
	var errs []error
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name == "" {
			errs = append(errs, fmt.Errorf("selector %s has no metric name", vs))
			return nil
		}
		sel := selector{Name: vs.Name, Matchers: map[string]string{}}
		for _, m := range vs.LabelMatchers {
			if m.Name != labels.MetricName {
				sel.Matchers[m.Name] = m.Type.String() + " " + variableOf(m.Value)
			}
		}
		out = append(out, sel)
		return nil
	})
	return out, errors.Join(errs...)
}

// Sample values for the dashboard's variables and Grafana's built-in ones, so
// that an expression is PromQL that promtool and the parser accept. The job
// and instance values are ones no expression would hold literally, so that
// variableOf can tell them back.
var sampleValues = map[string]string{
	"job":             "sample-job",
	"instance":        "sample-host-1:9829|sample-host-2:9829",
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__range":         "1h",
}

// variableOf returns "$name" if value is the sample value of the job or
// instance variable, else value.
func variableOf(value string) string {
	for _, name := range []string{"job", "instance"} {
		if value == sampleValues[name] {
			return "$" + name
		}
	}
	return value
}

var variableRE = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)`)

// substitute replaces every $variable and ${variable} in expr by its sample
// value, and fails on a variable that has none (a misspelled one). A $ before
// a digit is a regular expression's group ("$1" of label_replace), as in
// Grafana.
func substitute(expr string) (string, error) {
	var unknown []string
	out := variableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRE.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		v, ok := sampleValues[name]
		if !ok {
			unknown = append(unknown, name)
			return m
		}
		return v
	})
	if unknown != nil {
		return "", fmt.Errorf("unknown variable(s) %v", unknown)
	}
	return out, nil
}

func TestSelectors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum by (state) (revrx_workers{instance=~"$instance"})`, []string{"revrx_workers"}},
		{`histogram_quantile(0.95, sum by (le) (rate(revrx_queue_wait_seconds_bucket{job="a,b}"}[5m])))`,
			[]string{"revrx_queue_wait_seconds_bucket"}},
		{`revrx:tasks_per_worker / on (instance) group_left max without (x) (revrx_tasks_per_worker_target)`,
			[]string{"revrx:tasks_per_worker", "revrx_tasks_per_worker_target"}},
		{`time() - max(up offset 1m) > bool 0 or vector(1)`, []string{"up"}},
		{"sum by (le)\n\t(rate(a_bucket[$__rate_interval])) * 1e-3 / on\t(x) b", []string{"a_bucket", "b"}},
		{`label_replace(go_info, "dst", "$1", "src", "(.*)") unless rate(process_cpu_seconds_total[1m:30s])`,
			[]string{"go_info", "process_cpu_seconds_total"}},
	} {
		sels, err := selectors(tc.expr)
		if err != nil {
			t.Errorf("selectors(%q): %v", tc.expr, err)
			continue
		}
		var got []string
		for _, s := range sels {
			got = append(got, s.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("selectors(%q) = %v, want %v", tc.expr, got, tc.want)
		}
	}
	sels, err := selectors(`revrx_workers{state=~"idle|busy", instance!="a,}b", job=~"$job"}`)
	if err != nil || len(sels) != 1 || sels[0].Matchers["state"] != "=~ idle|busy" ||
		sels[0].Matchers["instance"] != `!= a,}b` || sels[0].Matchers["job"] != "=~ $job" {
		t.Errorf("selectors matchers = %+v, %v", sels, err)
	}
}

// TestSelectorsReject shows that the parser fails on broken expressions, a
// selector without a metric name and a misspelled variable.
func TestSelectorsReject(t *testing.T) {
	for _, expr := range []string{
		`sum by (state) (revrx_workers{instance=~"$instance"}`, // unclosed (
		`sum(revrx_workers{state=~"idle}) `,                    // unclosed string
		`rate(revrx_tasks_started_total[5x])`,                  // bad duration
		`revrx_workers{state=~"idle"} +`,                       // no right operand
		`up unless process_cpu_seconds_total[1m]`,              // a range vector in a binary operation
		`sum by (state) ({job=~"$job"})`,                       // no metric name
		`rate(x{instance=~"$instnace"}[$__rate_interval])`,     // misspelled variable
	} {
		if sels, err := selectors(expr); err == nil {
			t.Errorf("selectors(%q) = %+v, nil error; want one", expr, sels)
		}
	}
}
