package web

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// chartPoints returns the points of one chart series ("depth", "workers",
// "desired") in a rendered page, or nil when it has none.
func chartPoints(t *testing.T, page, series string) [][2]float64 {
	t.Helper()
	m := regexp.MustCompile(`<polyline id="series-` + series + `"[^>]* points="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		return nil
	}
	var out [][2]float64
	for _, p := range strings.Fields(m[1]) {
		xs, ys, ok := strings.Cut(p, ",")
		x, errX := strconv.ParseFloat(xs, 64)
		y, errY := strconv.ParseFloat(ys, 64)
		if !ok || errX != nil || errY != nil {
			t.Fatalf("series %s: point %q is not x,y", series, p)
		}
		out = append(out, [2]float64{x, y})
	}
	return out
}

func TestStatusPage(t *testing.T) {
	src := &fakeSource{}
	get := serve(t, src, prometheus.NewRegistry())

	code, hdr, body := get("/")
	if code != http.StatusOK || hdr.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / before the first tick = %d %q, want 200 text/html; charset=utf-8", code, hdr.Get("Content-Type"))
	}
	if !strings.Contains(body, "no samples yet") || chartPoints(t, body, "workers") != nil {
		t.Errorf("GET / before the first tick: want the empty chart, got\n%s", body)
	}
	if !strings.Contains(body, `<meta http-equiv="refresh" content="5">`) {
		t.Errorf("GET / does not refresh itself every 5 s")
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'none'", csp)
	}

	src.status = supervisor.Status{Time: t0.Add(7 * time.Second),
		Queues:  map[string]supervisor.QueueStatus{"reports": {Messages: 4}},
		Policy:  supervisor.PolicyStatus{Min: 1, Max: 3, MinNow: 1, MaxNow: 3},
		Workers: []supervisor.WorkerStatus{{Name: "worker1@h", Slot: 1, State: policy.PhaseIdle}},
		Efficiency: supervisor.Efficiency{Since: t0, TasksCompleted: 4, BusySeconds: 12, IdleSeconds: 4, StartingSeconds: 0.5,
			IdleShare: 4 / 16.5, SecondsPerTask: 16.5 / 4},
		Forecast: &supervisor.ForecastStatus{Mode: supervisor.PredictOn, Ready: true, Workers: 6, LeadSeconds: 2.6}}
	src.samples = []supervisor.Sample{{At: t0, Desired: 1}, {At: t0.Add(5 * time.Second), Depth: 4, Workers: 1, Desired: 1}}
	_, _, body = get("/")
	for _, series := range []string{"depth", "workers", "desired"} {
		pts := chartPoints(t, body, series)
		if len(pts) != 2 {
			t.Errorf("series %s has %d points for 2 samples, want 2: %v", series, len(pts), pts)
		}
		for _, p := range pts {
			if p[0] < chartLeft || p[0] > chartRight || p[1] < chartTop || p[1] > chartBottom {
				t.Errorf("series %s: point %v outside the plot", series, p)
			}
		}
	}
	for _, want := range []string{`<td class="name">worker1@h</td>`, "<td>reports</td>", "min 1, max 3",
		`<dd id="forecast">on: 6 processes within the next 2.6s</dd>`,
		`<tr class="efficiency"><td class="n tasks">4</td><td class="n busy">12</td><td class="n idle">4.0</td><td class="n">0.5</td><td class="n share">24 %</td><td class="n per-task">4.1</td><td>` + t0.Format("15:04:05") + `</td></tr>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / lacks %s", want)
		}
	}

	const hostile = `<script>alert("pwned")</script>@h`
	const reason = `<img src=x onerror=alert(1)> waiting`
	src.status.Workers = []supervisor.WorkerStatus{{Name: hostile, Slot: 1, PID: 4242, State: policy.PhaseIdle, Spawn: "exec"}}
	src.status.LastDecision = supervisor.DecisionStatus{Desired: 2, Reason: reason}
	src.decisions = []supervisor.DecisionEvent{{At: src.status.Time, Desired: 2, Current: 1, Started: 1, Reason: reason}}
	_, _, body = get("/")
	if strings.Contains(body, "<script") || strings.Contains(body, "<img") {
		t.Errorf("GET / writes a worker name or a reason unescaped:\n%s", body)
	}
	for _, want := range []string{
		`<td class="name">&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;@h</td>`,
		`&lt;img src=x onerror=alert(1)&gt; waiting`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / lacks the escaped %s", want)
		}
	}
}

