package supervisor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// Handler serves the read-only HTTP interface:
//
//	/metrics  Prometheus metrics gathered from g
//	/livez    200 while the control loop ticks (never depends on Redis)
//	/readyz   200 when the broker is readable and at least MIN workers are up
//	/status   the last Status as JSON (no secrets)
//	/         the HTML status page (page.go); other paths are 404
func (s *Supervisor) Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: nil}))
	mux.HandleFunc("GET /livez", s.serveLive)
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.HandleFunc("GET /status", s.serveStatus)
	mux.HandleFunc("GET /{$}", s.servePage)
	return mux
}

// Live reports whether the control loop has ticked recently: within three
// poll intervals, and at least ten seconds to absorb a slow broker read.
func (s *Supervisor) Live(now time.Time) error {
	last := s.lastTick.Load()
	if last == 0 {
		return fmt.Errorf("control loop has not run yet")
	}
	limit := max(3*s.cfg.PollInterval, 10*time.Second)
	if age := now.Sub(time.Unix(0, last)); age > limit {
		return fmt.Errorf("control loop last ran %s ago (limit %s)", age.Round(time.Millisecond), limit)
	}
	return nil
}

// Ready reports whether this host should receive work: the broker answers,
// at least MIN workers (as a schedule sets it now) are up (idle or busy),
// none keeps failing to start, the app can be imported, and no shutdown is
// under way.
func (s *Supervisor) Ready() error {
	st := s.Snapshot()
	if st.ShuttingDown {
		return fmt.Errorf("shutting down")
	}
	if !st.Broker.Up {
		return fmt.Errorf("broker not reachable")
	}
	if h := st.AppHost; h != nil && h.ImportError != "" {
		return fmt.Errorf("app host: cannot import the app: %s", h.ImportError)
	}
	up := 0
	for _, w := range st.Workers {
		if w.FailedStarts >= 3 {
			return fmt.Errorf("worker %s keeps failing to start (%d in a row)", w.Name, w.FailedStarts)
		}
		if w.State == policy.PhaseIdle || w.State == policy.PhaseBusy {
			up++
		}
	}
	if up < st.Policy.MinNow {
		return fmt.Errorf("%d of min %d workers up", up, st.Policy.MinNow)
	}
	return nil
}

func (s *Supervisor) serveLive(w http.ResponseWriter, _ *http.Request) {
	writeCheck(w, s.Live(s.cfg.Now()))
}

func (s *Supervisor) serveReady(w http.ResponseWriter, _ *http.Request) {
	writeCheck(w, s.Ready())
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

func (s *Supervisor) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.Snapshot())
}
