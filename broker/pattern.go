package broker

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// PatternPrefix + a name (the consumed queues joined by "+") is the string
// holding the demand pattern the supervisors of those queues learned
// (--predict): a JSON document of fixed size (policy.Buckets slots, a few
// kilobytes), shared by a restarted supervisor and by the other hosts of
// the app. It expires when no supervisor saved it for PatternTTL periods.
const PatternPrefix = "revrx.pattern."

// PatternTTL is how many periods a saved pattern outlives its last save.
const PatternTTL = 8

// Pattern returns the stored pattern document of name; found is false
// when there is none (a fresh broker, or one that lost it).
func (r *Redis) Pattern(ctx context.Context, name string) (doc []byte, found bool, err error) {
	doc, err = r.client.Get(ctx, r.cfg.KeyPrefix+PatternPrefix+name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return doc, true, nil
}

// SavePattern stores the pattern document of name, learned over periods of
// length period; it expires PatternTTL periods (at least a day) later.
// The last writer wins: hosts of the same app overwrite each other's
// saves, each from what it loaded and learned since.
func (r *Redis) SavePattern(ctx context.Context, name string, doc []byte, period time.Duration) error {
	ttl := max(PatternTTL*period, 24*time.Hour)
	return r.client.Set(ctx, r.cfg.KeyPrefix+PatternPrefix+name, doc, ttl).Err()
}
