package grafana

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// selector is one vector selector of a PromQL expression: a metric name and
// its label matchers.
type selector struct {
	Name     string
	Matchers map[string]string // label -> "op value", e.g. "=~ $instance"
}

// promqlWords are the identifiers of PromQL that are not metric names when
// not followed by "(": aggregations (before "by"/"without"), binary operators
// and modifiers.
var promqlWords = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
	"group_left": true, "group_right": true, "inf": true, "nan": true,
}

// labelLists are the keywords followed by a parenthesised list of label names.
var labelLists = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

var matcherRE = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$`)

// selectors returns the vector selectors of a PromQL expression. It is not a
// parser (promtool checks the syntax): it skips strings, ranges, numbers,
// durations, function names and label lists, and takes every other
// identifier for a metric name.
func selectors(expr string) ([]selector, error) {
	var out []selector
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '[':
			end := strings.IndexByte(expr[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ at %d", i)
			}
			i += end + 1
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case c == '{':
			return nil, fmt.Errorf("selector without a metric name at %d", i)
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			k := len(expr) - len(strings.TrimLeft(expr[j:], " \t\n"))
			next := byte(0)
			if k < len(expr) {
				next = expr[k]
			}
			switch {
			case labelLists[word] && next == '(':
				end := strings.IndexByte(expr[k:], ')')
				if end < 0 {
					return nil, fmt.Errorf("unclosed label list after %s", word)
				}
				i = k + end + 1
			case next == '(' || promqlWords[word]:
				i = j
			default:
				sel, end, err := readSelector(expr, word, k)
				if err != nil {
					return nil, err
				}
				out = append(out, sel)
				i = end
			}
		default:
			i++
		}
	}
	return out, nil
}

// readSelector reads the matchers of metric name, if a "{" is at i, and
// returns the selector and where it ends.
func readSelector(expr, name string, i int) (selector, int, error) {
	sel := selector{Name: name, Matchers: map[string]string{}}
	if i >= len(expr) || expr[i] != '{' {
		return sel, i, nil
	}
	start := i + 1
	var parts []string
	for i = start; i < len(expr) && expr[i] != '}'; {
		switch expr[i] {
		case '"':
			end, err := skipString(expr, i)
			if err != nil {
				return sel, 0, err
			}
			i = end
		case ',':
			parts = append(parts, expr[start:i])
			i++
			start = i
		default:
			i++
		}
	}
	if i >= len(expr) {
		return sel, 0, fmt.Errorf("unclosed { after %s", name)
	}
	parts = append(parts, expr[start:i])
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			continue
		}
		m := matcherRE.FindStringSubmatch(p)
		if m == nil {
			return sel, 0, fmt.Errorf("%s: matcher %q", name, p)
		}
		sel.Matchers[m[1]] = m[2] + " " + m[3]
	}
	return sel, i + 1, nil
}

// skipString returns the index after the string literal starting at i.
func skipString(s string, i int) (int, error) {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++
		case s[j] == quote:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unclosed string at %d", i)
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// Sample values for the dashboard's variables and Grafana's built-in ones, so
// that an expression is PromQL that promtool can parse.
var sampleValues = map[string]string{
	"job":             "revrx-supervise",
	"instance":        "host-1:9829|host-2:9829",
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__range":         "1h",
}

var variableRE = regexp.MustCompile(`\$\{([a-zA-Z0-9_]+)(?::[a-z]+)?\}|\$([a-zA-Z0-9_]+)`)

// substitute replaces every $variable and ${variable} in expr by its sample
// value, and fails on a variable that has none (a misspelled one).
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
		{"sum by (le)\n\t(rate(a_bucket[5m])) * 1e-3 / on\t(x) b", []string{"a_bucket", "b"}},
		{`label_replace(go_info, "dst", "$1", "src", "(.*)") unless process_cpu_seconds_total[1m:30s]`,
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
	sels, err := selectors(`revrx_workers{state=~"idle|busy", instance!="a,}b"}`)
	if err != nil || len(sels) != 1 || sels[0].Matchers["state"] != "=~ idle|busy" || sels[0].Matchers["instance"] != `!= a,}b` {
		t.Errorf("selectors matchers = %+v, %v", sels, err)
	}
	if _, err := substitute(`rate(x{instance=~"$instnace"}[$__rate_interval])`); err == nil {
		t.Error("substitute with a misspelled variable = nil error, want one")
	}
}
