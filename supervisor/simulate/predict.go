package simulate

import (
	"fmt"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// The learned floor (revrx-supervise --predict on), replayed as the
// supervisor's tick runs it (supervisor/forecast_loop.go): before each
// decision the pool's own pattern forecasts the processes needed over the
// next lead, and Decide gets that as Observation.Forecast (before a queue
// group asks the host budget for its part); after it, what the decision's
// demand needed (policy.Needed) is observed at that instant. With queue
// groups each group's pool learns its own pattern, as each group's
// supervisor does. Nothing is forecast before one full period since the
// first decision, so the first period is exactly that of the same model
// without prediction.

// Predicting reports whether the model replays --predict on (a Predict
// period is set).
func (m Model) Predicting() bool { return m.Predict.Length > 0 }

// ForecastLead is how far ahead the model's forecast looks: Lead when set,
// else one process's start-up (SpawnTime) plus PollInterval, as the
// supervisor's lead is its measured start-up plus the poll interval.
func (m Model) ForecastLead() time.Duration {
	if m.Lead > 0 {
		return m.Lead
	}
	return m.SpawnTime + m.PollInterval
}

// validatePredict checks the period and the lead of a predicting model
// (a lead without prediction is an error); Celery's autoscaler has no
// learned floor.
func (m Model) validatePredict() error {
	switch {
	case m.Lead < 0:
		return fmt.Errorf("predict lead %s: must not be negative", m.Lead)
	case m.Lead > 0 && !m.Predicting():
		return fmt.Errorf("predict lead %s: the model does not predict (no period)", m.Lead)
	case !m.Predicting():
		return nil
	case m.Celery():
		return fmt.Errorf("predict: Celery's --autoscale has no learned floor")
	}
	return m.Predict.Validate()
}

// forecast is the learned floor at t: the pattern's forecast over the next
// ForecastLead; 0 when the model does not predict or before a full period.
func (s *sim) forecast(t time.Duration) int {
	if !s.m.Predicting() {
		return 0
	}
	n, _ := s.pattern.Forecast(s.start.Add(t), s.m.ForecastLead(), s.m.Predict)
	return n
}

// learn records in the pattern what d's demand needed at t (the simulated
// broker reading is always good, so every decision counts).
func (s *sim) learn(t time.Duration, d policy.Decision) {
	if s.m.Predicting() {
		s.pattern.Observe(s.start.Add(t), policy.Needed(d, s.m.Policy), s.m.Predict)
	}
}

// predictNote says, for a model that predicts, what its learned floor
// does; "" for one that does not.
func predictNote(m Model) string {
	if !m.Predicting() {
		return ""
	}
	lead := fmt.Sprintf("a process's start-up %s s + the poll %s s", seconds(m.SpawnTime), seconds(m.PollInterval))
	if m.Lead > 0 {
		lead = "as told"
	}
	return fmt.Sprintf(" --predict on: each decision's floor is the demand learned per %s s bucket of a %s period (its own per group), "+
		"%s s ahead (%s); nothing is forecast in the first period.",
		seconds(m.Predict.BucketWidth()), m.Predict.Length, seconds(m.ForecastLead()), lead)
}
