package supervisor

import (
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// resourceInterval is how often host usage and worker memory are sampled:
// a /proc scan costs more than a Redis poll, and neither moves fast.
const resourceInterval = 5 * time.Second

// sampleResources reads the host's load and each worker's memory into the
// views and the metrics, at most every resourceInterval (the views reuse
// the last sample in between); without Resources the guard sees no valid
// reading.
func (s *Supervisor) sampleResources(workers []Worker, views []policy.WorkerView, now time.Time) {
	res := s.cfg.Resources
	if res == nil {
		return
	}
	if s.sampledAt.IsZero() || now.Sub(s.sampledAt) >= resourceInterval {
		s.sampledAt = now
		s.sample(res, workers)
	}
	for i, w := range workers {
		views[i].Memory = s.rss[w.PID]
	}
}

func (s *Supervisor) sample(res Resources, workers []Worker) {
	if u, err := res.Host(); err != nil {
		s.host = policy.HostUsage{}
		s.log.Debug("host usage", "err", err)
	} else {
		s.host = policy.HostUsage{CPU: u.CPU, Memory: u.Memory, OK: true}
		s.m.hostCPU.Set(u.CPU)
		s.m.hostMemory.Set(u.Memory)
	}
	pids := make([]int, 0, len(workers))
	for _, w := range workers {
		if w.PID != 0 {
			pids = append(pids, w.PID)
		}
	}
	rss, err := res.TreesRSS(pids)
	if err != nil {
		s.log.Debug("worker memory", "err", err)
	}
	s.rss = rss
	s.m.workerMemory.Reset()
	for _, w := range workers {
		if n, ok := rss[w.PID]; ok && w.PID != 0 {
			s.m.workerMemory.WithLabelValues(w.Name).Set(float64(n))
		}
	}
}
