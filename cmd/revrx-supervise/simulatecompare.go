package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/policy"
	"github.com/revrx/revrx-supervise/supervisor/simulate"
)

// What --compare of `simulate` accepts, comma-separated: Celery's own
// --autoscale, and the revrx column without the learned floor.
const (
	compareCelery    = string(policy.AlgorithmCelery)
	compareNoPredict = "nopredict"
)

// Column names of the runs with and without the learned floor.
const (
	modelPredictOn  = "revrx predict on"
	modelPredictOff = "revrx predict off"
)

// contenders is what --compare asks for beside the revrx column.
type contenders struct{ celery, noPredict bool }

// parseCompare reads --compare: empty, or celery and nopredict in any
// order, comma-separated. A bad value is a usageError naming it.
func parseCompare(c *cli.Context) (contenders, error) {
	var k contenders
	v := c.String(flagSimCompare)
	if v == "" {
		return k, nil
	}
	for _, name := range strings.Split(v, ",") {
		switch strings.TrimSpace(name) {
		case compareCelery:
			k.celery = true
		case compareNoPredict:
			k.noPredict = true
		default:
			return k, usagef("--%s %q: accepted: celery, nopredict, or both (celery,nopredict)", flagSimCompare, v)
		}
	}
	return k, nil
}

// simulatePredict sets the learned floor on m with --predict on (its
// column is then "revrx predict on"), and its lead with --predict-lead.
// --predict forecast learns without changing a decision, so the simulation
// runs it as off. Celery's --autoscale (--policy celery) has no learned
// floor: --predict on with it is a usageError, as are a bad --predict or
// --predict-period and --predict-lead without --predict on.
func simulatePredict(c *cli.Context, m *simulate.Model) error {
	pr, err := predictFromFlags(c, m.Policy.Location)
	if err != nil {
		return err
	}
	if pr.Mode != supervisor.PredictOn {
		if c.IsSet(flagSimPredictLead) {
			return usagef("--%s is for --%s on (the lead of the forecast)", flagSimPredictLead, flagPredict)
		}
		return nil
	}
	if m.Celery() {
		return usagef("--%s on with --%s celery: Celery's --autoscale has no learned floor; drop one", flagPredict, flagPolicy)
	}
	m.Predict, m.Name, m.Lead = pr.Period, modelPredictOn, c.Duration(flagSimPredictLead)
	return nil
}

// simulateContenders is the revrx column (or Celery's alone, with --policy
// celery), then what --compare adds: the same column without the learned
// floor (nopredict, which needs --predict on), then Celery's (celery).
func simulateContenders(c *cli.Context, revrx simulate.Model, k contenders, celery func() simulate.Model) ([]simulate.Model, error) {
	models := []simulate.Model{revrx}
	if revrx.Celery() {
		models = []simulate.Model{celery()}
	}
	if k.noPredict {
		if !revrx.Predicting() {
			return nil, usagef("--%s nopredict compares with the learned floor: add --%s on (and --%s)", flagSimCompare, flagPredict, flagPredictPeriod)
		}
		off := revrx
		off.Name, off.Predict, off.Lead = modelPredictOff, policy.Period{}, 0
		models = append(models, off)
	}
	if k.celery {
		if revrx.Celery() {
			return nil, usagef("--%s celery with --%s celery would compare Celery's algorithm with itself; drop one", flagSimCompare, flagPolicy)
		}
		models = append(models, celery())
	}
	if len(revrx.Groups) > 0 && (k.celery || revrx.Celery()) {
		return nil, usagef("-Q %q: queue groups share a host budget that Celery's --autoscale has not; drop --%s celery and --%s celery",
			c.String(flagSimQueues), flagSimCompare, flagPolicy)
	}
	return models, nil
}
