package supervisor

import (
	"maps"
	"testing"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

func TestHoldingOf(t *testing.T) {
	for _, tc := range []struct {
		name            string
		d               policy.Decision
		perWorker       int
		inService, idle int
		want            map[holder]int
	}{
		{"no demand, min 3", policy.Decision{Desired: 3, Strategy: policy.StrategyMin}, 1, 3, 3,
			map[holder]int{heldByMin: 3}},
		{"burst over, min 0: all wait out their keepalive", policy.Decision{Strategy: policy.StrategyMin}, 1, 5, 5,
			map[holder]int{heldByKeepalive: 5}},
		{"min 2 of 5 idle", policy.Decision{Desired: 2, Strategy: policy.StrategyMin}, 1, 5, 5,
			map[holder]int{heldByMin: 2, heldByKeepalive: 3}},
		{"schedule floor", policy.Decision{Desired: 4, Strategy: policy.StrategySchedule}, 1, 4, 4,
			map[holder]int{heldBySchedule: 4}},
		{"forecast floor above one running task", policy.Decision{Demand: 1, Desired: 3, Strategy: policy.StrategyForecast}, 1, 3, 2,
			map[holder]int{heldByForecast: 2}},
		{"2 busy, 3 idle above the queue's 2", policy.Decision{Demand: 2, Desired: 2, Strategy: policy.StrategyQueue}, 1, 5, 3,
			map[holder]int{heldByKeepalive: 3}},
		{"waiting tasks about to take idle ones", policy.Decision{Demand: 4, Desired: 4, Strategy: policy.StrategyQueue}, 1, 5, 3,
			map[holder]int{heldByKeepalive: 1}},
		{"demand above max: nothing held", policy.Decision{Demand: 10, Desired: 5, Strategy: policy.StrategyQueue}, 1, 5, 5,
			map[holder]int{}},
		{"within the tolerance: held by no named holder", policy.Decision{Demand: 2, Desired: 4, Strategy: policy.StrategyQueue}, 1, 4, 2,
			map[holder]int{}},
		{"starting ones count towards the needed", policy.Decision{Demand: 3, Desired: 3, Strategy: policy.StrategyQueue}, 1, 4, 1,
			map[holder]int{heldByKeepalive: 1}},
		{"tasks per worker 4: 5 tasks need 2", policy.Decision{Demand: 5, Desired: 2, Strategy: policy.StrategyQueue}, 4, 3, 1,
			map[holder]int{heldByKeepalive: 1}},
		{"tasks per worker 0 counts as 1", policy.Decision{Demand: 1, Desired: 1, Strategy: policy.StrategyMin}, 0, 2, 1,
			map[holder]int{heldByKeepalive: 1}},
		{"celery's algorithm: only the keepalive", policy.Decision{Desired: 2, Strategy: policy.StrategyCelery}, 1, 3, 3,
			map[holder]int{heldByKeepalive: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := holdingOf(tc.d, tc.perWorker, tc.inService, tc.idle).held
			if !maps.Equal(got, tc.want) {
				t.Errorf("holdingOf(%+v, %d, %d, %d).held = %v, want %v", tc.d, tc.perWorker, tc.inService, tc.idle, got, tc.want)
			}
		})
	}
}

func TestPutToUse(t *testing.T) {
	type held = map[holder]int
	for _, tc := range []struct {
		name      string
		prev, cur holding
		want      held
	}{
		{"a task takes one of min's", holding{0, held{heldByMin: 2}}, holding{1, held{heldByMin: 1}}, held{heldByMin: 1}},
		{"a burst takes the floor's, then the keepalive's",
			holding{0, held{heldByForecast: 2, heldByKeepalive: 3}}, holding{4, held{heldByKeepalive: 1}},
			held{heldByForecast: 2, heldByKeepalive: 2}},
		{"the rise is bigger than what was held", holding{0, held{heldByKeepalive: 2}}, holding{5, held{}}, held{heldByKeepalive: 2}},
		{"kept-alive ones stopped: no rise, none used", holding{1, held{heldByKeepalive: 3}}, holding{1, held{}}, held{}},
		{"demand falls", holding{3, held{heldByMin: 1}}, holding{1, held{heldByMin: 3}}, held{}},
		{"a rise with nothing held", holding{0, held{}}, holding{3, held{}}, held{}},
		{"one task more, one held stopped meanwhile", holding{0, held{heldByKeepalive: 3}}, holding{1, held{heldByKeepalive: 1}},
			held{heldByKeepalive: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := putToUse(tc.prev, tc.cur); !maps.Equal(got, tc.want) {
				t.Errorf("putToUse(%+v, %+v) = %v, want %v", tc.prev, tc.cur, got, tc.want)
			}
		})
	}
}
