package supervisor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// groupHarness is one queue group's supervisor over a fake pool, sharing
// budget with the others.
func groupHarness(t *testing.T, name string, lo, hi int, budget *HostBudget, now *time.Time, depth *int64) *harness {
	t.Helper()
	h := &harness{t: t, now: *now, pool: newFakePool(), reg: prometheus.NewRegistry(), res: &fakeResources{}}
	q := &fakeQueue{backlogs: func([]string) (map[string]Backlog, error) {
		return map[string]Backlog{name: {Depth: *depth}}, nil
	}}
	p := policy.Config{Min: lo, Max: hi, TasksPerWorker: 1, Keepalive: time.Minute}
	sup, err := New(Config{Policy: p, Queues: []string{name}, Group: name, Budget: budget, Now: func() time.Time { return *now }},
		q, fakeEvents{}, h.pool, prometheus.WrapRegistererWith(prometheus.Labels{"group": name}, h.reg))
	if err != nil {
		t.Fatal(err)
	}
	h.sup = sup
	return h
}

// TestHostGroups: two groups' loops under a host budget of 4: the first
// group's backlog takes the room its minimum and the other's leave; the
// host view sums them (their efficiency too), names each group in its
// reasons, and is not ready while a group's minimum is down.
func TestHostGroups(t *testing.T) {
	now := t0
	budget := NewHostBudget(policy.Budget{Max: 4, RebalanceAfter: 5 * time.Second}, []string{"video", "audio"}, []int{1, 1}, []int{4, 4})
	var videoDepth, audioDepth int64 = 10, 0
	video := groupHarness(t, "video", 1, 4, budget, &now, &videoDepth)
	audio := groupHarness(t, "audio", 1, 4, budget, &now, &audioDepth)
	host := NewHost(budget, video.sup, audio.sup)
	for range 3 {
		video.sup.tick(context.Background())
		audio.sup.tick(context.Background())
		if n := len(video.pool.Workers()) + len(audio.pool.Workers()); n > 4 {
			t.Fatalf("%d workers on a host budget of 4", n)
		}
	}
	if v, a := len(video.pool.Workers()), len(audio.pool.Workers()); v != 3 || a != 1 {
		t.Errorf("video %d, audio %d workers; want 3 (10 waiting, audio's minimum kept) and 1", v, a)
	}
	now = now.Add(10 * time.Second)
	video.sup.tick(context.Background())
	audio.sup.tick(context.Background())
	st := host.Snapshot()
	if len(st.Groups) != 2 || len(st.Workers) != 4 || st.Policy.Max != 4 || st.Policy.Min != 2 {
		t.Fatalf("host status: %d groups, %d workers, policy %d..%d; want 2, 4, 2..4", len(st.Groups), len(st.Workers), st.Policy.Min, st.Policy.Max)
	}
	if g := st.Groups[0].Group; g == nil || g.Name != "video" || g.Limit != 3 {
		t.Errorf("video's group status %+v, want limit 3", g)
	}
	if !strings.HasPrefix(st.LastDecision.Reason, "group video: 10 waiting") || !strings.Contains(st.LastDecision.Reason, "; group audio: ") {
		t.Errorf("host reason %q, want both groups' named", st.LastDecision.Reason)
	}
	if v, a, all := st.Groups[0].Efficiency, st.Groups[1].Efficiency, st.Efficiency; v.StartingSeconds != 30 ||
		a.StartingSeconds != 10 || all.StartingSeconds != 40 || all.IdleShare != 0 {
		t.Errorf("starting seconds: video %v, audio %v, host %v; want 30 (3 for 10 s), 10 and their sum, no idle",
			v.StartingSeconds, a.StartingSeconds, all.StartingSeconds)
	}
	if err := host.Ready(); err == nil || !strings.Contains(err.Error(), "group video:") || !strings.Contains(err.Error(), "group audio:") {
		t.Errorf("Ready() = %v, want both groups named (their workers are not online)", err)
	}
}

func TestAddForecast(t *testing.T) {
	early, late := t0.Add(-time.Hour), t0
	a := &ForecastStatus{Workers: 3, Ready: true, Stored: true, LeadMeasured: true, LeadSeconds: 1.2, LearningSince: late}
	b := &ForecastStatus{Workers: 2, Ready: false, Stored: true, LeadMeasured: true, LeadSeconds: 1.5, LearningSince: early}
	if got := addForecast(nil, nil); got != nil {
		t.Errorf("no group forecasts: %+v, want nil", got)
	}
	sum := addForecast(addForecast(nil, a), b)
	want := ForecastStatus{Workers: 5, Ready: false, Stored: true, LeadMeasured: true, LeadSeconds: 1.5, LearningSince: early}
	if *sum != want {
		t.Errorf("sum %+v, want %+v", *sum, want)
	}
	if a.Workers != 3 {
		t.Errorf("adding changed the first group's own status: %+v", a)
	}
}
