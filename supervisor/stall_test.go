package supervisor

import (
	"slices"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// idle and busy are worker views at t0, as the policy's tests make them.
func idle(name string, slot int, since time.Duration) policy.WorkerView {
	return policy.WorkerView{Name: name, Slot: slot, Phase: policy.PhaseIdle, IdleSince: t0.Add(-since)}
}

func busy(name string, slot, running, received int) policy.WorkerView {
	return policy.WorkerView{Name: name, Slot: slot, Phase: policy.PhaseBusy, Running: running, Received: received}
}

func TestStalled(t *testing.T) {
	after := 10 * time.Second
	workers := []policy.WorkerView{idle("w1", 1, 15*time.Second), idle("w2", 2, 5*time.Second), busy("w3", 3, 1, 0),
		{Name: "w4", Slot: 4, Phase: policy.PhaseDraining}, {Name: "w5", Slot: 5, Phase: policy.PhaseStarting}}
	backlog := policy.Observation{Waiting: 3, OldestWait: 12 * time.Second, BrokerOK: true}
	for _, tc := range []struct {
		name     string
		obs      policy.Observation
		after    time.Duration
		eventsUp bool
		want     []string
	}{
		{"idle past the timeout while a message waited as long", backlog, after, true, []string{"w1"}},
		{"the message has not waited the timeout", policy.Observation{Waiting: 3, OldestWait: 9 * time.Second, BrokerOK: true}, after, true, nil},
		{"nothing waits", policy.Observation{BrokerOK: true}, after, true, nil},
		{"stale broker reading", policy.Observation{Waiting: 3, OldestWait: time.Minute}, after, true, nil},
		{"task events down: idle may be busy", backlog, after, false, nil},
		{"check off", backlog, -1, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stalled(workers, tc.obs, t0, tc.after, tc.eventsUp); !slices.Equal(got, tc.want) {
				t.Errorf("stalled() = %v, want %v", got, tc.want)
			}
		})
	}
}
