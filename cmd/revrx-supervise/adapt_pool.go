package main

import (
	"errors"
	"fmt"

	"github.com/revrx/revrx-supervise/pool"
	"github.com/revrx/revrx-supervise/supervisor"
)

// poolEngine is what both engines (pool.Pool, pool.Engine) offer the
// supervisor, in pool's types.
type poolEngine interface {
	Add() (pool.Worker, error)
	Stop(name string) error
	Reclaim(name string) error
	Retire(name string) error
	Workers() []pool.Worker
	Changed() <-chan struct{}
	Reported() <-chan struct{}
	TakeReports() pool.Reports
	HostState() pool.HostState
}

// poolAdapter is the whole-worker engine as the supervisor consumes it
// (supervisor.Pool and HostStater), in the supervisor's types.
type poolAdapter struct{ p poolEngine }

// engineAdapter is the pool engine as the supervisor consumes it: a
// poolAdapter that is also a ProcessPool and an EngineStater.
type engineAdapter struct {
	poolAdapter
	e *pool.Engine
}

// adaptPool returns the adapter for wp's engine: the supervisor finds the
// pool engine's extra interfaces by type assertion, so only the pool
// engine's adapter has them.
func adaptPool(wp workerPool) supervisor.Pool {
	if e, ok := wp.(*pool.Engine); ok {
		return engineAdapter{poolAdapter{e}, e}
	}
	return poolAdapter{wp}
}

func (a poolAdapter) Add() error {
	_, err := a.p.Add()
	return poolErr(err)
}

func (a poolAdapter) Stop(name string) error    { return poolErr(a.p.Stop(name)) }
func (a poolAdapter) Reclaim(name string) error { return poolErr(a.p.Reclaim(name)) }
func (a poolAdapter) Retire(name string) error  { return poolErr(a.p.Retire(name)) }
func (a poolAdapter) Changed() <-chan struct{}  { return a.p.Changed() }
func (a poolAdapter) Reported() <-chan struct{} { return a.p.Reported() }

// TakeReports converts the pool's reports; losses and quarantines have the
// supervisor's fields (conversions that compile only while they do).
func (a poolAdapter) TakeReports() supervisor.Reports {
	r := a.p.TakeReports()
	var out supervisor.Reports
	for _, e := range r.Exits {
		out.Exits = append(out.Exits, supervisor.Exit{
			Name: e.Name, Status: e.Status, Forked: e.Spawn == pool.SpawnFork, Died: e.Died, PoolMain: e.PoolMain, Fatal: e.Fatal,
		})
	}
	for _, rs := range r.Restarts {
		out.Restarts = append(out.Restarts, supervisor.Restart{Name: rs.Name, Reason: rs.Reason})
	}
	for _, l := range r.Losses {
		out.Losses = append(out.Losses, supervisor.ProcessLoss(l))
	}
	for _, q := range r.Quarantines {
		out.Quarantines = append(out.Quarantines, supervisor.Quarantine(q))
	}
	return out
}

func (a poolAdapter) Workers() []supervisor.Worker {
	ws := a.p.Workers()
	out := make([]supervisor.Worker, len(ws))
	for i, w := range ws {
		out[i] = supervisorWorker(w)
	}
	return out
}

func (a poolAdapter) HostState() supervisor.AppHostState {
	return supervisor.AppHostState(a.p.HostState())
}

func (a engineAdapter) Grow(n int) (int, error) {
	started, err := a.e.Grow(n)
	return started, poolErr(err)
}

func (a engineAdapter) Drain(n int) (int, error) {
	retired, err := a.e.Drain(n)
	return retired, poolErr(err)
}

func (a engineAdapter) Reserved() int { return a.e.Reserved() }
func (a engineAdapter) Node() string  { return a.e.Node() }

func (a engineAdapter) State() supervisor.EngineState { return supervisorEngineState(a.e.State()) }

// supervisorEngineState converts the engine's state for /status, whose JSON
// it keeps (adapt_test.go).
func supervisorEngineState(st pool.EngineState) supervisor.EngineState {
	m := st.Main
	return supervisor.EngineState{
		Engine: st.Engine, Attached: st.Attached, Disabled: st.Disabled,
		Processes: st.Processes, Reserved: st.Reserved, Prefetch: st.Prefetch,
		Main: supervisor.EngineMain{
			Name: m.Name, PID: m.PID, State: supervisor.WorkerState(m.State), StartedAt: m.StartedAt,
			Restarts: m.Restarts, FailedStarts: m.FailedStarts, LastOutput: m.LastOutput,
		},
	}
}

// supervisorWorker converts one worker; pool.State and pool.ProcessPhase
// have the supervisor's values (adapt_test.go).
func supervisorWorker(w pool.Worker) supervisor.Worker {
	out := supervisor.Worker{
		Name: w.Name, Slot: w.Slot, PID: w.PID, State: supervisor.WorkerState(w.State), StartedAt: w.StartedAt,
		Spawn: w.Spawn, Restarts: w.Restarts, FailedStarts: w.FailedStarts, LastOutput: w.LastOutput,
		Node: w.Node, NodePID: w.NodePID,
	}
	if p := w.Process; p != nil {
		out.Process = &supervisor.Process{Phase: supervisor.ProcessPhase(p.Phase), Since: p.Since, TaskID: p.TaskID, Task: p.Task}
	}
	return out
}

// poolErr marks the pool's errors the supervisor acts on with its own
// sentinels; err stays in the chain and in the message.
func poolErr(err error) error {
	for _, m := range []struct{ from, to error }{
		{pool.ErrBusy, supervisor.ErrBusy},
		{pool.ErrShuttingDown, supervisor.ErrShuttingDown},
		{pool.ErrNoMain, supervisor.ErrNoMain},
	} {
		if errors.Is(err, m.from) {
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return err
}

// sampler is the host's sampler as the supervisor's Resources.
type sampler struct{ *pool.Sampler }

func (s sampler) Host() (supervisor.HostUsage, error) {
	u, err := s.Sampler.Host()
	return supervisor.HostUsage{CPU: u.CPU, Memory: u.Memory}, err
}
