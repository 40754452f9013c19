package supervisor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// workerCollector exports one revrx_worker_up and one revrx_worker_busy
// series per supervised worker, computed at scrape time from the last
// published status: a scrape never sees the set half-updated, and a gone
// worker's series go with it (at most MAX of each).
type workerCollector struct {
	s        *Supervisor
	up, busy *prometheus.Desc
}

func newWorkerCollector(s *Supervisor) *workerCollector {
	return &workerCollector{
		s: s,
		up: prometheus.NewDesc("revrx_worker_up",
			"1 while the worker is online (its events say so) and not leaving, 0 while it starts, stops or backs off.", []string{"worker"}, nil),
		busy: prometheus.NewDesc("revrx_worker_busy",
			"1 while the worker has tasks received or running.", []string{"worker"}, nil),
	}
}

func (c *workerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.busy
}

func (c *workerCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.Lock()
	workers := c.s.status.Workers
	c.s.mu.Unlock()
	for _, w := range workers {
		up := w.State == policy.PhaseIdle || w.State == policy.PhaseBusy
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, boolFloat(up), w.Name)
		ch <- prometheus.MustNewConstMetric(c.busy, prometheus.GaugeValue, boolFloat(w.Received+w.Running > 0), w.Name)
	}
}
