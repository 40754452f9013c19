package supervisor

// takeReports applies what the pool reported since the last call: exits
// are queued for settling (with what the tracker says they ran, so it must
// run before forgetReplaced drops their nodes), restarts counted, losses
// and quarantines counted and logged. Only the loop's goroutine calls it.
func (s *Supervisor) takeReports() {
	r := s.pool.TakeReports()
	for _, e := range r.Exits {
		s.onWorkerExit(e)
	}
	for _, rs := range r.Restarts {
		s.m.restarts.WithLabelValues(rs.Reason).Inc()
	}
	for _, l := range r.Losses {
		s.onProcessLost(l)
	}
	for _, q := range r.Quarantines {
		s.onQuarantine(q)
	}
}

// onProcessLost reports a pool process that died while running a task:
// Celery fails it with WorkerLostError (and requeues it with acks_late and
// task_reject_on_worker_lost); at its second such death the worker main
// quarantined it instead.
func (s *Supervisor) onProcessLost(l ProcessLoss) {
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

// onQuarantine reports a message a worker main could not decode or turn
// into a request: it is in q.Queue as the raw bytes popped, and the worker
// carried on.
func (s *Supervisor) onQuarantine(q Quarantine) {
	s.m.tasksQuarantined.Inc()
	s.log.Warn("quarantined an undecodable message; the worker carried on", "worker", q.Node, "list", q.Queue,
		"reason", s.cfg.Scrub(q.Reason), "task_id", q.TaskID, "task", q.Task)
}
