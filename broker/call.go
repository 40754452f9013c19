package broker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoReply means a worker did not answer a remote-control call in time.
var ErrNoReply = errors.New("no reply from the worker")

// replyExchange is the direct exchange of remote-control replies.
const replyExchange = "reply.celery.pidbox"

// replyTo names the reply queue of one call: <oid>.reply.celery.pidbox.
type replyTo struct{ oid, ticket string }

// call sends method to the worker named worker and waits until it answers
// (or ctx is done: ErrNoReply). An answer of the form {"error": ...} is
// returned as an error. As Celery's own client does, it binds a reply
// queue of its own to the reply exchange for the call (the worker finds it
// through the binding set, which kombu names with its sep), waits on that
// list, then removes both.
func (r *Redis) call(ctx context.Context, method string, args map[string]any, worker string) error {
	oid, err := uuid4()
	if err != nil {
		return err
	}
	ticket, err := uuid4()
	if err != nil {
		return err
	}
	queue := oid + "." + replyExchange
	replyKey := r.cfg.KeyPrefix + queue
	bindKey := r.cfg.KeyPrefix + "_kombu.binding." + replyExchange
	member := oid + r.cfg.Separator + r.cfg.Separator + queue
	msg, err := controlMessage(method, args, []string{worker}, time.Now(), &replyTo{oid: oid, ticket: ticket})
	if err != nil {
		return err
	}
	if err := r.client.SAdd(ctx, bindKey, member).Err(); err != nil {
		return fmt.Errorf("bind reply queue: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		r.client.SRem(cctx, bindKey, member)
		r.client.Del(cctx, replyKey)
	}()
	r.roundTrips.Add(1)
	channel := r.cfg.KeyPrefix + fmt.Sprintf("/%d.celery.pidbox", r.db)
	if err := r.client.Publish(ctx, channel, msg).Err(); err != nil {
		return fmt.Errorf("publish %s: %w", method, err)
	}
	return r.awaitReply(ctx, replyKey, ticket, worker)
}

// awaitReply pops replies from key until the one carrying ticket arrives.
func (r *Redis) awaitReply(ctx context.Context, key, ticket, worker string) error {
	for {
		res, err := r.client.BRPop(ctx, 500*time.Millisecond, key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case ctx.Err() != nil:
			return fmt.Errorf("%s: %w", worker, ErrNoReply)
		case err != nil:
			return fmt.Errorf("await reply: %w", err)
		}
		answer, ok := decodeReply(res[1], ticket)
		if !ok {
			continue // another call's, or garbage
		}
		return answerError(answer, worker)
	}
}

// answerError returns the error a worker's answer reports ({"error": ...}),
// or nil.
func answerError(answer map[string]json.RawMessage, worker string) error {
	var failed struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(answer[worker], &failed) == nil && failed.Error != "" {
		return fmt.Errorf("%s answered: %s", worker, failed.Error)
	}
	return nil
}

// decodeReply returns the answers by node name of a reply envelope that
// carries ticket.
func decodeReply(raw, ticket string) (map[string]json.RawMessage, bool) {
	var env struct {
		Body    string `json:"body"`
		Headers struct {
			Ticket string `json:"ticket"`
		} `json:"headers"`
	}
	if json.Unmarshal([]byte(raw), &env) != nil || env.Headers.Ticket != ticket {
		return nil, false
	}
	body, err := base64.StdEncoding.DecodeString(env.Body)
	if err != nil {
		return nil, false
	}
	var answers map[string]json.RawMessage
	if json.Unmarshal(body, &answers) != nil {
		return nil, false
	}
	return answers, true
}
