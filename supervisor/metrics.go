package supervisor

import (
	"fmt"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revrx/revrx-supervise/supervisor/events"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// metrics are the supervisor's Prometheus series. Every name is part of the
// product's interface (docs/metrics.md); change them only with that page.
type metrics struct {
	queueMessages  *prometheus.GaugeVec
	workers        *prometheus.GaugeVec
	desired        prometheus.Gauge
	min, max       prometheus.Gauge
	tasksPerWorker prometheus.Gauge
	unmet          prometheus.Gauge
	scalingEvents  *prometheus.CounterVec
	restarts       *prometheus.CounterVec
	brokerUp       prometheus.Gauge
	brokerErrors   prometheus.Counter
	eventsUp       prometheus.Gauge
	queueWatchUp   prometheus.Gauge
	tasksCompleted *prometheus.CounterVec
	taskRuntime    prometheus.Histogram
	lastDecision   prometheus.Gauge
	oldestAge      *prometheus.GaugeVec
	hostCPU        prometheus.Gauge
	hostMemory     prometheus.Gauge
	workerMemory   *prometheus.GaugeVec
	scalingBlocked *prometheus.CounterVec

	tasksReceived prometheus.Counter
	tasksStarted  prometheus.Counter
	tasksReserved prometheus.Gauge
	tasksRunning  prometheus.Gauge
	queueWait     *prometheus.HistogramVec

	tasksRestored    prometheus.Counter
	tasksQuarantined prometheus.Counter
	tasksDied        prometheus.Counter
	consumerTimeouts prometheus.Counter
	processLosses    prometheus.Counter
	workerStalls     prometheus.Counter

	cost *costMetrics
}

// newMetrics creates the series and registers them on reg; every labelled
// series that can appear exists from the start at 0.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queueMessages: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "revrx_queue_messages",
			Help: "Messages waiting in the broker per queue, priority sub-lists and key prefix included (last good reading).",
		}, []string{"queue"}),
		workers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "revrx_workers",
			Help: "Supervised Celery worker processes by state (starting, idle, busy, draining, stopping, backoff).",
		}, []string{"state"}),
		desired: gauge("revrx_workers_desired", "Workers the policy wants, within the autoscale bounds."),
		min:     gauge("revrx_workers_min", "Lower autoscale bound (MIN)."),
		max:     gauge("revrx_workers_max", "Upper autoscale bound (MAX)."),
		tasksPerWorker: gauge("revrx_tasks_per_worker_target",
			"The policy's target demand (waiting + reserved + running tasks) per worker; the load per worker is the recording rule revrx:tasks_per_worker."),
		unmet: gauge("revrx_unmet_demand_workers",
			"Workers the demand asks for above MAX on this host: the signal for an outer HPA/KEDA to add hosts."),
		scalingEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "revrx_scaling_events_total",
			Help: "Workers started (direction=up) or warm-stopped (direction=down) by the policy, by reason.",
		}, []string{"direction", "reason"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "revrx_worker_restarts_total",
			Help: "Unexpected worker exits scheduled for restart, by reason (crashed, exited, failed_start).",
		}, []string{"reason"}),
	}
	m.healthMetrics()
	m.taskMetrics()
	for _, c := range []prometheus.Collector{
		m.tasksReceived, m.tasksStarted, m.tasksReserved, m.tasksRunning, m.queueWait,
		m.workerStalls, m.tasksRestored, m.tasksQuarantined, m.tasksDied, m.consumerTimeouts, m.processLosses,
		m.queueMessages, m.workers, m.desired, m.min, m.max, m.tasksPerWorker, m.unmet,
		m.scalingEvents, m.restarts, m.brokerUp, m.brokerErrors, m.eventsUp, m.queueWatchUp,
		m.tasksCompleted, m.taskRuntime, m.lastDecision,
		m.oldestAge, m.hostCPU, m.hostMemory, m.workerMemory, m.scalingBlocked,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	m.zeroes()
	return m, nil
}

func gauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

