// Package supervisor is the control loop of revrx-supervise: it reads the
// backlog of the consumed queues and the workers' task events, asks the pure
// policy (package policy, policy.Decide) how many workers should run, and
// starts or warm-stops workers through a Pool. It records what it saw and
// did as a Status (Snapshot), the status page's history (Timeline) and its
// checks (Live, Ready), which package web serves over HTTP.
//
// Each tick turns what the pool, the broker and the host report into a
// policy.Observation (converting at this boundary: the policy imports
// nothing of pool or broker), carries the History of the last
// policy.Decision into the next, and acts on the decision.
//
// The loop consumes three small interfaces declared here (Queue, Events,
// Pool, plus the optional Resources, and QueueWatcher when the Queue can
// tell of changes so a new message is read at once), in its own types
// (boundary.go; events in package supervisor/events): it imports neither
// package broker nor package pool. Adapters in cmd/revrx-supervise convert
// their values at that boundary, and tests fake it.
package supervisor
