package emf

import (
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor"
)

func TestDocuments(t *testing.T) {
	st := supervisor.Status{
		Time:         time.UnixMilli(1764244800123).UTC(),
		Queues:       map[string]supervisor.QueueStatus{"reports": {Messages: 5, OldestAgeSecs: 2.5}, "emails": {Messages: 0}},
		Workers:      []supervisor.WorkerStatus{{Name: "w1", State: "busy"}, {Name: "w2", State: "idle"}, {Name: "w3", State: "starting"}},
		LastDecision: supervisor.DecisionStatus{Desired: 4, Unmet: 1},
	}
	want := []string{
		`{"DesiredWorkers":4,"OldestWaitSeconds":0,"Queue":"emails","QueueDepth":0,"RunningWorkers":2,"UnmetDemandWorkers":1,` +
			`"_aws":{"Timestamp":1764244800123,"CloudWatchMetrics":[` +
			`{"Namespace":"RevrxSupervise","Dimensions":[["Queue"]],"Metrics":[{"Name":"QueueDepth","Unit":"Count"},{"Name":"OldestWaitSeconds","Unit":"Seconds"}]},` +
			`{"Namespace":"RevrxSupervise","Dimensions":[[]],"Metrics":[{"Name":"DesiredWorkers","Unit":"Count"},{"Name":"RunningWorkers","Unit":"Count"},{"Name":"UnmetDemandWorkers","Unit":"Count"}]}]}}`,
		`{"OldestWaitSeconds":2.5,"Queue":"reports","QueueDepth":5,` +
			`"_aws":{"Timestamp":1764244800123,"CloudWatchMetrics":[` +
			`{"Namespace":"RevrxSupervise","Dimensions":[["Queue"]],"Metrics":[{"Name":"QueueDepth","Unit":"Count"},{"Name":"OldestWaitSeconds","Unit":"Seconds"}]}]}}`,
	}
	got, err := Documents(st, "RevrxSupervise")
	if err != nil {
		t.Fatalf("Documents() = %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("Documents() = %d lines, want %d:\n%s", len(got), len(want), got)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	none, _ := Documents(supervisor.Status{Time: st.Time}, "N")
	if len(none) != 1 || string(none[0]) != `{"DesiredWorkers":0,"RunningWorkers":0,"UnmetDemandWorkers":0,"_aws":{"Timestamp":1764244800123,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"DesiredWorkers","Unit":"Count"},{"Name":"RunningWorkers","Unit":"Count"},{"Name":"UnmetDemandWorkers","Unit":"Count"}]}]}}` {
		t.Errorf("no queue reading: %s", none)
	}
}

func TestDocumentsGroups(t *testing.T) {
	st := supervisor.Status{Time: time.UnixMilli(1764244800123).UTC(), Groups: []supervisor.Status{{
		Group:        &supervisor.GroupStatus{Name: "llm", Limit: 2},
		Workers:      []supervisor.WorkerStatus{{Name: "llm1@h#1", State: "busy"}, {Name: "llm1@h#2", State: "stopping"}},
		LastDecision: supervisor.DecisionStatus{Desired: 2, Unmet: 0},
	}}}
	got, err := Documents(st, "N")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"DesiredWorkers":2,"Group":"llm","LimitWorkers":2,"RunningWorkers":1,"UnmetDemandWorkers":0,"_aws":{"Timestamp":1764244800123,"CloudWatchMetrics":[` +
		`{"Namespace":"N","Dimensions":[["Group"]],"Metrics":[{"Name":"DesiredWorkers","Unit":"Count"},{"Name":"RunningWorkers","Unit":"Count"},{"Name":"UnmetDemandWorkers","Unit":"Count"},{"Name":"LimitWorkers","Unit":"Count"}]}]}}`
	if len(got) != 2 || string(got[1]) != want {
		t.Fatalf("Documents() = %s\nwant the host's then\n%s", got, want)
	}
}

func TestDocumentsForecast(t *testing.T) {
	group := supervisor.Status{Group: &supervisor.GroupStatus{Name: "llm", Limit: 2}, Forecast: &supervisor.ForecastStatus{Workers: 7}}
	st := supervisor.Status{Time: time.UnixMilli(1764244800123).UTC(), Forecast: &supervisor.ForecastStatus{Workers: 7},
		Groups: []supervisor.Status{group}}
	got, err := Documents(st, "N")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"DesiredWorkers":0,"ForecastWorkers":7,"RunningWorkers":0,"UnmetDemandWorkers":0,"_aws":{"Timestamp":1764244800123,"CloudWatchMetrics":[` +
			`{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"DesiredWorkers","Unit":"Count"},{"Name":"RunningWorkers","Unit":"Count"},{"Name":"UnmetDemandWorkers","Unit":"Count"},{"Name":"ForecastWorkers","Unit":"Count"}]}]}}`,
		`{"DesiredWorkers":0,"ForecastWorkers":7,"Group":"llm","LimitWorkers":2,"RunningWorkers":0,"UnmetDemandWorkers":0,"_aws":{"Timestamp":1764244800123,"CloudWatchMetrics":[` +
			`{"Namespace":"N","Dimensions":[["Group"]],"Metrics":[{"Name":"DesiredWorkers","Unit":"Count"},{"Name":"RunningWorkers","Unit":"Count"},{"Name":"UnmetDemandWorkers","Unit":"Count"},{"Name":"LimitWorkers","Unit":"Count"},{"Name":"ForecastWorkers","Unit":"Count"}]}]}}`,
	}
	if len(got) != len(want) {
		t.Fatalf("Documents() = %s, want %d lines", got, len(want))
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}
