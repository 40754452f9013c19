package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// PredictMode is what the learned floor does (--predict).
type PredictMode string

// The modes. Off learns nothing; Forecast learns, exports the forecast and
// logs once per bucket what it would have done, changing no decision; On
// also raises the floor by it.
const (
	PredictOff      PredictMode = "off"
	PredictForecast PredictMode = "forecast"
	PredictOn       PredictMode = "on"
)

// Predict configures the learned floor; the zero value is off.
type Predict struct {
	Mode   PredictMode
	Period policy.Period
	// Store keeps the pattern where a restart and the app's other hosts
	// find it (the broker); nil keeps it in memory only.
	Store PatternStore
}

// Validate reports a mode or period the supervisor cannot run.
func (p Predict) Validate() error {
	switch p.Mode {
	case "", PredictOff:
		return nil
	case PredictForecast, PredictOn:
		return p.Period.Validate()
	}
	return fmt.Errorf("predict mode %q: accepted: off, forecast, on", p.Mode)
}

func (p Predict) enabled() bool { return p.Mode == PredictForecast || p.Mode == PredictOn }

// PatternStore keeps one queue group's learned pattern.
type PatternStore interface {
	// LoadPattern returns the stored pattern; found is false when none is.
	LoadPattern(ctx context.Context) (p policy.Pattern, found bool, err error)
	SavePattern(ctx context.Context, p policy.Pattern) error
}

// predictor learns the group's demand pattern and forecasts its floor. It
// is the loop's: not safe for concurrent use, except the status it
// publishes through the supervisor's snapshot.
type predictor struct {
	cfg     Predict
	log     *slog.Logger
	pattern policy.Pattern
	loaded  bool // the store was read: a save can no longer overwrite what it held unseen
	// triedAt is the last failed read of the store, retried loadRetry later.
	triedAt time.Time
	lead    *leadMeter
	poll    time.Duration
	// savedBucket and loggedBucket are the bucket (instant / bucket width)
	// of the last save and of the last forecast-mode log line.
	savedBucket, loggedBucket int64
	forecast                  int  // the last forecast
	ready                     bool // a full period is learned
	workers, leadSeconds      prometheus.Gauge
}

// newPredictor returns nil when cfg is off; else it registers
// revrx_forecast_workers and revrx_startup_lead_seconds on reg.
func newPredictor(cfg Predict, poll time.Duration, log *slog.Logger, reg prometheus.Registerer) (*predictor, error) {
	if !cfg.enabled() {
		return nil, nil
	}
	p := &predictor{cfg: cfg, log: log, lead: newLeadMeter(), poll: poll, savedBucket: -1, loggedBucket: -1,
		workers: gauge("revrx_forecast_workers",
			"Processes the learned demand pattern expects within the next start-up lead (--predict forecast or on; 0 until a full period is learned); may exceed MAX."),
		leadSeconds: gauge("revrx_startup_lead_seconds",
			"How far ahead the forecast looks: this host's measured start-up (90th percentile of the latest 32) plus one poll interval."),
	}
	for _, c := range []prometheus.Collector{p.workers, p.leadSeconds} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// loadRetry is how long after a failed read of the store it is read again.
const loadRetry = 30 * time.Second

// load reads the stored pattern once; until it succeeds nothing is saved
// (an unreadable broker must not lose what it holds) and it is retried
// every loadRetry. A pattern stored for another period length is dropped.
func (p *predictor) load(ctx context.Context, now time.Time) {
	if p.loaded || (!p.triedAt.IsZero() && now.Sub(p.triedAt) < loadRetry) {
		return
	}
	if p.cfg.Store == nil {
		p.loaded = true
		return
	}
	p.triedAt = now
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	stored, found, err := p.cfg.Store.LoadPattern(ctx)
	switch {
	case err != nil:
		p.log.Warn("could not read the learned demand pattern; learning in memory until the broker answers", "err", err)
		return
	case !found:
		p.log.Info("no learned demand pattern in the broker; learning from now", "period", p.cfg.Period.Length)
	case !stored.Fits(p.cfg.Period):
		p.log.Info("the stored demand pattern is for another period; learning anew", "stored", stored.Length, "period", p.cfg.Period.Length)
	default:
		p.pattern = stored
		p.log.Info("loaded the learned demand pattern", "learning_since", stored.Since, "period", stored.Length)
	}
	p.loaded = true
}

// floor is the forecast at now over the next lead (0 before a full
// period), from the stored pattern once it could be read.
func (p *predictor) floor(ctx context.Context, views []policy.WorkerView, now time.Time) int {
	p.load(ctx, now)
	p.lead.observe(views, now)
	lead := p.lead.lead(p.poll)
	p.forecast, p.ready = p.pattern.Forecast(now, lead, p.cfg.Period)
	p.workers.Set(float64(p.forecast))
	p.leadSeconds.Set(lead.Seconds())
	return p.forecast
}

// learn records what the decision's demand needed at now (not while the
// broker reading is stale) and saves the pattern once per bucket, once the
// store was read (floor reads it).
func (p *predictor) learn(ctx context.Context, now time.Time, need int, brokerOK bool) {
	if brokerOK {
		p.pattern.Observe(now, need, p.cfg.Period)
	}
	bucket := now.UnixNano() / int64(p.cfg.Period.BucketWidth())
	if !p.loaded || p.cfg.Store == nil || bucket == p.savedBucket || p.pattern.Since.IsZero() {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := p.cfg.Store.SavePattern(sctx, p.pattern); err != nil {
		p.log.Warn("could not save the learned demand pattern; trying again next bucket", "err", err)
	}
	p.savedBucket = bucket
}

// logShadow, in forecast mode, logs once per bucket what the forecast would
// have done to d (the decision taken without it), if it asks for anything.
func (p *predictor) logShadow(obs policy.Observation, d policy.Decision, now time.Time, cfg policy.Config) {
	bucket := now.UnixNano() / int64(p.cfg.Period.BucketWidth())
	if p.cfg.Mode != PredictForecast || p.forecast == 0 || bucket == p.loggedBucket {
		return
	}
	p.loggedBucket = bucket
	obs.Forecast = p.forecast
	with := policy.Decide(obs, now, cfg)
	if with.Desired > d.Desired {
		p.log.Info(fmt.Sprintf("forecast mode: the learned floor would have raised desired from %d to %d", d.Desired, with.Desired),
			"forecast", p.forecast, "reason", with.Reason)
		return
	}
	p.log.Info("forecast mode: the learned floor would have changed nothing", "forecast", p.forecast, "desired", d.Desired)
}

// ForecastStatus is the learned floor in /status.
type ForecastStatus struct {
	Mode          PredictMode `json:"mode"`
	PeriodSeconds float64     `json:"period_seconds"`
	LearningSince time.Time   `json:"learning_since,omitzero"`
	Ready         bool        `json:"ready"` // a full period is learned: the forecast counts
	Workers       int         `json:"workers"`
	LeadSeconds   float64     `json:"lead_seconds"`
	LeadMeasured  bool        `json:"lead_measured"` // false: the default start-up until one is seen
	Stored        bool        `json:"stored"`        // the pattern was read from the broker (or there is no store)
}

// status is the predictor's part of /status.
func (p *predictor) status() *ForecastStatus {
	_, measured := p.lead.startup()
	return &ForecastStatus{Mode: p.cfg.Mode, PeriodSeconds: p.cfg.Period.Length.Seconds(), LearningSince: p.pattern.Since,
		Ready: p.ready, Workers: p.forecast, LeadSeconds: p.lead.lead(p.poll).Seconds(), LeadMeasured: measured, Stored: p.loaded}
}
