package main

// The Redis mode: a private redis-server with an AOF (redisserver.go),
// tasks LPUSHed as kombu does, the held sets and the unacked hash read
// (redisheld.go, redisresidual.go), losses and quarantines proven from
// the AOF (redisloss.go, aof.go, quarantine.go).

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// redisMode runs the suite on a private redis-server.
type redisMode struct {
	r     *run
	redis *harness.Redis
	rc    *harness.Client // faults, poison and inspection
	tx    redisSender     // the publisher's connection
	watch *harness.Client // brokerWatch's connection
}

func (m *redisMode) start(ctx context.Context, dir string) error {
	var err error
	if m.redis, err = startRedis(ctx, m.r.cfg.redisServer, filepath.Join(dir, "redis"), m.r.rng); err != nil {
		return err
	}
	m.rc, m.watch = harness.NewClient(m.redis.Addr), harness.NewClient(m.redis.Addr)
	m.tx = redisSender{harness.NewClient(m.redis.Addr)}
	return nil
}

func (m *redisMode) describe() string {
	return "redis-server on " + m.redis.Addr + " (AOF in " + m.redis.Dir + ")"
}

func (m *redisMode) url() string { return "redis://" + m.redis.Addr + "/0" }

func (*redisMode) stopWhat() string    { return "SIGTERM (SHUTDOWN, AOF kept)" }
func (*redisMode) eventsWhere() string { return "channels" }

func (m *redisMode) sender() taskSender { return m.tx }

// redisSender LPUSHes task messages onto the chaos queue, as kombu does,
// in one pipeline.
type redisSender struct{ rc *harness.Client }

func (s redisSender) send(msgs []taskMessage) ([]sendResult, error) {
	cmds := make([][]string, len(msgs))
	for i, m := range msgs {
		cmds[i] = []string{"LPUSH", chaosQueue, m.encode()}
	}
	res := make([]sendResult, len(msgs))
	replies, err := s.rc.Pipeline(cmds)
	switch {
	case errors.Is(err, harness.ErrNotSent):
		return nil, err
	case err != nil:
		for i := range res {
			res[i] = sendUnknown
		}
		return res, nil
	}
	for i, r := range replies {
		if _, bad := r.(harness.RedisError); bad {
			res[i] = sendRefused
		}
	}
	return res, nil
}

// sample is HLEN unacked and LLEN chaos.
func (m *redisMode) sample() (queued, unacked int64, err error) {
	r, err := m.watch.Pipeline([][]string{{"HLEN", "unacked"}, {"LLEN", chaosQueue}})
	if err != nil {
		return 0, 0, err
	}
	u, err1 := harness.Int(r[0], nil)
	q, err2 := harness.Int(r[1], nil)
	return q, u, errors.Join(err1, err2)
}

func (*redisMode) sampleEvery() time.Duration { return 250 * time.Millisecond }

// stopServer shuts Redis down (SIGTERM: it writes and fsyncs the AOF).
func (m *redisMode) stopServer(context.Context) error { return m.redis.Stop() }

// startServer starts Redis again from its AOF and drops the clients'
// connections to the old server.
func (m *redisMode) startServer(ctx context.Context) error {
	if err := m.redis.Start(ctx); err != nil {
		return err
	}
	m.rc.Reset()
	m.tx.rc.Reset()
	return nil
}

func (*redisMode) afterRestart(context.Context, time.Time, *restartResult) {}

// pushPoison LPUSHes the malformed messages (one of them, at random, if
// one) or a new crash-looping message onto the chaos queue; ids are the
// task ids ("" for garbage).
func (m *redisMode) pushPoison(kind faultKind, one bool) (raw, ids []string, err error) {
	raw = malformed
	if one {
		i := m.r.rng.IntN(len(malformed))
		raw = malformed[i : i+1]
	}
	ids = make([]string, len(raw))
	if kind == faultPoisonLoop {
		msg := loopingPoison(m.r.rng)
		raw, ids = []string{msg.encode()}, []string{msg.ID}
	}
	cmds := make([][]string, len(raw))
	for i, msg := range raw {
		cmds[i] = []string{"LPUSH", chaosQueue, msg}
	}
	_, err = m.rc.Pipeline(cmds)
	return raw, ids, err
}

func (*redisMode) poisonFaults() bool { return true }

// publishJunk PUBLISHes n garbage messages on the event channels.
func (m *redisMode) publishJunk(_ context.Context, n int) error {
	cmds := make([][]string, n)
	for i := range cmds {
		cmds[i] = []string{"PUBLISH", eventChannels[m.r.rng.IntN(len(eventChannels))], junkEvent(m.r.rng)}
	}
	_, err := m.rc.Pipeline(cmds)
	return err
}

// inspect reads every list and hash left in Redis, so that each task id can
// be found wherever it is (queue, priority sub-list, unacked, quarantine).
func (m *redisMode) inspect() (leftovers, error) {
	r := m.r
	lo := leftovers{where: map[string]string{}}
	keys, err := m.rc.Keys()
	if err != nil {
		return lo, err
	}
	for _, k := range keys {
		typ, _ := m.rc.Do("TYPE", k)
		var vals []string
		switch typ {
		case "list":
			vals, err = harness.Strings(m.rc.Do("LRANGE", k, "0", "-1"))
		case "hash":
			vals, err = harness.Strings(m.rc.Do("HVALS", k))
		}
		if err != nil {
			return lo, err
		}
		lo.where[k] = strings.Join(vals, "\n")
		switch {
		case k == quarantineKey:
			lo.quarantineKey, lo.quarantined = true, int64(len(vals))
		case k == "unacked":
			lo.unacked, lo.unackedContents = int64(len(vals)), lo.where[k]
		case k == chaosQueue || strings.HasPrefix(k, chaosQueue+"\x06\x16"):
			lo.queued += int64(len(vals))
			_, ends := r.rec.snapshot()
			for _, v := range vals {
				if id, _ := messageIdent(v); ends[id] > 0 {
					lo.finishedQueued++
				}
			}
		}
	}
	oldest, err := harness.Strings(m.rc.Do("ZRANGE", "unacked_index", "0", "0", "WITHSCORES"))
	if err == nil && len(oldest) == 2 {
		if score, err := strconv.ParseFloat(oldest[1], 64); err == nil {
			lo.oldest = time.Since(time.Unix(0, int64(score*1e9)))
			lo.hasOldest = true
		}
	}
	return lo, nil
}

// rows are the supervisor's put-backs of a message a live worker had
// taken again (from the AOF), and the pool engine's quarantines.
func (m *redisMode) rows(t *table) {
	if cmds, err := readAOF(m.redis.Dir); err != nil {
		t.add("put back from a live worker", "AOF unreadable: %v", err)
	} else {
		st := stolenRestores(cmds)
		t.add("put back from a live worker", "%d (the supervisor moved a gone worker's delivery tag out of unacked after its kombu had put the message back itself and another worker had taken it again: a second copy, from the AOF)", len(st))
		for _, x := range st {
			t.add("  put back from "+x.live, "task %s, tag %s: gone worker %s, live taker %s, moved to %s (AOF command %d)", x.id, x.tag, x.gone, x.live, x.to, x.at)
		}
	}
	m.r.quarantineRows(t)
}

// verdicts are the engine's expectations of the malformed and
// crash-looping messages: the pool engine's worker main quarantines them
// itself; whole workers crash on them until the supervisor quarantines.
func (m *redisMode) verdicts(lo leftovers) []verdict {
	if m.r.cfg.poolEngine() {
		return m.quarantineVerdicts(lo)
	}
	return m.r.poisonVerdicts(lo)
}
