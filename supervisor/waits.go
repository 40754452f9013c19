package supervisor

import (
	"sync"
	"time"

	"github.com/revrx/revrx-supervise/supervisor/events"
)

// Bounds of the publish times kept for the queue-wait histogram.
const (
	sentCap = 10000            // task-sent events remembered at most
	sentTTL = 30 * time.Minute // a publish time not started within this is forgotten
)

// sentTimes remembers when each task was published (Celery's task-sent
// event, sent by producers with task_send_sent_event) until one of the
// pool's workers starts it, so that revrx_queue_wait_seconds observes
// publish → start. Tasks with an ETA or countdown are not remembered: their
// wait is by design. Bounded: at most sentCap entries, the oldest dropped
// first, each forgotten after sentTTL (another host's worker may start it).
type sentTimes struct {
	mu    sync.Mutex
	byID  map[string]sentTask
	order []string // ids in arrival order, for eviction
}

type sentTask struct {
	at    float64 // the producer's clock, unix seconds
	queue string
}

func newSentTimes() *sentTimes { return &sentTimes{byID: map[string]sentTask{}} }

// sent records a task-sent event for one of queues.
func (t *sentTimes) sent(ev events.Event, queues map[string]bool) {
	if ev.UUID == "" || ev.ETA != "" || !queues[ev.Queue] || ev.Timestamp <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.evict(ev.Timestamp)
	if _, dup := t.byID[ev.UUID]; !dup {
		t.order = append(t.order, ev.UUID)
	}
	t.byID[ev.UUID] = sentTask{at: ev.Timestamp, queue: ev.Queue}
}

// started returns the wait of a task-started event and its queue, and
// forgets the task; ok is false when its publish time is unknown.
func (t *sentTimes) started(ev events.Event) (wait float64, queue string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byID[ev.UUID]
	if !ok {
		return 0, "", false
	}
	delete(t.byID, ev.UUID)
	return max(ev.Timestamp-s.at, 0), s.queue, true // clocks may differ a little
}

// evict drops what is past the TTL at now, or beyond the cap.
func (t *sentTimes) evict(now float64) {
	drop := 0
	for _, id := range t.order {
		s, live := t.byID[id]
		if live && now-s.at < sentTTL.Seconds() && len(t.order)-drop < sentCap {
			break
		}
		delete(t.byID, id)
		drop++
	}
	t.order = t.order[drop:]
}