// healthMetrics creates the series about the broker, the events, tasks
// finished, resources and the decisions.
func (m *metrics) healthMetrics() {
	m.brokerUp = gauge("revrx_broker_up", "1 if the last queue depth read from the broker succeeded, else 0.")
	m.brokerErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "revrx_broker_errors_total", Help: "Failed queue depth reads from the broker."})
	m.eventsUp = gauge("revrx_events_up", "1 while subscribed to the workers' task events, else 0 (events may have been missed).")
	m.queueWatchUp = gauge("revrx_queue_watch_up",
		"1 while subscribed to change notifications for the queues (a new message is read at once), else 0 (read every poll interval).")
	m.tasksCompleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "revrx_tasks_completed_total",
		Help: "Tasks finished on supervised workers, from their task events, by outcome (succeeded, failed, revoked, rejected, retried).",
	}, []string{"outcome"})
	m.taskRuntime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "revrx_task_runtime_seconds",
		Help:    "Runtime of tasks finished on supervised workers, from their task events.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
	})
	m.lastDecision = gauge("revrx_last_decision_timestamp_seconds", "Unix time of the last policy decision (liveness of the loop).")
	m.oldestAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "revrx_queue_oldest_message_age_seconds",
		Help: "Age of the oldest due message waiting per queue: exact when producers stamp a published_at header, " +
			"otherwise a lower bound (since the supervisor first saw it at the tail of a list).",
	}, []string{"queue"})
	m.hostCPU = gauge("revrx_host_cpu_ratio", "Host CPU busy ratio over all cores (or of the cgroup quota), 0..1.")
	m.hostMemory = gauge("revrx_host_memory_ratio", "Host memory used ratio (or the cgroup working set over its limit), 0..1.")
	m.workerMemory = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "revrx_worker_memory_bytes",
		Help: "Resident memory of each worker's process tree (main process and pool children).",
	}, []string{"worker"})
	m.scalingBlocked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "revrx_scaling_blocked_total",
		Help: "Decisions whose scale-up was held back, by reason (cpu, memory, behavior, stopping: leaving workers still count against max).",
	}, []string{"reason"})
	m.tasksRestored = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "revrx_tasks_restored_total",
		Help: "Messages a gone worker held, put back on their queues by the supervisor (redelivered).",
	})
	m.tasksQuarantined = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "revrx_tasks_quarantined_total",
		Help: "Messages moved to their queue's quarantine list (QUEUE.quarantine): in flight at two worker deaths, running in two pool processes that died, or undecodable.",
	})
	m.processLosses = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "revrx_pool_process_losses_total",
		Help: "Pool processes that died while running a task (OOM killer, SIGKILL, a crash); Celery fails or requeues the task (WorkerLostError).",
	})
	m.tasksDied = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "revrx_tasks_died_total",
		Help: "Tasks running when their worker died in an app that acks on receipt: Celery cannot redeliver them.",
	})
	m.consumerTimeouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "revrx_consumer_timeouts_total",
		Help: "Workers whose channel RabbitMQ closed because a message stayed unacknowledged past its consumer_timeout: the broker requeues it, so its task runs again.",
	})
	m.workerStalls = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "revrx_worker_stalls_total",
		Help: "Workers restarted because they stayed idle while messages waited in their queues (--stall-timeout).",
	})
}

// taskMetrics creates the series about tasks and what gone workers held.
func (m *metrics) taskMetrics() {
	m.tasksReceived = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "revrx_tasks_received_total", Help: "Tasks the supervised workers received (task-received events).",
	})
	m.tasksStarted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "revrx_tasks_started_total", Help: "Tasks the supervised workers started (task-started events).",
	})
	m.tasksReserved = gauge("revrx_tasks_reserved", "Tasks received and not started, over the pool (part of the demand the policy uses).")
	m.tasksRunning = gauge("revrx_tasks_running", "Tasks started and not finished, over the pool (part of the demand the policy uses).")
	m.queueWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "revrx_queue_wait_seconds",
		Help:    "Publish to start of tasks run by the supervised workers, where the publish time is known (task-sent events); ETA and countdown tasks excluded.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"queue"})
}