func TestAxisTop(t *testing.T) {
	tests := []struct{ v, want float64 }{{1, 4}, {4, 4}, {5, 8}, {9, 20}, {20, 20}, {21, 40}, {170, 200}, {1001, 2000}}
	for _, tc := range tests {
		if got := axisTop(tc.v); got != tc.want {
			t.Errorf("axisTop(%v) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestChartSpan(t *testing.T) {
	now := t0.Add(2 * time.Hour)
	tests := []struct {
		name     string
		first    time.Duration // the first sample, before now
		span     string
		xTicks   []string
		firstPos float64 // x of the first sample
	}{
		{name: "one sample spans the minimum", first: 0, span: "1 min",
			xTicks: []string{"now", "-10 s", "-20 s", "-30 s", "-40 s", "-50 s", "-1 min"}, firstPos: chartRight},
		{name: "samples of 90 s span 90 s", first: 90 * time.Second, span: "1 min 30 s",
			xTicks: []string{"now", "-15 s", "-30 s", "-45 s", "-1 min", "-1 min 15 s", "-1 min 30 s"}, firstPos: chartLeft},
		{name: "the hour caps the span", first: 3 * time.Hour, span: "60 min",
			xTicks: []string{"now", "-10 min", "-20 min", "-30 min", "-40 min", "-50 min", "-60 min"}, firstPos: chartLeft - 2*(chartRight-chartLeft)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newChart([]supervisor.Sample{{At: now.Add(-tc.first), Depth: 3, Workers: 1, Desired: 1}}, now, supervisor.TimelineWindow)
			var ticks []string
			for _, x := range c.XTicks {
				ticks = append(ticks, x.Label)
			}
			if c.Span != tc.span || strings.Join(ticks, "|") != strings.Join(tc.xTicks, "|") {
				t.Errorf("newChart() spans %q with ticks %q, want %q with %q", c.Span, ticks, tc.span, tc.xTicks)
			}
			if x, _, _ := strings.Cut(c.Workers.Points, ","); x != strconv.FormatFloat(tc.firstPos, 'f', 1, 64) {
				t.Errorf("first sample at x = %s, want %.1f", x, tc.firstPos)
			}
		})
	}
}

// TestStatusPageGroups: a host with queue groups lists each group with its
// queues, range, processes, share and limit, a capped one marked so, and
// each group's efficiency and the total.
func TestStatusPageGroups(t *testing.T) {
	group := func(name, queue string, lo, hi, limit int, capped bool, workers ...policy.Phase) supervisor.Status {
		st := supervisor.Status{Queues: map[string]supervisor.QueueStatus{queue: {}},
			Efficiency:   supervisor.Efficiency{TasksCompleted: int64(len(name)), BusySeconds: 30, IdleSeconds: 10, IdleShare: 0.25},
			Policy:       supervisor.PolicyStatus{MinNow: lo, MaxNow: hi},
			Group:        &supervisor.GroupStatus{Name: name, HostMax: 6, Share: limit, Limit: limit, Capped: capped},
			Engine:       &supervisor.EngineState{Main: supervisor.EngineMain{Name: name + "1@h", PID: 42, State: supervisor.WorkerRunning}},
			LastDecision: supervisor.DecisionStatus{Reason: "group " + name + ": 50 waiting"}}
		for i, ph := range workers {
			st.Workers = append(st.Workers, supervisor.WorkerStatus{Name: name + "1@h#" + strconv.Itoa(i+1), State: ph})
		}
		return st
	}
	src := &fakeSource{status: supervisor.Status{Time: t0, Policy: supervisor.PolicyStatus{Max: 6, MaxNow: 6},
		Efficiency: supervisor.Efficiency{TasksCompleted: 7, BusySeconds: 60, IdleSeconds: 20, IdleShare: 0.25, SecondsPerTask: 80.0 / 7},
		Groups: []supervisor.Status{
			group("llm", "llm", 0, 2, 2, true, policy.PhaseBusy, policy.PhaseBusy),
			group("rest", "rest", 1, 6, 4, false, policy.PhaseIdle),
		}}}
	_, _, body := serve(t, src, prometheus.NewRegistry())("/")
	for _, want := range []string{
		"Queue groups (host budget 6 processes)",
		`<td class="name">llm</td><td>llm</td><td class="n">0–2</td><td class="n">2</td><td class="n">2</td><td class="n">2</td><td class="n">2 (capped)</td><td>llm1@h pid 42 running</td><td>group llm: 50 waiting</td>`,
		`<td class="name">rest</td><td>rest</td><td class="n">1–6</td><td class="n">1</td><td class="n">0</td>`,
		`<tr class="efficiency"><td class="name">llm</td><td class="n tasks">3</td><td class="n busy">30</td><td class="n idle">10</td><td class="n">0.0</td><td class="n share">25 %</td><td class="n per-task">–</td>`,
		`<tr class="efficiency"><td class="name">rest</td><td class="n tasks">4</td>`,
		`<tr class="efficiency total"><td class="name">all groups</td><td class="n tasks">7</td><td class="n busy">60</td><td class="n idle">20</td><td class="n">0.0</td><td class="n share">25 %</td><td class="n per-task">11</td>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
