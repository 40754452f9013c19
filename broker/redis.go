package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults for Config.
const (
	DefaultSeparator = "\x06\x16"
	// Timeouts keep a dead or unreachable Redis from hanging a poll.
	DefaultDialTimeout = 2 * time.Second
	DefaultIOTimeout   = 2 * time.Second
)

// DefaultPrioritySteps are kombu's PRIORITY_STEPS.
var DefaultPrioritySteps = []int{0, 3, 6, 9}

// Config configures a Redis broker client.
type Config struct {
	URL            string       // Celery broker URL, any form ParseURL accepts
	SentinelMaster string       // sentinel master name; overrides ?master_name=
	KeyPrefix      string       // kombu global_keyprefix, e.g. "pfx:"
	PrioritySteps  []int        // default 0,3,6,9 (step 0 = the bare queue key)
	Separator      string       // default "\x06\x16"
	Logger         *slog.Logger // nil = discard
}

// withDefaults returns a copy of c with empty fields set to their defaults.
func (c Config) withDefaults() Config {
	if len(c.PrioritySteps) == 0 {
		c.PrioritySteps = DefaultPrioritySteps
	}
	c.PrioritySteps = append([]int(nil), c.PrioritySteps...)
	if c.Separator == "" {
		c.Separator = DefaultSeparator
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate checks the configuration without network I/O. Errors name the
// field and never contain a password.
func (c Config) Validate() error {
	if _, err := ParseURL(c.URL, c.SentinelMaster); err != nil {
		return fmt.Errorf("broker URL: %w", err)
	}
	prev := -1
	for _, s := range c.PrioritySteps {
		if s < 0 || s <= prev {
			return fmt.Errorf("broker PrioritySteps %v: want non-negative and strictly increasing", c.PrioritySteps)
		}
		prev = s
	}
	return nil
}

// Redis reads Celery's state from a Redis broker: queue depths and backlogs,
// and task events. It is safe for concurrent use.
type Redis struct {
	cfg        Config
	client     redis.UniversalClient
	redacted   string
	ep         Endpoint // for the change watcher's own client
	db         int
	roundTrips atomic.Int64
	undecoded  atomic.Int64
	seen       *firstSeen // first sighting of tail messages, for Backlogs
}

// New returns a client for cfg. It does no network I/O (connections are made
// on first use) and fails only for a bad configuration.
func New(cfg Config) (*Redis, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ep, err := ParseURL(cfg.URL, cfg.SentinelMaster)
	if err != nil {
		return nil, fmt.Errorf("broker URL: %w", err)
	}
	r := &Redis{cfg: cfg, redacted: Redact(cfg.URL), ep: ep, db: ep.DB, seen: newFirstSeen()}
	routeClientLogs(cfg.Logger)
	r.client = newClient(ep, connSetup{})
	r.client.AddHook(countHook{n: &r.roundTrips})
	return r, nil
}

// connSetup is what a client sets on its connections beyond the common
// options; the zero value is the command client's.
type connSetup struct {
	protocol  int                                             // RESP version; 0 = go-redis's default (3)
	onConnect func(ctx context.Context, cn *redis.Conn) error // run on every new connection; may be nil
}

// newClient returns a client for ep: a failover client through the
// sentinels when ep is a sentinel list, else a plain one (TCP or a unix
// socket). Both take their settings from clientOptions.
func newClient(ep Endpoint, setup connSetup) redis.UniversalClient {
	o := clientOptions(ep, setup)
	if ep.Sentinel {
		return redis.NewFailoverClient(o.Failover())
	}
	simple := o.Simple()
	simple.Network = ep.Network // UniversalOptions has no network: "unix" for a socket
	return redis.NewClient(simple)
}

// clientOptions are every client's settings, sentinel or not, in one place.
func clientOptions(ep Endpoint, setup connSetup) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:      ep.Addrs, // the sentinels, with MasterName
		MasterName: ep.MasterName,
		Username:   ep.Username,
		Password:   ep.Password, // with sentinels, kombu gives userinfo to the master
		DB:         ep.DB,
		TLSConfig:  ep.TLS,

		DialTimeout:  DefaultDialTimeout,
		ReadTimeout:  DefaultIOTimeout,
		WriteTimeout: DefaultIOTimeout,
		MaxRetries:   1,
		// One dial attempt per try: a dead Redis fails a poll in seconds.
		DialerRetries: 1,
		PoolSize:      4,
		// Redis < 7.2 does not know CLIENT SETINFO; skip the round trip.
		DisableIdentity: true,
		// Redis 7 does not know CLIENT MAINT_NOTIFICATIONS; do not ask
		// (a failover client never does).
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		Protocol:                 setup.protocol,
		OnConnect:                setup.onConnect,
	}
}

