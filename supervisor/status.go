package supervisor

import (
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// Status is the supervisor's state as /status shows it. It holds no secrets:
// the broker URL is the redacted form.
type Status struct {
	Time         time.Time              `json:"time"`
	Broker       BrokerStatus           `json:"broker"`
	Queues       map[string]QueueStatus `json:"queues"`
	Host         *policy.HostUsage      `json:"host,omitempty"`
	Policy       PolicyStatus           `json:"policy"`
	Workers      []WorkerStatus         `json:"workers"`
	LastDecision DecisionStatus         `json:"last_decision"`
	// Efficiency is what the processes cost and did over the last
	// EfficiencyWindow.
	Efficiency   Efficiency    `json:"efficiency"`
	ShuttingDown bool          `json:"shutting_down"`
	AppHost      *AppHostState `json:"app_host,omitempty"`
	Engine       *EngineState  `json:"engine,omitempty"` // the pool engine's worker main
	Settings     []Setting     `json:"settings,omitempty"`
	// Group is this supervisor's queue group and its part of the host
	// budget; nil outside groups.
	Group *GroupStatus `json:"group,omitempty"`
	// Forecast is the learned floor (--predict forecast or on); nil when off.
	Forecast *ForecastStatus `json:"forecast,omitempty"`
	// Groups are the groups' own statuses when this one is a host's with
	// several (Host.Snapshot); the fields above are then their sum.
	Groups []Status `json:"groups,omitempty"`
}

// WorkersUp counts the workers that are up (idle or busy) and, of those,
// the busy ones.
func (st Status) WorkersUp() (up, busy int) {
	for _, w := range st.Workers {
		switch w.State {
		case policy.PhaseBusy:
			busy++
			up++
		case policy.PhaseIdle:
			up++
		}
	}
	return up, busy
}

// Setting is one effective setting and where its value came from: "flag",
// "env NAME", "app" (the app's own configuration), "default" or "auto".
type Setting struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// BrokerStatus tells whether the broker and its events can be read.
type BrokerStatus struct {
	URL      string    `json:"url"`
	Up       bool      `json:"up"`
	EventsUp bool      `json:"events_up"`
	LastGood time.Time `json:"last_good_read,omitzero"`
}

// QueueStatus is one queue's backlog.
type QueueStatus struct {
	Messages      int64   `json:"messages"`
	OldestAgeSecs float64 `json:"oldest_age_seconds"`
	AgeExact      bool    `json:"age_exact"`
}

// PolicyStatus is the policy configuration in force.
type PolicyStatus struct {
	Algorithm      policy.Algorithm `json:"algorithm"`
	Min            int              `json:"min"`
	Max            int              `json:"max"`
	MinNow         int              `json:"min_now"` // MIN and MAX after the schedules in force
	MaxNow         int              `json:"max_now"`
	Schedule       string           `json:"schedule,omitempty"`
	TasksPerWorker int              `json:"tasks_per_worker"`
	KeepaliveSecs  float64          `json:"keepalive_seconds"`
	Tolerance      float64          `json:"tolerance,omitempty"`
	TargetWaitSecs float64          `json:"target_wait_seconds,omitempty"`
	Guard          policy.Guard     `json:"guard"`
	Behavior       *policy.Behavior `json:"behavior,omitempty"`
}

// WorkerStatus is one supervised worker.
type WorkerStatus struct {
	Name         string       `json:"name"`
	Slot         int          `json:"slot"`
	PID          int          `json:"pid,omitempty"`
	State        policy.Phase `json:"state"`
	Received     int          `json:"received"`
	Running      int          `json:"running"`
	IdleSeconds  float64      `json:"idle_seconds,omitempty"`
	StartedAt    time.Time    `json:"started_at,omitzero"`
	Restarts     int          `json:"restarts"`
	Spawn        string       `json:"spawn,omitempty"`
	TaskID       string       `json:"task_id,omitempty"` // a pool process's running task
	Task         string       `json:"task,omitempty"`
	FailedStarts int          `json:"failed_starts,omitempty"`
	LastOutput   []string     `json:"last_output,omitempty"`
}

// DecisionStatus is the last decision of the policy.
type DecisionStatus struct {
	Demand  int64  `json:"demand"`
	Desired int    `json:"desired"`
	Unmet   int    `json:"unmet"`
	Reason  string `json:"reason"`
}

// record publishes one tick's outcome to the metrics and the status snapshot.
func (s *Supervisor) record(d policy.Decision, obs policy.Observation, views []policy.WorkerView, workers []Worker, now time.Time) {
	p := s.cfg.Policy
	s.lastDesired, s.lastBlocked = d.Desired, d.Blocked
	s.recordMetrics(d, obs, views, now)
	s.cost.tick(now, tallyCost(d, p.TasksPerWorker, views, workers))

	st := Status{
		Time:         now,
		Broker:       BrokerStatus{URL: s.cfg.BrokerURL, Up: s.brokerOK, EventsUp: s.eventsUp.Load(), LastGood: s.lastGoodAt},
		Queues:       make(map[string]QueueStatus, len(s.lastBacklog)),
		Policy:       policyStatus(p, now),
		LastDecision: DecisionStatus{Demand: d.Demand, Desired: d.Desired, Unmet: d.Unmet(p), Reason: d.Reason},
		Efficiency:   s.cost.efficiency(now),
		ShuttingDown: s.shuttingDown.Load(),
		Settings:     s.cfg.Settings,
	}
	if s.cfg.Group != "" {
		st.Group = &GroupStatus{Name: s.cfg.Group, HostMax: s.cfg.Budget.Max(now)}
		if a := s.lastAlloc; a != nil {
			st.Group.Share, st.Group.Limit, st.Group.Yield, st.Group.Capped, st.Group.Reason = a.Share, a.Limit, a.Yield, a.Capped, a.Reason
		}
	}
	if s.predict != nil {
		st.Forecast = s.predict.status()
	}
	if es, ok := s.pool.(EngineStater); ok {
		e := es.State()
		for i, line := range e.Main.LastOutput {
			e.Main.LastOutput[i] = s.cfg.Scrub(line)
		}
		st.Engine = &e
	}
	if hs, ok := s.pool.(HostStater); ok {
		if h := hs.HostState(); h.Enabled {
			h.ImportError = s.cfg.Scrub(h.ImportError)
			st.AppHost = &h
		}
	}
	for q, b := range s.lastBacklog {
		st.Queues[q] = QueueStatus{Messages: b.Depth, OldestAgeSecs: b.OldestAge.Seconds(), AgeExact: b.AgeExact}
	}
	if s.host.OK {
		host := s.host // a copy: the loop rewrites s.host while /status encodes st
		st.Host = &host
	}
	st.Workers = s.workerStatuses(views, workers, now)
	s.timeline.record(st, d)
	s.mu.Lock()
	s.status = st
	s.mu.Unlock()
	s.sd.publish(st)
}

// recordMetrics sets the gauges one decision moves.
func (s *Supervisor) recordMetrics(d policy.Decision, obs policy.Observation, views []policy.WorkerView, now time.Time) {
	s.m.desired.Set(float64(d.Desired))
	s.m.unmet.Set(float64(d.Unmet(s.cfg.Policy)))
	s.m.lastDecision.Set(float64(now.UnixNano()) / 1e9)
	counts := map[policy.Phase]int{}
	reserved, running := obs.Reserved, 0
	for _, v := range views {
		counts[v.Phase]++
		reserved += v.Received
		running += v.Running
	}
	s.m.tasksReserved.Set(float64(reserved))
	s.m.tasksRunning.Set(float64(running))
	for _, ph := range policy.Phases {
		s.m.workers.WithLabelValues(string(ph)).Set(float64(counts[ph]))
	}
}

// workerStatuses joins the policy's views with the pool's processes for
// /status; the output of a failed start is scrubbed of secrets.
func (s *Supervisor) workerStatuses(views []policy.WorkerView, workers []Worker, now time.Time) []WorkerStatus {
	out := make([]WorkerStatus, 0, len(views))
	for i, v := range views {
		w := workers[i]
		ws := WorkerStatus{
			Name: v.Name, Slot: v.Slot, PID: w.PID, State: v.Phase, Received: v.Received, Running: v.Running,
			StartedAt: w.StartedAt, Restarts: w.Restarts, FailedStarts: w.FailedStarts, Spawn: w.Spawn,
		}
		if w.Process != nil {
			ws.TaskID, ws.Task = w.Process.TaskID, w.Process.Task
		}
		if v.Phase == policy.PhaseIdle && !v.IdleSince.IsZero() {
			ws.IdleSeconds = now.Sub(v.IdleSince).Seconds()
		}
		if w.FailedStarts > 0 {
			for _, line := range w.LastOutput {
				ws.LastOutput = append(ws.LastOutput, s.cfg.Scrub(line))
			}
		}
		out = append(out, ws)
	}
	return out
}

func policyStatus(p policy.Config, now time.Time) PolicyStatus {
	lo, hi, spec := p.Bounds(now)
	alg := p.Algorithm
	if alg == "" {
		alg = policy.AlgorithmRevrx
	}
	return PolicyStatus{
		Algorithm: alg, Min: p.Min, Max: p.Max, MinNow: lo, MaxNow: hi, Schedule: spec,
		TasksPerWorker: p.TasksPerWorker, KeepaliveSecs: p.Keepalive.Seconds(), Tolerance: p.Tolerance,
		TargetWaitSecs: p.TargetWait.Seconds(), Guard: p.Guard, Behavior: p.Behavior,
	}
}

// Snapshot returns the last recorded status.
func (s *Supervisor) Snapshot() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.ShuttingDown = s.shuttingDown.Load()
	return st
}
