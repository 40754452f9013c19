// Package events is the supervisor's model of its workers from their Celery
// events: which tasks each worker node has received and is running, since
// when it is idle, which tasks ended and how (Tracker).
//
// It is pure: no I/O, and no clock read other than the times its callers
// pass in. A broker package decodes the events from its wire format
// (broker.DecodeMessage for Redis) and the caller converts them to Event at
// the edge, so the model serves any broker and is tested without one.
// Pub/sub delivery is lossy: heartbeats reconcile what a lost event left
// behind.
//
// Example:
//
//	tr := events.NewTracker()
//	// for each decoded event, in order, from one subscriber:
//	if c, ok := tr.Observe(ev, time.Now()); ok {
//		log.Info("task done", "outcome", c.Outcome, "worker", c.Worker)
//	}
//	activity := tr.Snapshot(time.Now()) // node name -> Activity
package events
