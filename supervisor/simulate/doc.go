// Package simulate replays a load trace through the scaling policy
// (policy.Decide, the same function the supervisor runs) on a virtual
// clock: no Redis, no worker processes, no sleeping and no reading of the
// real time. The same inputs give byte-identical summaries and charts, so a
// policy change can be judged on the reference traces in milliseconds and
// pinned by golden files.
//
//	tr, _ := simulate.ReadTrace("burst.trace")
//	p := policy.Config{Min: 3, Max: 10, TasksPerWorker: 1, Keepalive: 30 * time.Second}
//	rep, _ := simulate.Simulate(tr, []simulate.Model{simulate.PoolModel(p), simulate.CeleryModel(p)},
//		simulate.DefaultStart, 0)
//	simulate.WriteSummary(os.Stdout, rep)
//
// The command line is `revrx-supervise simulate` (cmd/revrx-supervise).
//
// # Trace
//
// One "at_seconds count task_seconds [queue]" line per batch: at that
// offset, count tasks are published to queue, each running task_seconds
// ('#' starts a comment, blank lines are ignored, lines are in time order).
// The queue column is optional: a line without one publishes to
// DefaultQueue ("celery"), so three-column traces load as they always did.
// A run without queue groups ignores the column (one pool consumes every
// queue); with queue groups (Model.Groups) each task goes to the group
// whose queues include its queue, and a queue in no group is an error.
//
//	0    4  25   video   # four 25 s tasks on the video queue
//	2.5  40 0.5  audio   # a burst of 40 short ones on audio
//	3    1  2            # one 2 s task on the default queue
//
// A comment line "# ramp START-END" (seconds) marks a ramp window: the
// tasks arriving in [START, END) count for the summary's "wait p95 during
// ramps" (Result.RampWait), the figure a learned floor is judged on. A
// trace may mark any number; a comment whose second word does not begin
// with a digit ("# ramp up to 6/s") stays a comment.
//
//	# ramp 60-80         # the tasks arriving from 60 s to before 80 s
//
// # Model
//
// Time is an offset from a fixed start instant (DefaultStart unless told;
// time-of-day schedules see start + offset). At each instant where something
// happens, in this order: running tasks that are due end; stopped workers
// whose stop time is over leave; started workers whose spawn time is over
// come online (idle since then); tasks due arrive at the back of one FIFO
// queue (the broker); workers take tasks; and, on a decision instant, Decide
// runs on what that leaves and its decision is applied at once (then the
// pool engine's main fetches for the processes it forked).
//
// Two engines, as revrx-supervise --engine has them: the pool engine
// (PoolModel, the default), whose "workers" are the pool processes of one
// worker main, and the workers engine (RevrxModel), whose workers are whole
// Celery workers.
//
//   - Pool engine (PoolModel). Each process has one slot and reserves
//     nothing. The worker main fetches for all of them, oldest first, while
//     it holds fewer than Multiplier tasks per process not stopping
//     (starting ones included: it raises its prefetch when it forks),
//     running ones included, as with task_acks_late; it hands each task it
//     holds to the idle process of the lowest index (as the engine's main
//     does, so the surplus reaches its keepalive). So with multiplier 1
//     a task waits in the broker until a process is free, and a task never
//     waits behind another process's long one. Decide gets what the main
//     holds that no process took as Observation.Reserved. The n processes
//     one decision forks take tasks together, SpawnTime + (n−1) × ForkEach
//     later (DefaultPoolSpawnTime, DefaultPoolForkEach: they compete for
//     the CPU); a stop ends an idle process at once, which still counts
//     against MAX for StopTime (DefaultPoolStopTime). Processes are named
//     process1, process2, … by the lowest free slot.
//   - Workers engine (RevrxModel). A worker has Concurrency slots and,
//     like a prefork worker with --prefetch-multiplier=1 (and early acks),
//     reserves Prefetch more tasks beyond its running ones (Received in
//     WorkerView); a reserved task starts on that worker when one of its
//     slots frees, never on another. Decide sees a worker (or a pool
//     process) as starting (from its start until SpawnTime later), idle
//     (IdleSince: when it came online or last ran out of tasks), busy, or
//     stopping.
//   - Delivery (workers engine). Queued tasks go, oldest first, to the worker whose fetch
//     has waited longest, as Redis serves blocked BRPOPs first come, first
//     served: a worker that just took a task and still has room fetches
//     again at the back of the line. So a trickle of tasks rotates over
//     all workers, and a busy worker with a free prefetch place can take a
//     task that an idle worker would have run at once.
//   - Decisions. Every PollInterval from PollOffset, Decide gets
//     Observation{Waiting: queue length, Reserved (pool engine),
//     OldestWait: age of the oldest queued task, BrokerOK: true, Workers,
//     History from the last decision}. With ChangeSettle set (the pool
//     engine's default), a broker change (a task pushed, or popped by a
//     worker or the main) also brings a decision, as the supervisor's
//     queue watch does (supervisor/watch.go): ChangeSettle later and at
//     least ChangeGap after the previous decision; a decision of any cause
//     covers a change held for later, and a change while one is held
//     brings one more decision ChangeSettle after it; a change at a
//     decision's instant brings the next one. The host is not simulated
//     (HostUsage zero: the guard never acts) and workers use no memory.
//     Start n: n workers start now, each in the lowest free slot (worker1,
//     worker2, …), online SpawnTime later. Stop: the named workers must be
//     idle (the simulation fails otherwise: that would be a policy bug);
//     they take no more tasks and leave StopTime later.
//   - Start. MIN workers are online when the trace starts, as in the
//     benchmark, which publishes once the contender is ready.
//   - Celery (CeleryModel). Celery's --autoscale runs in one worker whose
//     prefork pool it grows and shrinks: Decide with AlgorithmCelery over
//     pool processes of one slot. Its main forks them one at a time,
//     without gc.freeze(), each online DefaultCeleryForkTime (0.18 s) after
//     the previous one. The main process prefetches up to MAX × multiplier
//     tasks for the whole pool and hands each to a free process, so
//     processes reserve nothing and the queue stands for the broker plus
//     that prefetch (Decide caps qty). The autoscaler runs on every task
//     message (a broker change, 1 ms later) and on a tick every keepalive
//     from the worker's ready, DefaultCeleryReadyLead before t=0: its only
//     scale-down without a message.
//   - Tasks (all engines with the measured defaults). A task starts
//     StartDelay after a process takes it (counted in its wait) and holds
//     the process RunOverhead longer than its task_seconds, as measured in
//     the reference benchmark; a task handed over but not yet running is
//     Received in WorkerView. So a batch arriving each second finds the
//     previous one still running, as the real runs do.
//
// Defaults of the workers engine: SpawnTime 1.1 s (exec to first task of a
// prefork worker with --without-mingle --without-gossip, measured),
// decisions every 1 s, Prefetch 1, StopTime 0.1 s (warm stop of an idle
// worker), no task overheads. Of the pool engine: SpawnTime 0.15 s and
// ForkEach 0.04 s (seven processes ready 0.39 s after Grow(7),
// docs/benchmark.md), StopTime 0.05 s, Multiplier = the policy's
// PrefetchMultiplier (at least 1), StartDelay 10 ms, RunOverhead 1 ms,
// decisions every 1 s and ChangeSettle 0.1 s after a broker change (at
// least ChangeGap 0.05 s after the previous one), the supervisor's values.
//
// # Queue groups
//
// With Model.Groups (simulate -Q video:0-10,audio:0-10), each group has
// its own pool of the model's engine, its own FIFO queue (the tasks of its
// queues), its own Decide with the group's range and its own decision
// clock, and the pools share one host budget of Policy.Max processes as
// the supervisor's groups do: at each decision the group's load (LoadOf:
// what it holds, what its own Decide wants without the budget, its moving
// mean runtime) goes to one policy.Ledger, whose Grant is the group's
// Allocation (Observation.Budget) for the decision it then takes. At an
// instant the groups step in their -Q order. The summary's figures are
// host-wide (waits of every task, process-seconds and peak of all pools
// together, the chart's series summed), and a table gives each group's
// wait p50 and p95, process-seconds, peak processes and tasks finished,
// then whether the host stayed within MAX and each group within its cap
// (Result.BoundsViolations). The MIN processes online at the start are
// each group's minimum.
//
// # Learned floor
//
// With Model.Predict (simulate --predict on --predict-period P), each
// decision's Observation.Forecast is the pool's own policy.Pattern's
// forecast over the next ForecastLead (a process's SpawnTime plus the
// PollInterval: the supervisor's lead is its measured start-up plus the
// poll interval), set before a queue group asks the host budget for its
// part; after each decision policy.Needed is observed at its instant, as
// the supervisor's tick does. Each group's pool learns its own pattern.
// Nothing is forecast before one full period since the first decision, so
// the first period is the run without prediction, decision for decision.
// --predict forecast changes no decision and runs as off. A report with a
// run that predicts and one that does not (--compare nopredict) ends its
// table with their ratios: wait p95 during ramps (target at most x0.5),
// after the first period, overall, and worker-seconds (target at most
// +10 %), and whether the first period changed the pool the same way.
//
// # Calibration
//
// With `--autoscale=10,3 --horizon 110s` (the benchmark's window) the
// models are checked against the reference benchmark of 2026-12-02
// (docs/benchmark.md) by TestCalibration: wait p95 and worker-seconds
// within ±25 % (±0.05 s for a wait p95 under 0.2 s), except where that
// test lists a known miss.
//
// # Measures
//
// Over [0, horizon]: each started task's wait (start − arrival;
// nearest-rank p50, p95 and max), and the p95 of the tasks that arrived
// in a ramp window when the trace marks any; worker-seconds, the integral of workers
// alive (starting, online or stopping) × concurrency, i.e. execution slots
// as the benchmark measures them; peak workers; scaling events (workers
// started plus stopped by decisions); direction changes (how often the
// sign of successive non-zero changes flips: flapping); tasks finished and
// unfinished. The default horizon lets every model drain the trace and
// then sit out a keepalive: the last task's end plus the keepalive,
// rounded up to a second, at least 110 s (the benchmark's window).
//
// # Limits
//
// Tasks have fixed overheads and no CPU contention; a batch's tasks all
// arrive at one instant (the producer spreads them over ~40 ms), and
// events of one instant are simultaneous, so a batch that
// arrives on a decision instant is seen by that decision (PollOffset moves
// the decisions off the arrivals). Celery's autoscaler is Decide's
// emulation of it (supervisor/celery.go), not Celery. The supervisor also
// decides when the pool engine's main reports a change of its processes
// (within about 0.1 s), and the workers engine has the same queue watch as
// the pool engine; the model has neither, so a scale-up that processes
// still stopping held back waits for the next broker change or poll, and
// RevrxModel decides on its polls only. Celery's main here sees the whole
// queue at once; the real one receives a message per turn of its event
// loop, which a fork blocks, so it grows one process per message and more
// slowly than the model on a spike (spiky's wait p95: 0.70 s against the
// bench's 1.01 s).
package simulate
