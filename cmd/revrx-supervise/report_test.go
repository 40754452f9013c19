package main

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name    string
		q       float64
		buckets []bucket
		want    float64
	}{
		{"p50 at a bound", 0.5, []bucket{{0.5, 50}, {1, 50}, {2.5, 95}, {inf, 100}}, 0.5},
		{"p95 at a bound", 0.95, []bucket{{0.5, 50}, {1, 50}, {2.5, 95}, {inf, 100}}, 2.5},
		{"interpolated within a bucket", 0.95, []bucket{{30, 0}, {60, 10}, {inf, 10}}, 58.5},
		{"from 0 in the first bucket", 0.5, []bucket{{2, 10}, {inf, 10}}, 1},
		{"in +Inf: the highest finite bound", 0.5, []bucket{{1, 0}, {5, 1}, {inf, 4}}, 5},
		{"a first bound at 0", 0.25, []bucket{{0, 5}, {1, 10}, {inf, 10}}, 0},
		{"in any order", 0.5, []bucket{{inf, 10}, {4, 10}, {2, 0}}, 3},
		{"no observation", 0.5, []bucket{{1, 0}, {inf, 0}}, math.NaN()},
		{"no +Inf bucket", 0.5, []bucket{{1, 3}, {2, 4}}, math.NaN()},
		{"nothing", 0.5, nil, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := quantile(tc.q, tc.buckets)
			if got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
				t.Errorf("quantile(%v, %v) = %v, want %v", tc.q, tc.buckets, got, tc.want)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		got, want string
	}{
		{num(0), "0"}, {num(0.04), "0.0"}, {num(9.94), "9.9"}, {num(9.96), "10"}, {num(1234.5), "1234"}, {num(nan), "-"},
		{count(3), "3"}, {count(0), "0"},
		{percent(0.254), "25 %"}, {percent(1), "100 %"}, {percent(nan), "-"},
		{secs(0.034), "0.03 s"}, {secs(1.25), "1.2 s"}, {secs(120), "120 s"}, {secs(nan), "-"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// groupsExposition is /metrics of a host with two queue groups: video ran
// 10 tasks and measured its start-up lead, audio ran none.
const groupsExposition = `# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.7960904e+09
# TYPE revrx_process_seconds_total counter
revrx_process_seconds_total{group="audio",state="busy"} 0
revrx_process_seconds_total{group="audio",state="idle"} 30
revrx_process_seconds_total{group="audio",state="starting"} 1
revrx_process_seconds_total{group="video",state="busy"} 60
revrx_process_seconds_total{group="video",state="idle"} 36
revrx_process_seconds_total{group="video",state="starting"} 4
# TYPE revrx_tasks_completed_total counter
revrx_tasks_completed_total{group="video",outcome="succeeded"} 8
revrx_tasks_completed_total{group="video",outcome="failed"} 2
revrx_tasks_completed_total{group="audio",outcome="succeeded"} 0
# TYPE revrx_held_process_seconds_total counter
revrx_held_process_seconds_total{by="forecast",group="video"} 20
revrx_held_process_seconds_total{by="keepalive",group="video"} 12
revrx_held_process_seconds_total{by="min",group="audio"} 30
# TYPE revrx_held_processes_used_total counter
revrx_held_processes_used_total{by="forecast",group="video"} 3
revrx_held_processes_used_total{by="keepalive",group="video"} 1
# TYPE revrx_startup_lead_seconds gauge
revrx_startup_lead_seconds{group="video"} 1.5
# TYPE revrx_queue_wait_seconds histogram
revrx_queue_wait_seconds_bucket{group="video",queue="hd",le="1"} 3
revrx_queue_wait_seconds_bucket{group="video",queue="hd",le="2"} 4
revrx_queue_wait_seconds_bucket{group="video",queue="hd",le="+Inf"} 4
revrx_queue_wait_seconds_sum{group="video",queue="hd"} 4
revrx_queue_wait_seconds_count{group="video",queue="hd"} 4
revrx_queue_wait_seconds_bucket{group="video",queue="sd",le="1"} 3
revrx_queue_wait_seconds_bucket{group="video",queue="sd",le="2"} 6
revrx_queue_wait_seconds_bucket{group="video",queue="sd",le="+Inf"} 6
revrx_queue_wait_seconds_sum{group="video",queue="sd"} 8
revrx_queue_wait_seconds_count{group="video",queue="sd"} 6
`

// parseExposition returns the costs of a /metrics text.
func parseExposition(t *testing.T, text string) (costReport, error) {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return readCosts(fams)
}

// TestReadCosts: the figures of each group, every queue's waits summed
// into one histogram (+Inf once), the start from the process collector.
func TestReadCosts(t *testing.T) {
	r, err := parseExposition(t, groupsExposition)
	if err != nil {
		t.Fatalf("readCosts() = %v", err)
	}
	if want := time.Unix(1796090400, 0); !r.Started.Equal(want) {
		t.Errorf("Started = %v, want %v", r.Started, want)
	}
	inf := math.Inf(1)
	want := []groupCost{
		{Group: "audio", Idle: 30, Starting: 1, Held: map[string]float64{"min": 30}, Used: map[string]float64{}},
		{Group: "video", Tasks: 10, Busy: 60, Idle: 36, Starting: 4, Lead: 1.5,
			Held: map[string]float64{"forecast": 20, "keepalive": 12}, Used: map[string]float64{"forecast": 3, "keepalive": 1},
			Wait: []bucket{{1, 6}, {2, 10}, {inf, 10}}},
	}
	if !reflect.DeepEqual(r.Groups, want) {
		t.Errorf("readCosts() groups = %+v, want %+v", r.Groups, want)
	}
	if g := r.Groups[1]; g.perTask() != 10 || g.idleShare() != 0.36 || quantile(0.5, g.Wait) != 5.0/6 {
		t.Errorf("video: %v s per task, idle share %v, wait p50 %v; want 10, 0.36, 5/6 (rank 5 of the 6 below 1 s)", g.perTask(), g.idleShare(), quantile(0.5, g.Wait))
	}
	if g := r.Groups[0]; !math.IsNaN(g.perTask()) {
		t.Errorf("audio, no task: %v s per task, want NaN", g.perTask())
	}
	if _, err := parseExposition(t, "# TYPE revrx_workers gauge\nrevrx_workers 1\n"); err != errNoCostMetrics {
		t.Errorf("readCosts(an older supervisor's) = %v, want errNoCostMetrics", err)
	}
}

// TestPrintCosts: with groups, a row and held lines per group and the
// saved wait where the lead is known; without, no group column and the
// note that the saved wait is not estimated.
func TestPrintCosts(t *testing.T) {
	for _, tc := range []struct {
		name, exposition string
		want             []string
		notWant          string
	}{
		{"groups", groupsExposition, []string{
			"revrx-supervise at h:9829: figures since it started at ", " (1h30m0s ago); the status page shows the last hour.\n",
			"GROUP  TASKS  BUSY s  IDLE s  STARTING s  IDLE SHARE  s PER TASK  WAIT p50  WAIT p95\n",
			"audio  0      0       30      1.0         97 %        -           -         -\n",
			"video  10     60      36      4.0         36 %        10          0.83 s    1.9 s\n",
			"audio  min: held 30 process-seconds\n",
			"audio  forecast: held 0 process-seconds\n",
			"video  forecast: held 20 process-seconds, 3 put to work by a rise in demand\n",
			"video  keepalive: held 12 process-seconds, 1 put to work by a rise in demand\n",
			"video  wait saved: at most 6.0 s (4 put to work x 1.5 s start-up lead)\n",
			"Wait saved: each held process a rise in demand put to work spared one task",
		}, "audio  wait saved"},
		{"no groups, no start time, no lead", "# TYPE revrx_process_seconds_total counter\nrevrx_process_seconds_total{state=\"idle\"} 12\n", []string{
			"figures since it started; the status page shows the last hour",
			"\nTASKS  BUSY s  IDLE s  STARTING s  IDLE SHARE  s PER TASK  WAIT p50  WAIT p95\n0      0       12      0           100 %       -           -         -\n",
			"\nkeepalive: held 0 process-seconds\n",
			"The wait the held processes saved is not estimated",
		}, "wait saved: at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseExposition(t, tc.exposition)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := printCosts(&b, "h:9829", r, r.Started.Add(90*time.Minute)); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("printCosts() lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, tc.notWant) {
				t.Errorf("printCosts() has %q:\n%s", tc.notWant, out)
			}
		})
	}
}

// TestReportCommand: report against /metrics answers, and its failures.
func TestReportCommand(t *testing.T) {
	serve := func(code int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/metrics" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(code)
			w.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	ok, old, broken := serve(200, groupsExposition), serve(200, "# TYPE revrx_workers gauge\nrevrx_workers 1\n"), serve(500, "oops")
	for _, tc := range []struct {
		name           string
		args           []string
		want           int
		inOut, inError string
	}{
		{"groups", []string{"report", "--addr", ok}, 0, "\nvideo  10     60", ""},
		{"an older supervisor", []string{"report", "--addr", old}, 1, "", "no revrx_process_seconds_total in /metrics"},
		{"an error answer", []string{"report", "--addr", broken}, 1, "", "/metrics: 500 oops"},
		{"nothing listening", []string{"report", "--addr", "127.0.0.1:1"}, 1, "", "connection refused"},
		{"bad address", []string{"report", "--addr", "bad addr"}, 2, "", "accepted: HOST:PORT"},
		{"unknown flag", []string{"report", "--nope"}, 2, "", "flag provided but not defined"},
		{"stray argument", []string{"report", ok}, 2, "", "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(tc.args...)
			if code != tc.want || !strings.Contains(out, tc.inOut) || !strings.Contains(errOut, tc.inError) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q in stdout, %q in stderr", code, out, errOut, tc.want, tc.inOut, tc.inError)
			}
		})
	}
}
