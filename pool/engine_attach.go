//go:build linux

package pool

import (
	"os"
)

// Log keys of the engine.
const (
	keyTask   = "task"
	keyTaskID = "task_id"
)

// attach makes the control socket of a new start of the worker main: the
// worker's end travels with the fork request, ours is read from now on.
func (e *Engine) attach(name string) (*os.File, map[string]any, error) {
	conn, end, err := newExtPair()
	if err != nil {
		return nil, nil, err
	}
	e.mu.Lock()
	if e.pending != nil {
		e.pending.close()
	}
	e.pending = conn
	e.mu.Unlock()
	e.readers.Go(func() { conn.read(func(m extMessage) { e.onPush(conn, m) }, func() { e.onClose(conn) }) })
	settings := map[string]any{
		"multiplier": max(e.cfg.Main.PrefetchMultiplier, 1), "max": e.max,
	}
	return end, settings, nil
}

// detach drops the socket of a start whose fork failed.
func (e *Engine) detach() {
	e.mu.Lock()
	conn := e.pending
	e.pending = nil
	e.mu.Unlock()
	if conn != nil {
		conn.close()
	}
}

// onPush handles one unsolicited message of conn's worker main.
func (e *Engine) onPush(conn *extConn, m extMessage) {
	switch m.Type {
	case "hello":
		e.mu.Lock()
		if e.pending == conn {
			e.pending = nil
		}
		e.conn, e.mainPID, e.disabled = conn, m.PID, ""
		if !m.OK {
			e.disabled = m.Why
		}
		e.mu.Unlock()
		if !m.OK {
			e.log.Error("the pool engine's extension refused to run in this worker; its pool stays as it is", keyReason, m.Why)
		}
	case "state":
		e.mu.Lock()
		if e.conn == conn {
			e.state = m
		}
		e.mu.Unlock()
	case "lost":
		e.onLost(m)
	case "quarantined":
		q := Quarantine{Node: e.node, Queue: m.Queue, Reason: m.Reason, TaskID: m.TaskID, Task: m.Task}
		e.main.reports.add(func(r *Reports) { r.Quarantines = append(r.Quarantines, q) })
	}
	e.notify()
}

func (e *Engine) onLost(m extMessage) {
	l := ProcessLoss{Node: e.node, TaskID: m.TaskID, Task: m.Task, PID: m.PID, ExitCode: m.ExitCode,
		Deaths: m.Deaths, Quarantined: m.Quarantined}
	e.main.reports.add(func(r *Reports) { r.Losses = append(r.Losses, l) })
}

// onClose forgets conn once its worker main is gone.
func (e *Engine) onClose(conn *extConn) {
	e.mu.Lock()
	if e.conn == conn {
		e.conn, e.state, e.mainPID, e.disabled = nil, extMessage{}, 0, ""
	}
	if e.pending == conn {
		e.pending = nil
	}
	e.mu.Unlock()
	e.notify()
}
