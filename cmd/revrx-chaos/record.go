package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// runStart is one "start" line of the task record (examples/app/tasks.py,
// REVRX_RECORD): which pool process began running a task, and when.
type runStart struct {
	pid    int     // the pool child that ran it
	main   int     // its worker main process (its parent when the line was read), 0 if unknown
	worker string  // Celery node name
	at     float64 // Unix seconds
}

// recordLine is the part of a record line the harness reads.
type recordLine struct {
	Event   string  `json:"event"`
	ID      string  `json:"id"`
	Worker  string  `json:"worker"`
	PID     int     `json:"pid"`
	Started float64 `json:"started"`
}

// record follows the task record file as the workers append to it.
type record struct {
	path    string
	readMu  sync.Mutex // serializes poll: it is called from several goroutines
	off     int64
	partial []byte

	mu       sync.Mutex
	starts   map[string][]runStart
	ends     map[string]int
	inflight map[int]map[string]bool // pool child pid -> ids started, not ended
}

func newRecord(path string) *record {
	return &record{path: path, starts: map[string][]runStart{}, ends: map[string]int{},
		inflight: map[int]map[string]bool{}}
}

// poll reads the lines appended since the last call.
func (r *record) poll() {
	r.readMu.Lock()
	defer r.readMu.Unlock()
	f, err := os.Open(r.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(r.off, io.SeekStart); err != nil {
		return
	}
	b, _ := io.ReadAll(f)
	r.off += int64(len(b))
	b = append(r.partial, b...)
	last := bytes.LastIndexByte(b, '\n')
	if last < 0 {
		r.partial = b
		return
	}
	r.partial = append([]byte(nil), b[last+1:]...)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, line := range bytes.Split(b[:last], []byte{'\n'}) {
		var l recordLine
		if json.Unmarshal(line, &l) == nil && l.ID != "" {
			r.addLocked(l)
		}
	}
}

func (r *record) addLocked(l recordLine) {
	switch l.Event {
	case "start":
		s := runStart{pid: l.PID, worker: l.Worker, at: l.Started}
		if st, ok := harness.ReadStat(l.PID); ok && !st.Zombie() {
			s.main = st.PPID
		}
		r.starts[l.ID] = append(r.starts[l.ID], s)
		if r.inflight[l.PID] == nil {
			r.inflight[l.PID] = map[string]bool{}
		}
		r.inflight[l.PID][l.ID] = true
	case "end":
		r.ends[l.ID]++
		delete(r.inflight[l.PID], l.ID)
	}
}

// follow polls every interval until stop closes, and once more then.
func (r *record) follow(stop <-chan struct{}, interval time.Duration) {
	every(stop, interval, true, func(time.Time) { r.poll() })
}

// running returns, per pool child pid, the ids it is running now.
func (r *record) running() map[int][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int][]string{}
	for pid, ids := range r.inflight {
		for id := range ids {
			out[pid] = append(out[pid], id)
		}
	}
	return out
}

// snapshot copies the starts and ends.
func (r *record) snapshot() (map[string][]runStart, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	starts := make(map[string][]runStart, len(r.starts))
	for k, v := range r.starts {
		starts[k] = append([]runStart(nil), v...)
	}
	ends := make(map[string]int, len(r.ends))
	for k, v := range r.ends {
		ends[k] = v
	}
	return starts, ends
}
