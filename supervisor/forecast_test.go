package supervisor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// memStore is a PatternStore in memory; err fails every call.
type memStore struct {
	p     policy.Pattern
	found bool
	err   error
	saves int
}

func (m *memStore) LoadPattern(context.Context) (policy.Pattern, bool, error) {
	return m.p, m.found, m.err
}
func (m *memStore) SavePattern(_ context.Context, p policy.Pattern) error {
	if m.err != nil {
		return m.err
	}
	m.p, m.found, m.saves = p, true, m.saves+1
	return nil
}

var tenMinutes = policy.Period{Length: 10 * time.Minute}

// rampAt is the offset of the learned ramp within each ten-minute period.
const rampAt = 5 * time.Minute

// learnedRamp is a pattern that saw 4 processes needed at rampAt in the
// period before t0 (and nothing else).
func learnedRamp() policy.Pattern {
	var p policy.Pattern
	start := t0.Add(-tenMinutes.Length)
	p.Observe(start, 0, tenMinutes)
	p.Observe(start.Add(rampAt), 4, tenMinutes)
	return p
}

// rampHarness runs mode against a store holding learnedRamp.
func rampHarness(t *testing.T, mode PredictMode) (*harness, *memStore) {
	store := &memStore{p: learnedRamp(), found: true}
	h := newHarnessWith(t, policy.Config{Min: 1, Max: 6, TasksPerWorker: 1, Keepalive: 30 * time.Second}, func(c *Config) {
		c.Predict = Predict{Mode: mode, Period: tenMinutes, Store: store}
	})
	return h, store
}

func TestPredictOnRaisesTheFloorOneLeadAhead(t *testing.T) {
	h, _ := rampHarness(t, PredictOn)
	h.tick(0)
	h.onlineAll()
	h.tick(time.Second)
	if got := h.running(); got != 1 {
		t.Fatalf("far from the ramp: %d workers, want MIN 1", got)
	}
	lead := h.sup.predict.lead.lead(DefaultPollInterval)
	// Just before one lead ahead of the ramp: nothing yet.
	h.now = t0.Add(rampAt - lead - tenMinutes.BucketWidth())
	h.tick(0)
	if got := h.running(); got != 1 {
		t.Fatalf("one bucket before the lead: %d workers, want 1 (%s)", got, h.sup.Snapshot().LastDecision.Reason)
	}
	h.now = t0.Add(rampAt - lead)
	h.tick(0)
	st := h.sup.Snapshot()
	if got := h.running(); got != 4 {
		t.Fatalf("one lead before the ramp: %d workers, want the forecast 4 (%s)", got, st.LastDecision.Reason)
	}
	if !strings.Contains(st.LastDecision.Reason, "by forecast") || st.Forecast == nil || !st.Forecast.Ready || st.Forecast.Workers != 4 {
		t.Errorf("status: reason %q, forecast %+v; want the forecast named, ready, 4", st.LastDecision.Reason, st.Forecast)
	}
	if got := h.metric(h.sup.predict.workers); got != 4 {
		t.Errorf("revrx_forecast_workers = %v, want 4", got)
	}
}

func TestForecastModeChangesNoDecision(t *testing.T) {
	off := newHarness(t, policy.Config{Min: 1, Max: 6, TasksPerWorker: 1, Keepalive: 30 * time.Second})
	shadow, _ := rampHarness(t, PredictForecast)
	for _, h := range []*harness{off, shadow} {
		h.tick(0)
		h.onlineAll()
	}
	exported := 0.0
	for step := range 12 { // through the ramp's bucket, with some demand
		for _, h := range []*harness{off, shadow} {
			h.depth = int64(step % 3)
			h.now = t0.Add(rampAt - 6*time.Second + time.Duration(step)*time.Second)
			h.tick(0)
			h.onlineAll()
		}
		exported = max(exported, shadow.metric(shadow.sup.predict.workers))
		a, b := off.sup.Snapshot().LastDecision, shadow.sup.Snapshot().LastDecision
		if a != b || off.running() != shadow.running() {
			t.Fatalf("step %d: forecast mode decided %+v with %d workers; off decided %+v with %d", step, b, shadow.running(), a, off.running())
		}
	}
	if exported != 4 {
		t.Errorf("forecast mode exported revrx_forecast_workers up to %v, want 4", exported)
	}
}

func TestPredictorKeepsTheStoreUntilItCanReadIt(t *testing.T) {
	store := &memStore{p: learnedRamp(), found: true, err: errors.New("connection refused")}
	h := newHarnessWith(t, policy.Config{Min: 1, Max: 6, TasksPerWorker: 1, Keepalive: 30 * time.Second}, func(c *Config) {
		c.Predict = Predict{Mode: PredictOn, Period: tenMinutes, Store: store}
	})
	h.tick(0)
	h.tick(time.Minute)
	if store.saves != 0 || !store.p.Since.Equal(learnedRamp().Since) {
		t.Fatalf("saved %d times while the store could not be read", store.saves)
	}
	store.err = nil
	h.tick(time.Minute) // loadRetry passed: read, then saved with what it held
	if store.saves != 1 || !store.p.Since.Equal(learnedRamp().Since) {
		t.Fatalf("after the store came back: %d saves, learning since %s; want 1 save keeping %s", store.saves, store.p.Since, learnedRamp().Since)
	}
	h.tick(time.Millisecond) // the same bucket: no second save
	if store.saves != 1 {
		t.Errorf("%d saves within one bucket, want 1", store.saves)
	}
}

func TestLeadMeter(t *testing.T) {
	starting := func(name string) policy.WorkerView { return policy.WorkerView{Name: name, Phase: policy.PhaseStarting} }
	ready := func(name string) policy.WorkerView { return policy.WorkerView{Name: name, Phase: policy.PhaseIdle} }
	m := newLeadMeter()
	if d, measured := m.startup(); d != defaultStartup || measured {
		t.Fatalf("before any start-up: %s, %v; want the default", d, measured)
	}
	m.observe([]policy.WorkerView{ready("a")}, t0) // there before: no sample
	m.asked(t0.Add(time.Second))
	m.observe([]policy.WorkerView{ready("a"), starting("b")}, t0.Add(1100*time.Millisecond))
	m.observe([]policy.WorkerView{ready("a"), ready("b")}, t0.Add(1400*time.Millisecond))
	if d, measured := m.startup(); d != 400*time.Millisecond || !measured {
		t.Errorf("b asked at 1 s, ready at 1.4 s: %s, want 400ms from the ask", d)
	}
	m.asked(t0.Add(2 * time.Second)) // c starts and is ready between two looks
	m.observe([]policy.WorkerView{ready("a"), ready("b"), ready("c")}, t0.Add(2200*time.Millisecond))
	m.observe([]policy.WorkerView{ready("a"), ready("b"), ready("c"), starting("d")}, t0.Add(3*time.Second))
	m.observe([]policy.WorkerView{ready("a"), ready("b"), ready("c")}, t0.Add(4*time.Second)) // d gone: no sample
	if got := len(m.samples); got != 2 {
		t.Errorf("%d samples (%v), want 2: b and c", got, m.samples)
	}
	for i := range 20 {
		m.add(time.Duration(i+1) * 100 * time.Millisecond)
	}
	if d, _ := m.startup(); d != 1800*time.Millisecond {
		t.Errorf("90th percentile of 0.2, 0.4, 0.1..2.0 s: %s, want 1.8s", d)
	}
	if got := m.lead(time.Second); got != 2800*time.Millisecond {
		t.Errorf("lead = %s, want the start-up plus the poll interval", got)
	}
}
