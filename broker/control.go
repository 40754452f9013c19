package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// controlExpiry is how long a remote-control message stays valid.
const controlExpiry = 30 * time.Second

// ShutdownWorkers broadcasts Celery's remote-control `shutdown` command to
// the named workers (docs/celery-on-redis.md, "Remote control"): a fire-and-forget
// PUBLISH on the pidbox
// channel, KeyPrefix + "/{db}.celery.pidbox", with a destination list.
//
// A worker handles control messages in its consumer's event loop, so a
// worker with the solo pool, which runs its task in that same thread, only
// sees the command after the running task has returned: it is the only warm
// stop the solo pool has (SIGTERM raises inside the task, which is acked and
// lost). Prefork workers shut down warm either way. It returns an error if
// the message could not be published; a worker that is not listening simply
// does not stop, so the caller must still bound the wait.
func (r *Redis) ShutdownWorkers(ctx context.Context, names []string) error {
	if err := r.control(ctx, "shutdown", map[string]any{}, names); err != nil {
		return fmt.Errorf("remote shutdown: %w", err)
	}
	return nil
}

// CancelConsumers tells the worker named name to stop consuming from each
// of queues (remote control `cancel_consumer`, one call per queue) and
// returns once the worker has answered each: from then on it issues no new
// BRPOP. It returns an error wrapping ErrNoReply if an answer did not come
// before ctx is done (the command may still be applied later).
//
// It is the first step of a safe stop on Redis: kombu 5.2 does not read a
// BRPOP still in flight when a worker closes its connection, so a message
// Redis hands to a worker during its warm shutdown is lost, neither run nor
// restored. Once the consumer is cancelled, a message that the last BRPOP
// (kombu polls with a 1 s timeout) still returns has no consumer and is
// pushed back to its queue. So: cancel, wait a little over a second after
// the answer, then stop.
func (r *Redis) CancelConsumers(ctx context.Context, name string, queues []string) error {
	return callPerQueue(ctx, r.call, "cancel_consumer", name, queues)
}

// AddConsumers tells the worker named name to consume from each of queues
// again (remote control `add_consumer`, one call per queue; a queue it
// already consumes is left alone), and returns once the worker has
// answered each. The worker applies it on its event loop's next turn. It
// takes back a worker whose consumers CancelConsumers cancelled.
func (r *Redis) AddConsumers(ctx context.Context, name string, queues []string) error {
	return callPerQueue(ctx, r.call, "add_consumer", name, queues)
}

// callPerQueue calls method with {"queue": q} on worker for each of queues
// in order, through call (a transport's call), and stops at the first
// error, which names the queue.
func callPerQueue(ctx context.Context, call func(context.Context, string, map[string]any, string) error, method, worker string, queues []string) error {
	for _, q := range queues {
		if err := call(ctx, method, map[string]any{"queue": q}, worker); err != nil {
			return fmt.Errorf("%s %s: %w", method, q, err)
		}
	}
	return nil
}

// WorkerAlive pings the worker named name (remote control `ping`) and
// reports whether it answered before ctx was done.
func (r *Redis) WorkerAlive(ctx context.Context, name string) (bool, error) {
	err := r.call(ctx, "ping", map[string]any{}, name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNoReply):
		return false, nil
	}
	return false, err
}

// control publishes one remote-control command to the destination workers.
func (r *Redis) control(ctx context.Context, method string, args map[string]any, destination []string) error {
	msg, err := controlMessage(method, args, destination, time.Now(), nil)
	if err != nil {
		return err
	}
	r.roundTrips.Add(1)
	channel := r.cfg.KeyPrefix + fmt.Sprintf("/%d.celery.pidbox", r.db)
	return r.client.Publish(ctx, channel, msg).Err()
}

// controlCommand is the JSON body of a pidbox command, the same on every
// transport. A reply (call) adds the ticket and the reply queue's routing
// key.
func controlCommand(method string, args map[string]any, destination []string, reply *replyTo) ([]byte, error) {
	cmd := map[string]any{
		"method": method, "arguments": args, "destination": destination,
		"pattern": nil, "matcher": nil,
	}
	if reply != nil {
		cmd["ticket"] = reply.ticket
		cmd["reply_to"] = map[string]any{"exchange": replyExchange, "routing_key": reply.oid}
	}
	return json.Marshal(cmd)
}

// controlMessage builds the kombu envelope of a pidbox broadcast on Redis.
func controlMessage(method string, args map[string]any, destination []string, now time.Time, reply *replyTo) ([]byte, error) {
	body, err := controlCommand(method, args, destination, reply)
	if err != nil {
		return nil, err
	}
	tag, err := uuid4()
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"body":             base64.StdEncoding.EncodeToString(body),
		"content-encoding": "utf-8",
		"content-type":     "application/json",
		"headers": map[string]any{
			"clock": 1, "expires": float64(now.Add(controlExpiry).UnixMilli()) / 1e3,
		},
		"properties": map[string]any{
			"delivery_mode": 2, "priority": 0, "body_encoding": "base64", "delivery_tag": tag,
			"delivery_info": map[string]any{"exchange": "celery.pidbox", "routing_key": ""},
		},
	})
}

// uuid4 returns a random RFC 4122 version 4 UUID.
func uuid4() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