// zeroes creates every labelled series at 0, so that increase() and
// absent() see the first event (a series appears only once touched).
func (m *metrics) zeroes() {
	for _, ph := range policy.Phases {
		m.workers.WithLabelValues(string(ph))
	}
	for _, r := range policy.BlockedReasons {
		m.scalingBlocked.WithLabelValues(string(r))
	}
	for _, r := range []string{"crashed", "exited", "failed_start"} {
		m.restarts.WithLabelValues(r)
	}
	for _, o := range []string{events.OutcomeSucceeded, events.OutcomeFailed, events.OutcomeRetried, events.OutcomeRevoked, events.OutcomeRejected} {
		m.tasksCompleted.WithLabelValues(o)
	}
	for _, st := range []policy.Strategy{policy.StrategyMin, policy.StrategyQueue, policy.StrategyWait, policy.StrategySchedule, policy.StrategyForecast, policy.StrategyCelery} {
		m.scalingEvents.WithLabelValues("up", string(st))
	}
	for _, r := range []policy.StopReason{policy.StopIdle, policy.StopMemoryPressure, policy.StopWorkerMemory, policy.StopRebalance} {
		m.scalingEvents.WithLabelValues("down", string(r))
	}
}

// perQueue creates every per-queue series at its zero, so that none is
// missing before its first event.
func (m *metrics) perQueue(queues []string) {
	for _, q := range queues {
		m.queueWait.WithLabelValues(q)
		m.queueMessages.WithLabelValues(q)
		m.oldestAge.WithLabelValues(q)
	}
}

// undecodedMetric is revrx_events_undecoded_total, read from ev when it is
// an UndecodedCounter (else always 0).
func undecodedMetric(ev Events) prometheus.Collector {
	u, _ := ev.(UndecodedCounter)
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "revrx_events_undecoded_total",
		Help: "Task event messages that could not be decoded (not JSON, another serializer) and were skipped.",
	}, func() float64 {
		if u == nil {
			return 0
		}
		return float64(u.UndecodedMessages())
	})
}

// registerMetrics registers every series s exports on reg: its metrics
// (with the per-queue series of queues at 0), the cost series, revrx_build_info and the
// per-worker collector, which reads s's last status at scrape time.
func registerMetrics(reg prometheus.Registerer, s *Supervisor, queues []string, version string) (*metrics, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	m.perQueue(queues)
	if m.cost, err = newCostMetrics(reg); err != nil {
		return nil, err
	}
	if err := reg.Register(undecodedMetric(s.events)); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := buildInfo(reg, version); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := reg.Register(newWorkerCollector(s)); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return m, nil
}

// RegisterSampleMetrics registers on reg every metric family a Supervisor
// exports, as New does, each with at least one series (queue "celery", one
// idle worker "celery@sample"), so that reg.Gather returns the name and type
// of every family. It is for checking dashboards, rules and docs against the
// real names (examples/grafana); a Supervisor registers its own metrics in
// New, so never call both on one registry. The process_* and go_* families
// are not included: cmd/revrx-supervise registers client_golang's
// collectors for them.
func RegisterSampleMetrics(reg prometheus.Registerer) error {
	const worker = "celery@sample"
	s := &Supervisor{}
	s.status.Workers = []WorkerStatus{{Name: worker, State: policy.PhaseIdle}}
	m, err := registerMetrics(reg, s, []string{"celery"}, "sample")
	if err != nil {
		return err
	}
	m.workerMemory.WithLabelValues(worker)
	_, err = newBudgetMetrics(reg) // a queue group's
	return err
}

// buildInfo registers revrx_build_info{version,goversion} = 1.
func buildInfo(reg prometheus.Registerer, version string) error {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "revrx_build_info", Help: "1, labelled with the supervisor's version and the Go version that built it.",
	}, []string{"version", "goversion"})
	g.WithLabelValues(version, runtime.Version()).Set(1)
	return reg.Register(g)
}
