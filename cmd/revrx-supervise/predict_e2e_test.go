package main

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// storedPattern reads the pattern the supervisors of queue keep in the
// Redis at url; found is false while there is none.
func storedPattern(t *testing.T, url, queue string) (p policy.Pattern, found bool) {
	t.Helper()
	rds, err := broker.New(broker.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer rds.Close()
	doc, found, err := rds.Pattern(context.Background(), queue)
	if err != nil || !found {
		return p, false
	}
	if err := json.Unmarshal(doc, &p); err != nil {
		t.Fatalf("stored pattern: %v\n%s", err, doc)
	}
	return p, true
}

// peak is the largest peak any slot of p saw.
func peak(p policy.Pattern) int {
	n := 0
	for _, s := range p.Slots {
		n = max(n, s.Peak)
	}
	return n
}

// TestLearnedPatternSurvivesARestart: a supervisor with --predict keeps
// what it learns in the broker; after a warm restart the next one goes on
// from it (the same learning start, the peaks it saw), not from nothing.
func TestLearnedPatternSurvivesARestart(t *testing.T) {
	t.Parallel() // its own Redis, supervisors and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	args := []string{"--autoscale=3,1", "-Q", "learn", "--predict=forecast", "--predict-period=1m"}
	first := startSupervisor(t, url, args...)
	waitFor(t, 30*time.Second, "one idle process", func() bool { return first.workersIn(policy.PhaseIdle) == 1 })
	publish(t, url, "learn", 3, 1)
	var learned policy.Pattern
	waitFor(t, 30*time.Second, "a stored pattern that saw the 3 tasks", func() bool {
		p, found := storedPattern(t, url, "learn")
		learned = p
		return found && peak(p) >= 3
	})
	if st := first.status(); st.Forecast == nil || !st.Forecast.LearningSince.Equal(learned.Since) {
		t.Fatalf("/status forecast %+v, want it learning since the stored %s", st.Forecast, learned.Since)
	}
	first.signal(syscall.SIGTERM)
	if code := first.wait(30 * time.Second); code != 0 {
		t.Fatalf("first supervisor exited %d, want 0", code)
	}

	second := startSupervisor(t, url, args...)
	waitFor(t, 30*time.Second, "the restarted supervisor's forecast status", func() bool {
		st := second.status()
		return st.Forecast != nil && st.Forecast.Stored
	})
	if st := second.status(); !st.Forecast.LearningSince.Equal(learned.Since) {
		t.Errorf("after the restart learning since %s, want the first run's %s", st.Forecast.LearningSince, learned.Since)
	}
	time.Sleep(2 * time.Second) // a few buckets: it saved again
	if p, _ := storedPattern(t, url, "learn"); !p.Since.Equal(learned.Since) || peak(p) < 3 {
		t.Errorf("after the restart the broker holds a pattern learning since %s with peak %d; want %s and at least 3",
			p.Since, peak(p), learned.Since)
	}
}

// seedPattern stores, for queue, a pattern learned over two full periods
// of length that forecasts need processes in every bucket.
func seedPattern(t *testing.T, url, queue string, length time.Duration, need int) {
	t.Helper()
	per := policy.Period{Length: length}
	var p policy.Pattern
	start := time.Now().Add(-2 * length)
	for at := start; at.Before(start.Add(length)); at = at.Add(per.BucketWidth() / 2) {
		p.Observe(at, need, per)
	}
	doc, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	rds, err := broker.New(broker.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer rds.Close()
	if err := rds.SavePattern(context.Background(), queue, doc, length); err != nil {
		t.Fatal(err)
	}
}

// TestLearnedFloorActsOnlyWhenOn: with a learned pattern asking for 3
// processes and no task at all, --predict forecast exports the forecast,
// logs what it would have done and changes nothing; --predict on raises
// the floor to it, clipped to MAX 2 with the reason saying so.
func TestLearnedFloorActsOnlyWhenOn(t *testing.T) {
	t.Parallel()
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	seedPattern(t, url, "floor", time.Minute, 3)
	shadow := startSupervisor(t, url, "--autoscale=2,1", "-Q", "floor", "--predict=forecast", "--predict-period=1m")
	waitFor(t, 30*time.Second, "the forecast exported", func() bool { return shadow.metric("revrx_forecast_workers") == 3 })
	time.Sleep(2 * time.Second) // several decisions with the forecast known
	if n := len(shadow.status().Workers); n != 1 {
		t.Fatalf("--predict forecast: %d processes, want MIN 1 (forecast mode changes no decision)", n)
	}
	const wouldDo = "forecast mode: the learned floor would have raised desired from 1 to 2"
	if logs := shadow.logs.String(); strings.Count(logs, wouldDo) == 0 {
		t.Errorf("--predict forecast logged no %q:\n%s", wouldDo, lastLines(logs, 20))
	}
	shadow.signal(syscall.SIGTERM)
	shadow.wait(30 * time.Second)

	on := startSupervisor(t, url, "--autoscale=2,1", "-Q", "floor", "--predict=on", "--predict-period=1m")
	waitFor(t, 30*time.Second, "two idle processes", func() bool { return on.workersIn(policy.PhaseIdle) == 2 })
	if r := on.status().LastDecision.Reason; !strings.Contains(r, "by forecast") || !strings.Contains(r, "forecast 3 clipped to 2 by max 2") {
		t.Errorf("reason %q, want it to name the forecast and its clipping", r)
	}
}
