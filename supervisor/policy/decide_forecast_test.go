package policy

import (
	"strings"
	"testing"
	"time"
)

func TestDecideWithForecast(t *testing.T) {
	p := Config{Min: 1, Max: 6, TasksPerWorker: 1, Keepalive: time.Minute,
		Guard: Guard{MaxCPU: 0.9}}
	one := []WorkerView{idle("w1", 1, time.Second)}
	for _, tc := range []struct {
		name         string
		obs          Observation
		wantDesired  int
		wantStart    int
		wantStops    int
		wantStrategy Strategy
		wantReason   string // a part of the reason, or ""
	}{
		{name: "no forecast changes nothing",
			obs:         Observation{BrokerOK: true, Workers: one},
			wantDesired: 1, wantStrategy: StrategyMin},
		{name: "the forecast raises the floor ahead of the work",
			obs:         Observation{BrokerOK: true, Workers: one, Forecast: 4},
			wantDesired: 4, wantStart: 3, wantStrategy: StrategyForecast, wantReason: "-> 4 by forecast"},
		{name: "the queue wins when it asks for more",
			obs:         Observation{BrokerOK: true, Waiting: 5, Workers: one, Forecast: 4},
			wantDesired: 5, wantStart: 4, wantStrategy: StrategyQueue},
		{name: "a forecast above MAX is clipped and says so",
			obs:         Observation{BrokerOK: true, Workers: one, Forecast: 9},
			wantDesired: 6, wantStart: 5, wantStrategy: StrategyForecast, wantReason: "forecast 9 clipped to 6 by max 6"},
		{name: "a forecast the guard blocks is clipped and says so",
			obs:         Observation{BrokerOK: true, Workers: one, Forecast: 4, Host: HostUsage{CPU: 0.95, OK: true}},
			wantDesired: 1, wantStrategy: StrategyForecast, wantReason: "forecast 4 clipped to 1: scale-up blocked: cpu"},
		{name: "a forecast above the group's budget is clipped and says so",
			obs:         Observation{BrokerOK: true, Workers: one, Forecast: 5, Budget: &Allocation{Share: 3, Limit: 3}},
			wantDesired: 3, wantStart: 2, wantStrategy: StrategyForecast, wantReason: "forecast 5 clipped to 3 by the host budget"},
		{name: "a forecast never scales in: idle workers past the keepalive above it stop as before",
			obs: Observation{BrokerOK: true, Forecast: 2, Workers: []WorkerView{
				idle("w1", 1, time.Hour), idle("w2", 2, time.Hour), idle("w3", 3, time.Hour), idle("w4", 4, time.Hour)}},
			wantDesired: 2, wantStops: 2, wantStrategy: StrategyForecast},
		{name: "a forecast below the busy workers stops none of them",
			obs:         Observation{BrokerOK: true, Forecast: 1, Workers: busyN(3, 1)},
			wantDesired: 3, wantStrategy: StrategyQueue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.obs, t0, p)
			if d.Desired != tc.wantDesired || d.Start != tc.wantStart || len(d.Stop) != tc.wantStops || d.Strategy != tc.wantStrategy {
				t.Errorf("desired %d start %d stops %d by %s; want %d %d %d by %s (%s)", d.Desired, d.Start, len(d.Stop), d.Strategy,
					tc.wantDesired, tc.wantStart, tc.wantStops, tc.wantStrategy, d.Reason)
			}
			if !strings.Contains(d.Reason, tc.wantReason) {
				t.Errorf("reason %q, want it to say %q", d.Reason, tc.wantReason)
			}
		})
	}
}

func TestNeeded(t *testing.T) {
	for _, tc := range []struct {
		demand int64
		tpw    int
		want   int
	}{{0, 1, 0}, {1, 1, 1}, {7, 1, 7}, {7, 4, 2}, {8, 4, 2}, {30, 1, 30}} {
		if got := Needed(Decision{Demand: tc.demand}, Config{TasksPerWorker: tc.tpw}); got != tc.want {
			t.Errorf("Needed(demand %d, %d per worker) = %d, want %d", tc.demand, tc.tpw, got, tc.want)
		}
	}
}
