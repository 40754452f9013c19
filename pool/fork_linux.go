package pool

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// forkTimeout bounds one fork request; a host that does not answer in time
// is killed (and restarted) and the worker is exec'd.
const forkTimeout = 10 * time.Second

// forkRequest asks the host for one worker; the worker's stdout and stderr
// travel with it as SCM_RIGHTS file descriptors.
type forkRequest struct {
	Type string            `json:"type"`
	ID   int               `json:"id"`
	Name string            `json:"name"` // the node name, also the process name
	Argv []string          `json:"argv"`
	Env  map[string]string `json:"env"`
	// Ext, for a pool-engine main, is the extension's settings; a third
	// descriptor, the worker's end of its control socket, comes with it.
	Ext map[string]any `json:"ext,omitempty"`
}

type forkReply struct {
	Type  string `json:"type"`
	ID    int    `json:"id"`
	PID   int    `json:"pid"`
	Error string `json:"error"`
}

// forkWorker has sp.forking fork the worker sp.name. The request runs under
// the children registry's lock, so the reaper cannot take the worker (an
// orphan re-parented to this process) before it is registered as managed.
func forkWorker(sp spawn, pipes outputPipes) (*process, error) {
	env := make(map[string]string, len(sp.cfg.Env))
	for _, kv := range sp.cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	req := forkRequest{Type: "fork", Name: sp.name, Argv: celeryArgs(sp.cfg, sp.name), Env: env}
	files := []*os.File{pipes.outW, pipes.errW}
	if a := sp.cfg.attach; a != nil {
		end, settings, err := a.attach(sp.name)
		if err != nil {
			return nil, fmt.Errorf("control socket: %w", err)
		}
		defer end.Close() // the worker has its own copy once forked
		req.Ext, files = settings, append(files, end)
	}
	pid, err := sp.svc.children.adopt(func() (int, error) {
		return sp.forking.fork(req, files...)
	})
	if err != nil {
		if a := sp.cfg.attach; a != nil {
			a.detach()
		}
		return nil, err
	}
	return &process{pid: pid, spawn: SpawnFork, startedAt: time.Now(), done: make(chan struct{}), fatal: newFatalSignal(),
		reap: func() (unix.WaitStatus, error) { return wait4(pid) }}, nil
}

// fork sends req with its descriptors (stdout, stderr and, for a pool-engine
// main, its control socket) and returns the new worker's PID. Every failure
// wraps ErrHostDown: the caller execs the worker instead (or, for a
// pool-engine main, retries the fork).
func (h *AppHost) fork(req forkRequest, files ...*os.File) (int, error) {
	h.reqMu.Lock()
	defer h.reqMu.Unlock()
	h.mu.Lock()
	conn := h.conn
	h.mu.Unlock()
	if conn == nil {
		return 0, ErrHostDown
	}
	h.reqID++
	req.ID = h.reqID
	msg, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("fork request: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(forkTimeout))
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	rights := unix.UnixRights(fds...)
	if _, _, err := conn.WriteMsgUnix(msg, rights, nil); err != nil {
		return 0, fmt.Errorf("%w: send fork request: %w", ErrHostDown, err)
	}
	buf := make([]byte, 64<<10)
	n, _, _, _, err := conn.ReadMsgUnix(buf, nil)
	if err != nil || n == 0 {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			h.killHost()
		}
		return 0, fmt.Errorf("%w: no answer to the fork request: %w", ErrHostDown, err)
	}
	var r forkReply
	if err := json.Unmarshal(buf[:n], &r); err != nil || r.ID != req.ID {
		h.killHost()
		return 0, fmt.Errorf("%w: bad answer to fork request %d", ErrHostDown, req.ID)
	}
	if r.Type != "forked" || r.PID <= 0 {
		return 0, fmt.Errorf("%w: fork failed: %s", ErrHostDown, r.Error)
	}
	return r.PID, nil
}

// killHost SIGKILLs a host that stopped answering; run restarts it.
func (h *AppHost) killHost() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state.PID > 0 {
		_ = unix.Kill(-h.state.PID, unix.SIGKILL)
	}
}
