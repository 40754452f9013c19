package supervisor

import "strings"

// consumerTimeoutMarker is in the error RabbitMQ closes a channel with
// when a message it delivered stayed unacknowledged longer than its
// consumer_timeout (30 min by default since RabbitMQ 3.8.15): "(406)
// PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out.
// Timeout value used: … ms". Celery 5.2 logs it as an "Unrecoverable
// error" and its worker ends.
const consumerTimeoutMarker = "delivery acknowledgement on channel"

// reportConsumerTimeout logs and counts an exit that RabbitMQ's
// consumer_timeout caused: the broker requeues the message, so a long task
// (or one with an ETA or countdown, which Celery holds unacknowledged
// until it is due) runs again, and again at every timeout.
func (s *Supervisor) reportConsumerTimeout(e Exit) {
	if !strings.Contains(e.Fatal, consumerTimeoutMarker) || !strings.Contains(e.Fatal, "timed out") {
		return
	}
	s.m.consumerTimeouts.Inc()
	s.log.Error("RabbitMQ closed the worker's channel: a message stayed unacknowledged past the broker's consumer_timeout; "+
		"the broker requeues it, so its task runs again. Raise consumer_timeout (rabbitmq.conf, or the queue's "+
		"x-consumer-timeout) above the longest task and the furthest ETA or countdown",
		"worker", e.Name, "error", e.Fatal)
}
