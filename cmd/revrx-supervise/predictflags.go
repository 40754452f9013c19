package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// Names of the flags of the learned floor, shared by the supervisor and
// `simulate`.
const (
	flagPredict       = "predict"
	flagPredictPeriod = "predict-period"
)

// predictFlags are --predict and --predict-period.
func predictFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagPredict, EnvVars: []string{"REVRX_PREDICT"}, Value: string(supervisor.PredictOff),
			Usage: "learned floor from the app's own pattern: off, forecast (learn, export revrx_forecast_workers and log what it would do) " +
				"or on (also raise each group's floor one measured start-up ahead; never above MAX, a cap or the guard, never a scale-in)"},
		&cli.DurationFlag{Name: flagPredictPeriod, EnvVars: []string{"REVRX_PREDICT_PERIOD"}, Value: 24 * time.Hour,
			Usage: "the cycle the pattern repeats over, in --timezone: 24h (a day), 168h (a week, from Monday), 1h, or any length that divides a day " +
				"(e.g. 10m to try it); nothing is forecast before one full period is learned"},
	}
}

// predictFromFlags reads --predict and --predict-period; loc is the
// policy's time zone (--timezone). Errors are usageErrors naming the flag.
func predictFromFlags(c *cli.Context, loc *time.Location) (supervisor.Predict, error) {
	p := supervisor.Predict{Mode: supervisor.PredictMode(c.String(flagPredict)),
		Period: policy.Period{Length: c.Duration(flagPredictPeriod), Location: loc}}
	switch p.Mode {
	case supervisor.PredictOff, supervisor.PredictForecast, supervisor.PredictOn:
	default:
		return p, usagef("--%s %q: accepted: off, forecast, on", flagPredict, p.Mode)
	}
	if err := p.Period.Validate(); err != nil {
		return p, usagef("--%s: %v", flagPredictPeriod, err)
	}
	return p, nil
}

// patternStore keeps a group's pattern in the broker, under the name of
// its queues joined by "+": the supervisors of the same queues on other
// hosts and after a restart share it.
type patternStore struct {
	store  patternBackend
	name   string
	period time.Duration
}

func newPatternStore(store patternBackend, queues []string, period time.Duration) patternStore {
	return patternStore{store: store, name: strings.Join(queues, "+"), period: period}
}

// LoadPattern reads and decodes the stored pattern; an undecodable one is
// an error (it is not overwritten until it is read).
func (s patternStore) LoadPattern(ctx context.Context) (policy.Pattern, bool, error) {
	var p policy.Pattern
	doc, found, err := s.store.Pattern(ctx, s.name)
	if err != nil || !found {
		return p, false, err
	}
	if err := json.Unmarshal(doc, &p); err != nil {
		return p, false, fmt.Errorf("stored pattern %s%s: %w", broker.PatternPrefix, s.name, err)
	}
	return p, true, nil
}

func (s patternStore) SavePattern(ctx context.Context, p policy.Pattern) error {
	doc, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.store.SavePattern(ctx, s.name, doc, s.period)
}
