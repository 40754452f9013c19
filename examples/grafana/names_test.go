package grafana

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/revrx/revrx-supervise/supervisor"
)

// exportedNames returns the series names the supervisor exports, gathered
// from a registry holding what its /metrics serves: every family a
// Supervisor registers (supervisor.RegisterSampleMetrics) and client_golang's
// Go and process collectors, which cmd/revrx-supervise registers beside it.
// A histogram's series are NAME_bucket, NAME_sum and NAME_count.
func exportedNames() (map[string]bool, error) {
	reg := prometheus.NewRegistry()
	if err := supervisor.RegisterSampleMetrics(reg); err != nil {
		return nil, fmt.Errorf("exported names: %w", err)
	}
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("exported names: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("exported names: %w", err)
	}
	families, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("exported names: %w", err)
	}
	names := map[string]bool{}
	for _, mf := range families {
		addSeries(names, mf.GetName(), mf.GetType())
	}
	return names, nil
}

// addSeries adds the series names a metric family of type typ exposes.
func addSeries(names map[string]bool, name string, typ dto.MetricType) {
	switch typ {
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
	case dto.MetricType_SUMMARY:
		names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
	default:
		names[name] = true
	}
}

func TestExportedNames(t *testing.T) {
	names, err := exportedNames()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"revrx_workers_desired":              true,
		"revrx_task_runtime_seconds_bucket":  true,
		"revrx_task_runtime_seconds":         false, // a histogram has no series of its bare name
		"revrx_workers_desried":              false,
		"revrx_worker_up":                    true, // per worker, at scrape time
		"revrx_build_info":                   true,
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
