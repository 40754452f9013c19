package main

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// redisTimeout bounds the chaos Redis's start (PING) and graceful stop.
const redisTimeout = 15 * time.Second

// startRedis starts the harness's private redis-server, the binary bin, on
// a free port below the ephemeral range (picked with rng, so that nothing
// holds it while Redis is down between a stop and a restart), with its
// data in dir (made if missing).
//
// It keeps its data in an append-only file (appendonly yes, appendfsync
// everysec) and is stopped with SIGTERM (Stop), which Redis handles as
// SHUTDOWN: it writes and fsyncs the AOF before exiting, so every
// acknowledged write (queued messages, the unacked hash) is there again
// when it restarts (Start) on the same port from the same directory. RDB
// snapshots are off: a graceful shutdown would save one too, but the AOF
// also bounds the loss of a crash to a second, which is how a broker that
// must keep messages is run.
func startRedis(ctx context.Context, bin, dir string, rng *rand.Rand) (*harness.Redis, error) {
	port, err := harness.StablePort(rng)
	if err != nil {
		return nil, err
	}
	return harness.StartRedis(ctx, harness.RedisConfig{Bin: bin, Dir: dir, Port: port, AOF: true,
		Args: []string{"--protected-mode", "yes"}, StartTimeout: redisTimeout, StopTimeout: redisTimeout})
}
