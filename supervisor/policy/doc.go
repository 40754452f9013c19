// Package policy is the pure scaling policy of revrx-supervise: how many
// Celery worker processes should run, and which idle ones to stop, as a
// function of an Observation, an instant and a Config. It does no I/O, reads
// no clock and logs nothing, and it imports only the standard library, so
// the same code runs in the supervisor's loop and in the simulator (package
// simulate) on a virtual clock, on any platform Go builds for.
//
//	d := policy.Decide(policy.Observation{
//		Waiting: 42, BrokerOK: true, Workers: views, History: last.History,
//	}, now, policy.Config{Min: 3, Max: 10, TasksPerWorker: 1, Keepalive: 30 * time.Second})
//	// d.Reclaim and d.Start workers to add, d.Stop idle workers to stop, d.Reason why
//
// Each strategy (queue depth with tolerance, queue wait, time-of-day
// schedules) proposes a count and the largest wins; then the resource guard,
// the bounds and the HPA behavior apply. AlgorithmCelery replaces all of them
// with Celery's own --autoscale algorithm, for comparison. History
// (recommendations, changes, timers) goes in and out as values: pass each
// Decision's History to the next Decide.
//
// What the policy needs from the world comes in its own small types
// (WorkerView, HostUsage); the supervisor converts what the pool and the
// broker report into them.
package policy
