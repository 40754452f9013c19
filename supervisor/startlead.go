package supervisor

import (
	"slices"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// leadSamples is how many of the latest start-ups the lead is measured on.
const leadSamples = 32

// defaultStartup is the start-up time the lead assumes until this host's
// first start-up was measured.
const defaultStartup = time.Second

// leadMeter measures how long this host's workers (or pool processes) take
// from the decision that starts them to being ready for a task, as the
// supervisor sees them: a worker's start-up is from the act that started
// it (or, failing that, its first sighting as starting) to its first
// sighting in any other phase. It is the loop's: not safe for concurrent
// use.
type leadMeter struct {
	known    map[string]bool      // names in the last views
	starting map[string]time.Time // name -> when its start was asked
	askedAt  time.Time            // the last act that started workers, until the next views
	samples  []time.Duration      // the latest, oldest first
}

func newLeadMeter() *leadMeter {
	return &leadMeter{known: map[string]bool{}, starting: map[string]time.Time{}}
}

// asked records that workers were started at now.
func (m *leadMeter) asked(now time.Time) { m.askedAt = now }

// observe takes the workers at now: new ones start their clock (at the act
// that asked for them), ones that left the starting phase give a sample.
func (m *leadMeter) observe(views []policy.WorkerView, now time.Time) {
	since := now
	if !m.askedAt.IsZero() {
		since = m.askedAt
	}
	seen := make(map[string]bool, len(views))
	for _, v := range views {
		seen[v.Name] = true
		start, tracked := m.starting[v.Name]
		isNew := !m.known[v.Name]
		switch {
		case v.Phase == policy.PhaseStarting && isNew:
			m.starting[v.Name] = since
		case v.Phase == policy.PhaseStarting:
		case tracked:
			m.add(now.Sub(start))
			delete(m.starting, v.Name)
		case isNew && !m.askedAt.IsZero(): // started and ready between two looks
			m.add(now.Sub(since))
		}
	}
	for name := range m.starting {
		if !seen[name] {
			delete(m.starting, name) // gone before it was ready: no sample
		}
	}
	m.known, m.askedAt = seen, time.Time{}
}

func (m *leadMeter) add(d time.Duration) {
	if len(m.samples) == leadSamples {
		m.samples = m.samples[1:]
	}
	m.samples = append(m.samples, d)
}

// startup is the 90th percentile of the measured start-ups, or
// defaultStartup before the first one; measured reports which.
func (m *leadMeter) startup() (d time.Duration, measured bool) {
	if len(m.samples) == 0 {
		return defaultStartup, false
	}
	sorted := slices.Clone(m.samples)
	slices.Sort(sorted)
	return sorted[(len(sorted)*9+9)/10-1], true
}

// lead is how far ahead the forecast looks: a start-up, plus one poll
// interval (a decision may come that much after the instant it should).
func (m *leadMeter) lead(poll time.Duration) time.Duration {
	d, _ := m.startup()
	return d + poll
}
