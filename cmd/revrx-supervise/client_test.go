package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// fakeSupervisor answers /status, /readyz and /livez as a supervisor does.
func fakeSupervisor(t *testing.T, ready bool) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"broker":{"url":"redis://127.0.0.1:6380/0","up":true,"events_up":true},
			"queues":{"reports":{"messages":7,"oldest_age_seconds":2.5}},
			"policy":{"algorithm":"revrx","min":1,"max":4,"min_now":1,"max_now":4,"tasks_per_worker":1,"keepalive_seconds":30},
			"workers":[{"name":"worker1@h","slot":1,"pid":42,"state":"busy","received":1,"running":1,"restarts":0,"spawn":"fork"}],
			"last_decision":{"demand":9,"desired":4,"unmet":5,"reason":"7 waiting -> 4 by queue (max 4)"}}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready {
			http.Error(w, "app host: cannot import the app", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /livez", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = realMain(append([]string{"revrx-supervise"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestStatusCommand(t *testing.T) {
	addr := fakeSupervisor(t, true)
	code, out, errOut := runCLI("status", "--addr", addr)
	if code != 0 {
		t.Fatalf("status exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"worker1@h", "busy", "reports", "7 waiting -> 4 by queue (max 4)", "min 1 max 4", "events up"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI("status", "--addr", addr, "--json")
	if code != 0 || !strings.Contains(out, `"name": "worker1@h"`) {
		t.Fatalf("status --json exit %d:\n%s", code, out)
	}
}

func TestHealthcheckCommand(t *testing.T) {
	ready, notReady := fakeSupervisor(t, true), fakeSupervisor(t, false)
	for _, tc := range []struct {
		name     string
		args     []string
		want     int
		inStderr string
	}{
		{"ready", []string{"healthcheck", "--addr", ready}, 0, ""},
		{"not ready", []string{"healthcheck", "--addr", notReady}, 1, "503 app host: cannot import the app"},
		{"not ready but live", []string{"healthcheck", "--addr", notReady, "--live"}, 0, ""},
		{"nothing listening", []string{"healthcheck", "--addr", "127.0.0.1:1"}, 1, "connection refused"},
		{"bad address", []string{"healthcheck", "--addr", "bad addr"}, 2, "accepted: HOST:PORT"},
		{"unknown flag", []string{"healthcheck", "--nope"}, 2, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(tc.args...)
			if code != tc.want || !strings.Contains(errOut, tc.inStderr) {
				t.Fatalf("exit %d stderr %q, want %d and %q", code, errOut, tc.want, tc.inStderr)
			}
		})
	}
}

// TestPrintStatusGroups: a host with queue groups gets a table of them.
func TestPrintStatusGroups(t *testing.T) {
	st := supervisor.Status{Groups: []supervisor.Status{{
		Queues:  map[string]supervisor.QueueStatus{"llm": {}},
		Policy:  supervisor.PolicyStatus{MinNow: 0, MaxNow: 2},
		Group:   &supervisor.GroupStatus{Name: "llm", Share: 2, Limit: 2, Capped: true},
		Engine:  &supervisor.EngineState{Main: supervisor.EngineMain{Name: "llm1@h", PID: 42, State: supervisor.WorkerRunning}},
		Workers: []supervisor.WorkerStatus{{Name: "llm1@h#1", State: policy.PhaseBusy}, {Name: "llm1@h#2", State: policy.PhaseBusy}},
	}}}
	var b bytes.Buffer
	if err := printStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^llm\s+llm\s+0-2\s+2\s+2\s+2\s+2 \(capped\)\s+llm1@h pid 42 running$`)
	if !want.MatchString(b.String()) {
		t.Errorf("no group row like %s in\n%s", want, b.String())
	}
}

// TestPrintStatusForecast: the learned floor gets a line, saying whether
// it forecasts yet.
func TestPrintStatusForecast(t *testing.T) {
	for _, tc := range []struct {
		f    supervisor.ForecastStatus
		want string
	}{
		{supervisor.ForecastStatus{Mode: supervisor.PredictOn, PeriodSeconds: 86400, Ready: true, Workers: 6, LeadSeconds: 1.4, LeadMeasured: true},
			`forecast\s+on\s+6 processes within the lead \(period 24h0m0s\); lead 1\.40s`},
		{supervisor.ForecastStatus{Mode: supervisor.PredictForecast, PeriodSeconds: 600, LearningSince: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC), LeadSeconds: 2},
			`forecast\s+forecast\s+learning since 2026-12-02T09:00:00Z \(period 10m0s\), nothing forecast yet; lead 2\.00s \(assumed until a start-up is seen\)`},
	} {
		var b bytes.Buffer
		if err := printStatus(&b, supervisor.Status{Forecast: &tc.f}); err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(tc.want).MatchString(b.String()) {
			t.Errorf("no line like %s in\n%s", tc.want, b.String())
		}
	}
}
