package supervisor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revrx/revrx-supervise/supervisor/events"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// Defaults for Config fields left zero.
const (
	DefaultPollInterval = time.Second
	DefaultStaleAfter   = 30 * time.Second
)

// Config is the supervisor's configuration. Zero durations take the defaults.
type Config struct {
	Policy       policy.Config
	Queues       []string
	PollInterval time.Duration // how often the broker is read and the policy applied
	// StaleAfter bounds how long the last good queue reading keeps counting
	// while the broker cannot be read. Nothing is stopped meanwhile either way.
	StaleAfter time.Duration
	// StallAfter is how long a worker may stay idle while a due message
	// waits in its queues before it is warm-restarted as stalled; negative
	// turns the check off.
	StallAfter time.Duration
	BrokerURL  string // redacted, for /status only
	// Settings are the effective settings and their sources, for /status.
	Settings []Setting
	// Resources feeds the guard and the memory metrics; nil turns both off.
	Resources Resources
	// PreviousWorkers are the node names this supervisor's workers take
	// (slots 1..Max): before the first start, what workers of an earlier
	// run under these names held is put back (settlePrevious).
	PreviousWorkers []string
	// Version is the build's version, for revrx_build_info.
	Version string
	// AcksLate is the app's task_acks_late: with it off, a task running
	// when its worker dies was acked already and cannot be put back, so it
	// is reported as died.
	AcksLate bool
	// Scrub removes secrets from text the workers printed before /status
	// shows it; nil means identity.
	Scrub func(string) string
	// Notifier, if set, hears READY, STATUS, WATCHDOG and STOPPING
	// (notify.go); WatchdogInterval > 0 turns WATCHDOG=1 on.
	Notifier         Notifier
	WatchdogInterval time.Duration
	// Group names this supervisor's queue group and Budget is the host
	// budget it shares with the other groups' supervisors; both empty
	// outside groups. Policy's Min and Max are then the group's range.
	Group  string
	Budget *HostBudget
	// Predict is the learned floor (--predict); the zero value is off.
	Predict Predict
	Logger  *slog.Logger
	Now     func() time.Time // nil means time.Now
}

func (c Config) withDefaults() Config {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = DefaultStaleAfter
	}
	if c.StallAfter == 0 {
		c.StallAfter = DefaultStallAfter
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Scrub == nil {
		c.Scrub = func(s string) string { return s }
	}
	return c
}

// Validate reports the first field that is wrong.
func (c Config) Validate() error {
	if err := c.Policy.Validate(); err != nil {
		return err
	}
	if len(c.Queues) == 0 {
		return errors.New("config: queues: at least one queue is required")
	}
	if err := c.Predict.Validate(); err != nil {
		return err
	}
	if (c.Group == "") != (c.Budget == nil) {
		return errors.New("config: group and budget: set both (a queue group) or neither")
	}
	return nil
}

// Supervisor runs the control loop: it reads the backlog and the workers'
// events, asks Decide what to do, and starts or warm-stops workers.
type Supervisor struct {
	cfg     Config
	queue   Queue
	events  Events
	pool    Pool
	tracker *events.Tracker
	// restorer settles what gone workers held (nil: the Queue is not one).
	restorer Restorer
	exits    exits
	sent     *sentTimes      // publish times, for the queue-wait histogram
	queueSet map[string]bool // cfg.Queues
	m        *metrics
	bm       *budgetMetrics // nil outside groups
	predict  *predictor     // nil with --predict off
	runtime  runtimeMean    // of the tasks finished, for the host budget
	cost     *costMeter     // process-seconds, for the metrics and Status.Efficiency
	log      *slog.Logger

	lastTick     atomic.Int64                    // unix nanos of the last completed tick, for /livez
	poolNames    atomic.Pointer[map[string]bool] // node names whose events count
	eventsUp     atomic.Bool
	shuttingDown atomic.Bool

	// Loop-owned state (only Run's goroutine touches it).
	lastBacklog map[string]Backlog
	lastGoodAt  time.Time
	host        policy.HostUsage
	rss         map[int]uint64 // process tree RSS by worker PID, from the last sample
	sampledAt   time.Time
	brokerOK    bool
	lastDesired int
	knownPIDs   map[string]int
	history     policy.History
	lastBlocked policy.BlockedReason
	lastAlloc   *policy.Allocation // this group's last part of the host budget

	mu       sync.Mutex
	status   Status    // the last snapshot, for /status and /readyz
	timeline *timeline // the status page's history, for Timeline
	sd       *sdState
}

