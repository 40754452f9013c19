package main

import (
	"context"
	"time"
)

// The brokers the suite runs on (its -broker flag).
const (
	brokerRedis  = "redis"
	brokerRabbit = "rabbitmq"
)

// brokerMode is what differs between the brokers: the private server and
// its restarts, how tasks and garbage are published, what the broker is
// read for, and the broker's own evidence and expectations. The load, the
// faults' timing and targets, the process sampling, the record and the
// common expectations are shared. redismode.go and rabbitmode.go
// implement it.
type brokerMode interface {
	// start starts the private broker server under dir and the clients the
	// run uses; describe is the setup log line's part about it; url is
	// the supervisor's -b.
	start(ctx context.Context, dir string) error
	describe() string
	url() string
	// stopWhat says how a restart stops the broker; eventsWhere names
	// where Celery's events go (Redis channels, a RabbitMQ exchange).
	stopWhat() string
	eventsWhere() string

	// sender publishes the run's task messages (publisher).
	sender() taskSender
	// sample reads the chaos queue's waiting and unacknowledged messages
	// (brokerWatch), every sampleEvery.
	sample() (queued, unacked int64, err error)
	sampleEvery() time.Duration

	// stopServer and startServer take the broker down and bring it back
	// on the same port from the same data (restartBroker); afterRestart
	// measures, beside the supervisor's recovery, what the mode measures
	// once the broker is back (it fills in res.consumers and res.measured).
	stopServer(ctx context.Context) error
	startServer(ctx context.Context) error
	afterRestart(ctx context.Context, upAt time.Time, res *restartResult)

	// beforeKill reads, just before the SIGKILL of worker main k, what the
	// broker shows it holds, and says it for the log line; watchBack then
	// measures k.back.
	beforeKill(ctx context.Context, k *kill) string
	watchBack(ctx context.Context, k *kill)

	// publishJunk publishes n garbage messages on Celery's event channels.
	publishJunk(ctx context.Context, n int) error
	// pushPoison puts malformed messages (only one if one) or a
	// crash-looping message of kind on the chaos queue and returns them
	// (raw: what the quarantine must hold, ids: their ids, "" if none);
	// poisonFaults reports whether the mode runs them; watchPoison (the
	// pool engine) measures when p's messages reach the quarantine.
	pushPoison(kind faultKind, one bool) (raw, ids []string, err error)
	poisonFaults() bool
	watchPoison(ctx context.Context, p *poisonPush)

	// residual is what is left unacknowledged at the drain's end; inspect
	// is what the broker holds once the last supervisor has stopped.
	residual() residualDump
	inspect() (leftovers, error)

	// explainLosses says of each lost task what the broker's evidence
	// shows, and whether that excuses it; lostWant is that expectation.
	explainLosses(c taskCounts) map[string]lossProof
	lostWant() string
	// backRows prints the SIGKILLed worker mains' messages coming back
	// and returns that expectation; rows and verdicts are the mode's
	// other rows and expectations.
	backRows(t *table) verdict
	rows(t *table)
	verdicts(lo leftovers) []verdict
}

// lossProof is what the broker's evidence shows of one lost task, and
// whether it excuses the loss.
type lossProof struct {
	text    string
	excused bool
}

// residualDump is what was left unacknowledged at the drain's end: how
// many, and a line each for the report.
type residualDump struct {
	n     int
	lines []string
}

// newMode returns the mode of the -broker flag.
func newMode(r *run) brokerMode {
	if r.cfg.broker == brokerRabbit {
		return &rabbitMode{r: r}
	}
	return &redisMode{r: r}
}
