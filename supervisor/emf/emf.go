// Package emf writes the supervisor's status as CloudWatch Embedded Metric
// Format (EMF) JSON lines, for ECS tasks whose awslogs driver turns them
// into CloudWatch metrics without an agent:
//
//	go emf.Run(ctx, emf.Config{Interval: time.Minute, Namespace: "RevrxSupervise", Out: os.Stdout}, sup.Snapshot, log)
//
// Documents renders one snapshot; Run writes them at an interval and never
// lets a slow stdout hold anything else.
package emf

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/revrx/revrx-supervise/supervisor"
)

// Documents renders st as CloudWatch Embedded Metric Format documents, one JSON
// line each (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
// one per queue, in name order, with QueueDepth (Count) and
// OldestWaitSeconds (Seconds) under the dimension Queue; the first also
// carries the pool-wide DesiredWorkers, RunningWorkers (idle or busy) and
// UnmetDemandWorkers (Count) under no dimension, and ForecastWorkers (Count)
// with --predict forecast or on. With no queue reading yet
// there is one document with the pool-wide metrics only. A host with queue
// groups adds one document per group (groupDocuments).
func Documents(st supervisor.Status, namespace string) ([][]byte, error) {
	queues := make([]string, 0, len(st.Queues))
	for q := range st.Queues {
		queues = append(queues, q)
	}
	slices.Sort(queues)
	if len(queues) == 0 {
		queues = []string{""}
	}
	up, _ := st.WorkersUp()
	var lines [][]byte
	for i, q := range queues {
		doc := map[string]any{}
		var directives []emfDirective
		if q != "" {
			qs := st.Queues[q]
			doc["Queue"], doc["QueueDepth"], doc["OldestWaitSeconds"] = q, qs.Messages, qs.OldestAgeSecs
			directives = append(directives, emfDirective{Namespace: namespace, Dimensions: [][]string{{"Queue"}},
				Metrics: []emfMetric{{"QueueDepth", "Count"}, {"OldestWaitSeconds", "Seconds"}}})
		}
		if i == 0 {
			doc["DesiredWorkers"], doc["RunningWorkers"], doc["UnmetDemandWorkers"] = st.LastDecision.Desired, up, st.LastDecision.Unmet
			metrics := []emfMetric{{"DesiredWorkers", "Count"}, {"RunningWorkers", "Count"}, {"UnmetDemandWorkers", "Count"}}
			if st.Forecast != nil {
				doc["ForecastWorkers"] = st.Forecast.Workers
				metrics = append(metrics, emfMetric{"ForecastWorkers", "Count"})
			}
			directives = append(directives, emfDirective{Namespace: namespace, Dimensions: [][]string{{}}, Metrics: metrics})
		}
		doc["_aws"] = emfMetadata{Timestamp: st.Time.UnixMilli(), CloudWatchMetrics: directives}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("emf: %w", err)
		}
		lines = append(lines, b)
	}
	groups, err := groupDocuments(st, namespace)
	return append(lines, groups...), err
}

// groupDocuments renders one document per queue group of a host with
// several, in their order, under the dimension Group: DesiredWorkers,
// RunningWorkers (idle or busy), UnmetDemandWorkers, LimitWorkers (its
// part of the host budget now) and, with --predict, ForecastWorkers, all
// Count.
func groupDocuments(st supervisor.Status, namespace string) ([][]byte, error) {
	var lines [][]byte
	for _, g := range st.Groups {
		if g.Group == nil {
			continue
		}
		up, _ := g.WorkersUp()
		metrics := []emfMetric{{"DesiredWorkers", "Count"}, {"RunningWorkers", "Count"}, {"UnmetDemandWorkers", "Count"}, {"LimitWorkers", "Count"}}
		doc := map[string]any{
			"Group": g.Group.Name, "DesiredWorkers": g.LastDecision.Desired, "RunningWorkers": up,
			"UnmetDemandWorkers": g.LastDecision.Unmet, "LimitWorkers": g.Group.Limit,
		}
		if g.Forecast != nil {
			doc["ForecastWorkers"] = g.Forecast.Workers
			metrics = append(metrics, emfMetric{"ForecastWorkers", "Count"})
		}
		doc["_aws"] = emfMetadata{Timestamp: st.Time.UnixMilli(), CloudWatchMetrics: []emfDirective{{
			Namespace: namespace, Dimensions: [][]string{{"Group"}}, Metrics: metrics}}}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("emf: %w", err)
		}
		lines = append(lines, b)
	}
	return lines, nil
}

// emfMetadata is the _aws member of an EMF document.
type emfMetadata struct {
	Timestamp         int64          `json:"Timestamp"` // milliseconds since the epoch
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}
