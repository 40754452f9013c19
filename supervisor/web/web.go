package web

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/revrx/revrx-supervise/supervisor"
)

// Source is what the HTTP interface shows: the control loop's last
// snapshot, its history and its checks. *supervisor.Supervisor is one;
// every method must be safe to call from any goroutine.
type Source interface {
	// Snapshot is the last recorded status.
	Snapshot() supervisor.Status
	// Timeline is the chart's samples within the window before now (oldest
	// first) and the last decisions that changed something (newest first).
	Timeline(now time.Time) ([]supervisor.Sample, []supervisor.DecisionEvent)
	// Live is nil while the control loop ticks.
	Live() error
	// Ready is nil while this host should receive work.
	Ready() error
}

// Handler serves the read-only HTTP interface of src:
//
//	/metrics  Prometheus metrics gathered from g
//	/livez    200 while the control loop ticks (never depends on Redis)
//	/readyz   200 when the broker is readable and at least MIN workers are up
//	/status   the last Status as JSON (no secrets)
//	/         the HTML status page (page.go); other paths are 404
//
// A page that cannot be rendered is logged to log (nil: discarded).
func Handler(src Source, g prometheus.Gatherer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &server{src: src, log: log}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: nil}))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { writeCheck(w, src.Live()) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { writeCheck(w, src.Ready()) })
	mux.HandleFunc("GET /status", s.serveStatus)
	mux.HandleFunc("GET /{$}", s.servePage)
	return mux
}

// server answers the requests that read the snapshot.
type server struct {
	src Source
	log *slog.Logger
}

func writeCheck(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, err)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (s *server) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.src.Snapshot())
}
