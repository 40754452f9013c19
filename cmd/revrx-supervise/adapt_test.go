package main

import (
	"errors"
	"fmt"
	"testing"

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
