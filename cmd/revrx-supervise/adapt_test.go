package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/broker"
	"github.com/revrx/revrx-supervise/pool"
	"github.com/revrx/revrx-supervise/supervisor"
)

// The adapters convert these by value: each pool or broker value is the
// supervisor's of the same meaning.
func TestAdaptedValues(t *testing.T) {
	pairs := []struct{ from, to string }{
		{string(pool.Starting), string(supervisor.WorkerStarting)},
		{string(pool.Running), string(supervisor.WorkerRunning)},
		{string(pool.Draining), string(supervisor.WorkerDraining)},
		{string(pool.Stopping), string(supervisor.WorkerStopping)},
		{string(pool.Backoff), string(supervisor.WorkerBackoff)},
		{string(pool.ProcessStarting), string(supervisor.ProcessStarting)},
		{string(pool.ProcessIdle), string(supervisor.ProcessIdle)},
		{string(pool.ProcessBusy), string(supervisor.ProcessBusy)},
		{string(pool.ProcessStopping), string(supervisor.ProcessStopping)},
		{string(pool.ProcessRetiring), string(supervisor.ProcessRetiring)},
		{string(broker.Restored), string(supervisor.SettleRestored)},
		{string(broker.Quarantined), string(supervisor.SettleQuarantined)},
		{string(broker.Unroutable), string(supervisor.SettleUnroutable)},
		{string(broker.Requeued), string(supervisor.SettleRequeued)},
		{string(broker.Retaken), string(supervisor.SettleRetaken)},
		{string(broker.Gone), string(supervisor.SettleGone)},
	}
	for _, p := range pairs {
		if p.from != p.to {
			t.Errorf("pool/broker value %q, supervisor value %q: want the same", p.from, p.to)
		}
	}
}

func TestPoolErr(t *testing.T) {
	tests := []struct {
		err  error
		want error
	}{
		{fmt.Errorf("stop %q: %w", "w#1", pool.ErrBusy), supervisor.ErrBusy},
		{pool.ErrShuttingDown, supervisor.ErrShuttingDown},
		{fmt.Errorf("grow: %w", pool.ErrNoMain), supervisor.ErrNoMain},
	}
	for _, tt := range tests {
		got := poolErr(tt.err)
		if !errors.Is(got, tt.want) || !errors.Is(got, tt.err) {
			t.Errorf("poolErr(%v) = %v, want it to match %v and the original", tt.err, got, tt.want)
		}
	}
	if err := errors.New("other"); poolErr(err) != err {
		t.Errorf("poolErr(other) = %v, want it unchanged", poolErr(err))
	}
	if poolErr(nil) != nil {
		t.Errorf("poolErr(nil) = %v, want nil", poolErr(nil))
	}
}

// TestStatusPartsKeepTheirJSON: /status shows the app host and the engine
// in the supervisor's types, byte for byte as pool's types encoded them.
func TestStatusPartsKeepTheirJSON(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	host := pool.HostState{Enabled: true, PID: 7, Restarts: 1, Since: at, Err: "e", ImportError: "no module"}
	engine := pool.EngineState{Engine: pool.EnginePool, Attached: true, Disabled: "d", Processes: 3, Reserved: 2, Prefetch: 12,
		Main: pool.MainState{Name: "w@h", PID: 9, State: pool.Stopping, StartedAt: at, Restarts: 2, FailedStarts: 1, LastOutput: []string{"x"}}}
	for _, tt := range []struct{ from, to any }{
		{host, supervisor.AppHostState(host)},
		{pool.HostState{}, supervisor.AppHostState{}},
		{engine, supervisorEngineState(engine)},
		{pool.EngineState{}, supervisorEngineState(pool.EngineState{})},
	} {
		want, _ := json.Marshal(tt.from)
		got, _ := json.Marshal(tt.to)
		if string(got) != string(want) {
			t.Errorf("JSON = %s, want %s", got, want)
		}
	}
}
