// Package supervisor is the control loop of revrx-supervise: it reads the
// backlog of the consumed queues and the workers' task events, asks the pure
// policy (Decide) how many workers should run, and starts or warm-stops
// workers through a Pool. It also serves the read-only HTTP interface
// (/metrics, /livez, /readyz, /status).
//
// The policy is a pure function of an Observation, an instant and a Policy:
//
//	d := supervisor.Decide(supervisor.Observation{
//		Waiting: 42, BrokerOK: true, Workers: views, History: last.History,
//	}, now, supervisor.Policy{Min: 3, Max: 10, TasksPerWorker: 1, Keepalive: 30 * time.Second})
//	// d.Start workers to start, d.Stop idle workers to stop, d.Reason why
//
// Each strategy (queue depth with tolerance, queue wait, time-of-day
// schedules, Celery's own algorithm) proposes a count and the largest wins;
// then the resource guard, the bounds and the HPA behavior apply. History
// (recommendations, changes, timers) goes in and out as values, so the same
// code runs live and in the simulator (package simulate) on a virtual clock.
//
// The loop consumes three small interfaces declared here (Queue, Events,
// Pool, plus the optional Resources, and QueueWatcher when the Queue can
// tell of changes so a new message is read at once), implemented by
// package broker and package pool and faked at that boundary in tests.
package supervisor
