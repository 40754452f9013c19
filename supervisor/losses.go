package supervisor

// OnProcessLost is the pool engine's hook for a pool process that died while
// running a task: Celery fails it with WorkerLostError (and requeues it with
// acks_late and task_reject_on_worker_lost); at its second such death the
// worker main quarantined it instead. Safe from any goroutine.
func (s *Supervisor) OnProcessLost(l ProcessLoss) {
	s.m.processLosses.Inc()
	log := s.log.With("worker", l.Node, "pid", l.PID, "exit_code", l.ExitCode, "task_id", l.TaskID, "task", l.Task)
	if l.Quarantined != "" {
		s.m.tasksQuarantined.Inc()
		log.Warn("quarantined a task that killed two pool processes; requeue it by hand once fixed", "list", l.Quarantined)
		return
	}
	log.Error("a pool process died while running a task (WorkerLostError); Celery redelivers it only with acks_late and task_reject_on_worker_lost",
		"deaths", l.Deaths)
}

// OnQuarantine is the pool engine's hook for a message its worker main could
// not decode or turn into a request: it is in q.Queue as the raw bytes
// popped, and the worker carried on. Safe from any goroutine.
func (s *Supervisor) OnQuarantine(q Quarantine) {
	s.m.tasksQuarantined.Inc()
	s.log.Warn("quarantined an undecodable message; the worker carried on", "worker", q.Node, "list", q.Queue,
		"reason", s.cfg.Scrub(q.Reason), "task_id", q.TaskID, "task", q.Task)
}
