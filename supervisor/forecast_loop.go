package supervisor

import (
	"context"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// forecastFloor reads the stored pattern (once), measures the start-ups
// seen in obs.Workers, computes the forecast over the next lead and, with
// --predict on, puts it in obs.
func (s *Supervisor) forecastFloor(ctx context.Context, obs *policy.Observation, now time.Time) {
	if s.predict == nil {
		return
	}
	f := s.predict.floor(ctx, obs.Workers, now)
	if s.cfg.Predict.Mode == PredictOn {
		obs.Forecast = f
	}
}

// learnDemand, after the decision d was acted on, notes a start for the
// lead, logs what forecast mode would have done, and records what d's
// demand needed in the pattern (saved once per bucket).
func (s *Supervisor) learnDemand(ctx context.Context, obs policy.Observation, d policy.Decision, now time.Time) {
	if s.predict == nil {
		return
	}
	if d.Start > 0 {
		s.predict.lead.asked(now)
	}
	s.predict.logShadow(obs, d, now, s.cfg.Policy)
	s.predict.learn(ctx, now, policy.Needed(d, s.cfg.Policy), obs.BrokerOK)
}
