//go:build linux

package pool

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// extRequestTimeout bounds one request to a worker main's extension. The
// extension answers from the worker's event loop, which a long pool
// operation or a broker reconnect (served about once a second) can hold.
const extRequestTimeout = 5 * time.Second

// ErrNoMain is returned by an Engine's requests while no worker main is
// attached (starting, restarting, or its extension is disabled).
var ErrNoMain = errors.New("no worker main is attached")

// extMessage is one message from the extension (see pool/ext/revrx_step.py).
type extMessage struct {
	Type string `json:"type"`
	ID   int    `json:"id"`
	// hello
	PID int    `json:"pid"`
	OK  bool   `json:"ok"`
	Why string `json:"why"`
	// state
	Processes int        `json:"processes"`
	Children  []extChild `json:"children"`
	Reserved  int        `json:"reserved"`
	Running   int        `json:"running"`
	Prefetch  int        `json:"prefetch"`
	// reply
	PIDs    []int  `json:"pids"`
	Stopped []int  `json:"stopped"`
	Refused []int  `json:"refused"`
	Retired []int  `json:"retired"`
	Taken   []int  `json:"reclaimed"`
	Error   string `json:"error"`
	// lost and quarantined
	ExitCode    int    `json:"exitcode"`
	TaskID      string `json:"task_id"`
	Task        string `json:"task"`
	Deaths      int    `json:"deaths"`
	Quarantined string `json:"quarantined"`
	Queue       string `json:"queue"`
	Reason      string `json:"reason"`
}

// extChild is one pool process in a state push.
type extChild struct {
	PID    int     `json:"pid"`
	Index  int     `json:"index"`
	Phase  string  `json:"phase"`
	Since  float64 `json:"since"` // unix seconds
	TaskID string  `json:"task_id"`
	Task   string  `json:"task"`
}

// extConn is the supervisor's end of one worker main's control socket
// (SOCK_SEQPACKET, one JSON object per message). A reader goroutine hands
// every unsolicited message to onPush and every reply to its waiting
// request; it ends when the worker's end is closed (the main exited).
type extConn struct {
	conn *net.UnixConn

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan extMessage
	closed  bool
	done    chan struct{} // closed when the reader has ended
}

// newExtPair returns a connected pair: ours, and the worker's end as a file
// to send with the fork request.
func newExtPair() (*extConn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "revrx-control")
	defer ours.Close() // FileConn dups it
	fc, err := net.FileConn(ours)
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("control socket: %w", err)
	}
	c := &extConn{conn: fc.(*net.UnixConn), waiting: map[int]chan extMessage{}, done: make(chan struct{})}
	return c, os.NewFile(uintptr(fds[1]), "revrx-control-worker"), nil
}

// read dispatches messages until the socket closes, then fails every
// request still waiting and calls onClose.
func (c *extConn) read(onPush func(extMessage), onClose func()) {
	defer close(c.done)
	buf := make([]byte, 1<<20)
	for {
		n, err := c.conn.Read(buf)
		if err != nil || n == 0 {
			break
		}
		var m extMessage
		if json.Unmarshal(buf[:n], &m) != nil {
			continue // never from our extension; ignore rather than die
		}
		if m.Type == "reply" {
			c.deliver(m)
			continue
		}
		onPush(m)
	}
	c.close()
	onClose()
}

func (c *extConn) deliver(m extMessage) {
	c.mu.Lock()
	ch := c.waiting[m.ID]
	delete(c.waiting, m.ID)
	c.mu.Unlock()
	if ch != nil {
		ch <- m // buffered
	}
}

// request sends req (an "op" and its arguments) and waits for the reply.
func (c *extConn) request(req map[string]any) (extMessage, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return extMessage{}, ErrNoMain
	}
	c.nextID++
	id := c.nextID
	ch := make(chan extMessage, 1)
	c.waiting[id] = ch
	c.mu.Unlock()
	req["id"] = id
	msg, err := json.Marshal(req)
	if err == nil {
		_ = c.conn.SetWriteDeadline(time.Now().Add(extRequestTimeout))
		_, err = c.conn.Write(msg)
	}
	if err != nil {
		c.forget(id)
		return extMessage{}, fmt.Errorf("control request %v: %w", req["op"], err)
	}
	t := time.NewTimer(extRequestTimeout)
	defer t.Stop()
	select {
	case m, ok := <-ch:
		if !ok {
			return extMessage{}, ErrNoMain
		}
		if m.Error != "" {
			return m, fmt.Errorf("control request %v: %s", req["op"], m.Error)
		}
		return m, nil
	case <-t.C:
		c.forget(id)
		return extMessage{}, fmt.Errorf("control request %v: no answer within %s", req["op"], extRequestTimeout)
	}
}

func (c *extConn) forget(id int) {
	c.mu.Lock()
	delete(c.waiting, id)
	c.mu.Unlock()
}

// close closes the socket and fails the waiting requests; idempotent.
func (c *extConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	_ = c.conn.Close()
	for id, ch := range c.waiting {
		close(ch)
		delete(c.waiting, id)
	}
}
