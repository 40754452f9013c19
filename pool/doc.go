// Package pool starts, stops, restarts and reaps Celery worker processes.
// It is the only package of revrx-supervise that imports os/exec, and it is
// Linux-only (process groups, Pdeathsig, waitid, a child subreaper, /proc):
// every file is built for linux only, and on another OS the build fails in
// unsupported.go naming the reason.
//
// Each worker lives in a numbered slot and runs
//
//	Command... [-A App] worker [-Q q1,q2] -n NAME --concurrency C --pool P \
//	    -E --without-mingle --without-gossip --prefetch-multiplier=1 ExtraArgs...
//
// with os.Environ() plus Config.Env as its environment (secrets such as the
// broker URL go there, never in argv, which is world-readable in /proc).
// NAME comes from Config.NameTemplate ("worker{n}@%h"), expanded here so the
// pool's name equals the hostname Celery reports in its events.
//
// Processes:
//   - Every child runs in its own process group with Pdeathsig SIGKILL, and
//     is started from one goroutine locked to its OS thread, so the children
//     die with the supervisor and not with some runtime thread.
//   - A warm stop is SIGTERM to the main PID only: prefork pool children
//     reset SIGTERM and would die mid-task if the group got it. After
//     ShutdownTimeout the whole group is SIGKILLed.
//   - When a main process exits, whatever is left in its group is SIGKILLed
//     (the zombie still pins the group ID), then the exit status is reaped
//     by exec.Cmd.Wait; it is never lost to the optional orphan reaper.
//   - An unexpected exit is restarted after MinBackoff·2^k (capped at
//     MaxBackoff); k resets once a process stayed up 2·FailedStartWindow.
//     After 3 consecutive failed starts one error is logged with the last
//     lines the child printed; retries continue at the capped backoff.
//   - Output is read line by line (lines capped at 64 KiB, invalid UTF-8
//     replaced) and logged on a separate goroutine; a slow logger drops
//     lines rather than blocking a child.
//
// Resources: a Sampler reads the host's CPU and memory use (gopsutil, or
// this process's cgroup limits when they are tighter than the host) and the
// RSS of each worker's process tree (one /proc scan for all workers).
//
// Example:
//
//	p, err := pool.New(pool.Config{
//		Command: []string{"celery"}, App: "proj", Queues: []string{"reports"},
//		Env:    []string{"CELERY_BROKER_URL=" + brokerURL},
//		Logger: logger, Reap: os.Getpid() == 1,
//	})
//	if err != nil { ... }
//	go func() { runErr <- p.Run(ctx) }() // returns after ctx is done and all workers are gone
//	w, err := p.Add()                    // worker1@host
//	...
//	err = p.Stop(w.Name)                 // warm stop; slot 1 is free once it exited
//
//	sm := pool.NewSampler()              // at start-up: Host's first CPU figure is since then
//	u, err := sm.Host()                  // u.CPU, u.Memory in 0..1
//	rss, err := sm.TreeRSS(w.PID)        // bytes; errors.Is(err, pool.ErrNoProcess) once it exited
package pool
