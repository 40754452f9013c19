// Package broker reads what revrx-supervise needs from a Celery Redis
// broker, and is the only package that imports the Redis client.
//
// It provides:
//
//   - ParseURL and Redact: every Celery/kombu Redis broker URL form
//     (redis, rediss with ssl_* options, unix and redis+socket, sentinel
//     lists) translated to client options, and a log-safe form of any
//     broker string. No error or log line carries a password.
//   - Redis.QueueDepths: the backlog per queue, summing the queue list and
//     kombu's priority sub-lists (queue+"\x06\x16"+step) under the
//     global_keyprefix, for all queues in one pipelined round trip. Redis
//     deletes empty lists, so a missing key is depth 0.
//   - Redis.Backlogs: the same depths plus the age of each queue's oldest
//     waiting message (the tails, LINDEX -1, read in the same round trip):
//     exact from a published_at header, else a lower bound from when the
//     client first saw the message.
//   - DecodeMessage and Redis.SubscribeEvents: Celery events (worker-online,
//     worker-heartbeat, the batched task.multi task events, ...) decoded from
//     the kombu envelopes published on KeyPrefix+"/{db}.celeryev/*". What
//     they mean for each worker (tasks held, idle since) is modelled by
//     package supervisor/events, which does no I/O. AMQP.SubscribeEvents
//     delivers the same events from RabbitMQ's "celeryev" topic exchange
//     (plain JSON bodies, no envelope), on a connection of its own.
//   - Redis.SubscribeChanges: a call soon after any of the queues' lists is
//     written (Redis client tracking in broadcasting mode, RESP2), so the
//     caller reads the depths at once instead of on a timer; ErrNoTracking
//     when the server refuses it.
//
// Example:
//
//	r, err := broker.New(broker.Config{URL: os.Getenv("CELERY_BROKER_URL"), Logger: log})
//	if err != nil {
//		return err
//	}
//	defer r.Close()
//	depths, err := r.QueueDepths(ctx, []string{"reports", "celery"})
//	backlogs, err := r.Backlogs(ctx, []string{"reports"}, time.Now())
//	// backlogs["reports"].OldestAge, .AgeExact
//
//	go r.SubscribeEvents(ctx, func(ev broker.Event) {
//		log.Info("event", "type", ev.Type, "worker", ev.Hostname)
//	}, func(up bool) { log.Info("events", "up", up) })
package broker