// Ping checks that the broker answers (with the configured credentials).
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("broker ping %s: %w", r.redacted, err)
	}
	return nil
}

// QueueDepths returns the number of waiting messages per queue: the sum of
// LLEN over KeyPrefix+queue and KeyPrefix+queue+Separator+step for every
// non-zero priority step. A missing key counts 0 (Redis deletes empty
// lists). All queues are read in ONE pipelined round trip. Duplicate names
// are read once; an empty list of queues does no I/O. On error no partial
// result is returned.
func (r *Redis) QueueDepths(ctx context.Context, queues []string) (map[string]int64, error) {
	reads, err := r.readLists(ctx, queues, false)
	if err != nil {
		return nil, fmt.Errorf("queue depth: %w", err)
	}
	out := make(map[string]int64, len(reads))
	for _, qr := range reads {
		out[qr.queue] = qr.depth()
	}
	return out, nil
}

// queueRead is one queue's part of a pipelined read: for each of its lists
// (queueKeys order) the LLEN and, if asked for, the LINDEX -1 (the oldest
// message; redis.Nil when the list is empty).
type queueRead struct {
	queue string
	keys  []string
	lens  []*redis.IntCmd
	tails []*redis.StringCmd // nil unless tails were asked for
}

// depth sums the lengths of the queue's lists.
func (q queueRead) depth() int64 {
	var sum int64
	for _, c := range q.lens {
		sum += c.Val()
	}
	return sum
}

// readLists reads every list of every queue (duplicates once, in order) in
// one pipeline: LLEN, plus LINDEX key -1 when tails is true. An empty list
// of queues does no I/O. A missing key is not an error; any other failed
// command fails the whole read.
func (r *Redis) readLists(ctx context.Context, queues []string, tails bool) ([]queueRead, error) {
	if len(queues) == 0 {
		return nil, nil
	}
	pipe := r.client.Pipeline()
	seen := make(map[string]bool, len(queues))
	reads := make([]queueRead, 0, len(queues))
	for _, q := range queues {
		if seen[q] {
			continue
		}
		seen[q] = true
		qr := queueRead{queue: q, keys: r.queueKeys(q)}
		for _, key := range qr.keys {
			qr.lens = append(qr.lens, pipe.LLen(ctx, key))
			if tails {
				qr.tails = append(qr.tails, pipe.LIndex(ctx, key, -1))
			}
		}
		reads = append(reads, qr)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	// Exec reports only the first failure, and LINDEX of an empty list
	// "fails" with redis.Nil: look at every command.
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	return reads, nil
}

// queueKeys lists the Redis lists holding queue's messages, highest
// priority (lowest step) first, as kombu's _q_for_pri names them.
func (r *Redis) queueKeys(queue string) []string {
	keys := make([]string, 0, len(r.cfg.PrioritySteps)+1)
	keys = append(keys, r.cfg.KeyPrefix+queue)
	for _, s := range r.cfg.PrioritySteps {
		if s != 0 {
			keys = append(keys, fmt.Sprintf("%s%s%s%d", r.cfg.KeyPrefix, queue, r.cfg.Separator, s))
		}
	}
	return keys
}

// Redacted returns the broker URL with passwords hidden, for logs and status.
func (r *Redis) Redacted() string { return r.redacted }

// RoundTrips returns how many commands or pipelines this client has sent to
// Redis so far: one pipeline counts once, a new connection's handshake
// (HELLO) counts once, pub/sub traffic is not counted. It is meant for tests
// and benchmarks.
func (r *Redis) RoundTrips() int64 { return r.roundTrips.Load() }

// Close closes the connections. Calls after the first return an error.
func (r *Redis) Close() error {
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("broker close: %w", err)
	}
	return nil
}

// countHook counts round trips.
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}
