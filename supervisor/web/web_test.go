package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var _ Source = (*supervisor.Supervisor)(nil)

// t0 is the instant the fake snapshots are taken at.
var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fakeSource is a Source whose answers the test sets.
type fakeSource struct {
	status      supervisor.Status
	samples     []supervisor.Sample
	decisions   []supervisor.DecisionEvent
	live, ready error
}

func (f *fakeSource) Snapshot() supervisor.Status { return f.status }
func (f *fakeSource) Live() error                 { return f.live }
func (f *fakeSource) Ready() error                { return f.ready }

func (f *fakeSource) Timeline(time.Time) ([]supervisor.Sample, []supervisor.DecisionEvent) {
	return f.samples, f.decisions
}

// serve starts Handler(src, reg) and returns a GET of a path on it.
func serve(t *testing.T, src Source, reg prometheus.Gatherer) func(path string) (int, http.Header, string) {
	t.Helper()
	srv := httptest.NewServer(Handler(src, reg, nil))
	t.Cleanup(srv.Close)
	return func(path string) (int, http.Header, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
}

func TestHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "revrx_workers_desired", Help: "h"})
	g.Set(3)
	reg.MustRegister(g)
	src := &fakeSource{live: errors.New("control loop has not run yet"), ready: errors.New("0 of min 1 workers up")}
	get := serve(t, src, reg)

	for path, want := range map[string]string{"/livez": "control loop has not run yet\n", "/readyz": "0 of min 1 workers up\n"} {
		if code, hdr, body := get(path); code != http.StatusServiceUnavailable || body != want || hdr.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("GET %s failing = %d %q %q, want 503 %q as text/plain", path, code, hdr.Get("Content-Type"), body, want)
		}
	}
	src.live, src.ready = nil, nil
	for _, path := range []string{"/livez", "/readyz"} {
		if code, _, body := get(path); code != http.StatusOK || body != "ok\n" {
			t.Errorf("GET %s = %d %q, want 200 ok", path, code, body)
		}
	}

	src.status = supervisor.Status{Time: t0, Broker: supervisor.BrokerStatus{URL: "redis://:****@redis:6379/0", Up: true},
		Workers: []supervisor.WorkerStatus{{Name: "worker1@h", Slot: 1, State: policy.PhaseIdle}}}
	code, hdr, body := get("/status")
	var st supervisor.Status
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("/status = %d %q %v", code, hdr.Get("Content-Type"), err)
	}
	if len(st.Workers) != 1 || st.Workers[0].State != policy.PhaseIdle || st.Broker.URL != "redis://:****@redis:6379/0" {
		t.Errorf("/status = %+v", st)
	}
	if !strings.Contains(body, "\n  \"time\": ") {
		t.Errorf("/status is not indented by two spaces:\n%s", body)
	}
	if _, _, metrics := get("/metrics"); !strings.Contains(metrics, "revrx_workers_desired 3") {
		t.Errorf("/metrics lacks revrx_workers_desired 3:\n%s", metrics)
	}
	for _, path := range []string{"/index.html", "/nope", "/status/x", "/favicon.ico"} {
		if code, _, _ := get(path); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
}
