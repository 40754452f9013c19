package grafana

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

var revrxNameRE = regexp.MustCompile(`^revrx_[a-z0-9_]+$`)

// exportedNames returns the series names the supervisor exports: every
// revrx_* string literal in the non-test Go files of dir (the metric
// constructors in supervisor/metrics.go and its collectors), a histogram's as
// NAME_bucket, NAME_sum and NAME_count, plus the process_* and go_* series of
// client_golang's collectors, which cmd/revrx-supervise registers.
func exportedNames(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("exported names: %w", err)
	}
	fset := token.NewFileSet()
	names := map[string]bool{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			return nil, fmt.Errorf("exported names: %w", err)
		}
		collectNames(f, names)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("exported names: no revrx_ metric in %s", dir)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	families, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("exported names: %w", err)
	}
	for _, mf := range families {
		addSeries(names, mf.GetName(), metricKind(mf.GetType().String()))
	}
	return names, nil
}

// collectNames adds the revrx_* string literals of f to names, the name of a
// HistogramOpts or SummaryOpts literal with its series suffixes.
func collectNames(f *ast.File, names map[string]bool) {
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			sel, ok := n.Type.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			typ, ok := map[string]metricKind{"HistogramOpts": histogram, "SummaryOpts": summary}[sel.Sel.Name]
			if !ok {
				return true
			}
			if name := fieldString(n, "Name"); name != "" {
				addSeries(names, name, typ)
			}
			return false
		case *ast.BasicLit:
			if s, err := strconv.Unquote(n.Value); n.Kind == token.STRING && err == nil && revrxNameRE.MatchString(s) {
				names[s] = true
			}
		}
		return true
	})
}

// fieldString returns the string literal of field in a keyed composite literal.
func fieldString(lit *ast.CompositeLit, field string) string {
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		key, ok := kv.Key.(*ast.Ident)
		val, isLit := kv.Value.(*ast.BasicLit)
		if !ok || !isLit || key.Name != field {
			continue
		}
		if s, err := strconv.Unquote(val.Value); err == nil {
			return s
		}
	}
	return ""
}

// metricKind is a metric family's type as client_model names it.
type metricKind string

const (
	histogram metricKind = "HISTOGRAM"
	summary   metricKind = "SUMMARY"
)

// addSeries adds the series names a metric family of type typ exposes.
func addSeries(names map[string]bool, name string, typ metricKind) {
	switch typ {
	case histogram:
		names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
	case summary:
		names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
	default:
		names[name] = true
	}
}

func TestExportedNames(t *testing.T) {
	names, err := exportedNames("../../supervisor")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"revrx_workers_desired":              true,
		"revrx_task_runtime_seconds_bucket":  true,
		"revrx_task_runtime_seconds":         false, // a histogram has no series of its bare name
		"revrx_workers_desried":              false,
		"process_cpu_seconds_total":          true,
		"go_goroutines":                      true,
		"revrx_tasks_per_worker":             false, // renamed revrx_tasks_per_worker_target
		"revrx_worker_restarts_total_bucket": false,
	} {
		if names[name] != want {
			t.Errorf("exportedNames()[%q] = %v, want %v", name, names[name], want)
		}
	}
}