// New returns a supervisor; it registers its metrics on reg.
func New(cfg Config, q Queue, ev Events, p Pool, reg prometheus.Registerer) (*Supervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	restorer, _ := q.(Restorer)
	queueSet := map[string]bool{}
	for _, name := range cfg.Queues {
		queueSet[name] = true
	}
	s := &Supervisor{
		cfg: cfg, queue: q, events: ev, pool: p, tracker: events.NewTracker(), log: cfg.Logger,
		restorer: restorer, exits: exits{wake: make(chan struct{}, 1)}, sent: newSentTimes(), queueSet: queueSet,
		lastDesired: -1, knownPIDs: map[string]int{}, lastBacklog: map[string]Backlog{}, sd: newSDState(cfg),
		timeline: newTimeline(timelineStep, TimelineWindow, timelineDecisions),
	}
	m, err := registerMetrics(reg, s, cfg.Queues, cfg.Version)
	if err != nil {
		return nil, err
	}
	m.min.Set(float64(cfg.Policy.Min))
	m.max.Set(float64(cfg.Policy.Max))
	m.tasksPerWorker.Set(float64(cfg.Policy.TasksPerWorker))
	s.m = m
	s.cost = &costMeter{m: m.cost, window: newEfficiencyRing(efficiencyStep, EfficiencyWindow)}
	if s.predict, err = newPredictor(cfg.Predict, cfg.PollInterval, cfg.Logger, reg); err != nil {
		return nil, err
	}
	if cfg.Budget != nil {
		if s.bm, err = newBudgetMetrics(reg); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Run subscribes to the workers' events and runs the control loop until ctx
// is done. It ticks every PollInterval, when the pool changes, when another
// queue group frees room of the host budget, and, if the
// Queue is a QueueWatcher, soon after a queue changes (at most once per
// MinChangeGap). It returns nil on cancellation; it does not stop the workers
// (the pool does that when its own context ends). After ShuttingDown it
// starts and stops nothing but keeps observing, so /status follows the
// workers' warm shutdown: cancel ctx once the pool has finished. It takes
// the pool's reports as they come (Pool.Reported) and at every tick; the
// exits reported before ctx is done are settled, those still unsettled then
// within two more seconds.
func (s *Supervisor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		err := s.events.SubscribeEvents(ctx, s.handleEvent, s.onEventsState)
		if err != nil && ctx.Err() == nil {
			s.log.Error("task events subscription ended", "err", err)
		}
	})

	wg.Go(func() { s.sd.run(ctx, s.Live) })
	changes := s.watchQueues(ctx, &wg)
	// Settling ends after the last reports are taken (on return).
	settleCtx, stopSettling := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSettling()
	if s.restorer != nil {
		s.settlePrevious(ctx)
		wg.Go(func() { s.settleExits(settleCtx) })
	}

	ticker := time.NewTicker(s.cfg.PollInterval)
	defer ticker.Stop()
	var budgetFreed <-chan struct{}
	if s.cfg.Budget != nil {
		budgetFreed = s.cfg.Budget.Woken(s.cfg.Group)
	}
	changes.ticked()
	s.tick(ctx)
	for {
		select {
		case <-ctx.Done():
			s.takeReports() // the pool's last exits, for the final settling
			return nil
		case <-s.pool.Reported():
			s.takeReports()
			continue
		case <-ticker.C:
		case <-s.pool.Changed():
		case <-budgetFreed: // another group gave room back
		case <-changes.notified():
			if changes.holdUntilGap() {
				continue
			}
		case <-changes.expired():
		}
		changes.ticked()
		s.tick(ctx)
	}
}

// ShuttingDown marks the supervisor as stopping: Ready fails from now on.
// The first call sends STOPPING=1 to the Notifier.
func (s *Supervisor) ShuttingDown() {
	if !s.shuttingDown.Swap(true) {
		s.sd.stopping()
	}
}

// tick reads the world, decides, and acts once.
func (s *Supervisor) tick(ctx context.Context) {
	now := s.cfg.Now()
	s.readQueues(ctx, now)
	workers := s.pool.Workers()
	s.takeReports() // before forgetReplaced: the exits of the processes workers shows gone
	s.setPoolNames(workers)
	s.forgetReplaced(workers)
	views := s.views(workers, now)
	s.sampleResources(workers, views, now)

	obs := policy.Observation{BrokerOK: s.brokerOK, Workers: views, Host: s.host, History: s.history}
	if pp, ok := s.pool.(ProcessPool); ok {
		obs.Reserved = pp.Reserved()
	}
	if now.Sub(s.lastGoodAt) <= s.cfg.StaleAfter {
		for _, b := range s.lastBacklog {
			obs.Waiting += b.Depth
			// A stale reading's ages grow with the time since it was taken.
			obs.OldestWait = max(obs.OldestWait, b.OldestAge+now.Sub(s.lastGoodAt))
		}
	}
	s.forecastFloor(ctx, &obs, now)
	if s.cfg.Budget != nil { // what the group's own policy wants decides its part
		obs.Budget = s.budgetFor(obs, policy.Decide(obs, now, s.cfg.Policy), workers, now)
		s.lastAlloc = obs.Budget
	}
	d := policy.Decide(obs, now, s.cfg.Policy)
	if s.cfg.Group != "" {
		d.Reason = "group " + s.cfg.Group + ": " + d.Reason
	}
	if s.shuttingDown.Load() {
		d = policy.Decision{Demand: d.Demand, Current: d.Current, Reason: "shutting down: warm-stopping every worker"}
	} else {
		s.history = d.History
		s.act(d)
		s.restartStalled(views, obs, now)
		s.learnDemand(ctx, obs, d, now)
	}
	s.record(d, obs, views, workers, now)
	s.lastTick.Store(now.UnixNano())
}

// readQueues refreshes the last good reading, or keeps it on failure.
func (s *Supervisor) readQueues(ctx context.Context, now time.Time) {
	rctx, cancel := context.WithTimeout(ctx, max(s.cfg.PollInterval, 2*time.Second))
	defer cancel()
	backlogs, err := s.queue.Backlogs(rctx, s.cfg.Queues, now)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		s.m.brokerErrors.Inc()
		s.m.brokerUp.Set(0)
		if s.brokerOK || s.lastGoodAt.IsZero() {
			s.log.Error("broker read failed; holding the pool, no scale-down until it recovers", "err", err)
		}
		s.brokerOK = false
		return
	}
	if !s.brokerOK && !s.lastGoodAt.IsZero() {
		s.log.Info("broker read recovered")
	}
	s.brokerOK = true
	s.lastGoodAt = now
	s.lastBacklog = backlogs
	s.m.brokerUp.Set(1)
	for q, b := range backlogs {
		s.m.queueMessages.WithLabelValues(q).Set(float64(b.Depth))
		s.m.oldestAge.WithLabelValues(q).Set(b.OldestAge.Seconds())
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
