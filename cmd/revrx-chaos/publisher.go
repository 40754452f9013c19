package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// publisher LPUSHes tasks.sleep messages onto the chaos queue and remembers
// every id it published. It holds the gate's read side while it talks to
// Redis, so it waits out a Redis restart (as a producer with retries would)
// instead of failing.
type publisher struct {
	rc   *harness.Client
	gate *sync.RWMutex
	rng  *rand.Rand

	mu        sync.Mutex
	published map[string]time.Time // id -> when Redis acknowledged it
	uncertain map[string]bool      // sent, but the reply was lost: may or may not be queued
	errors    int
}

func newPublisher(rc *harness.Client, gate *sync.RWMutex, rng *rand.Rand) *publisher {
	return &publisher{rc: rc, gate: gate, rng: rng, published: map[string]time.Time{}, uncertain: map[string]bool{}}
}

// run publishes each step at t0 + its offset, until the steps end or ctx
// does.
func (p *publisher) run(ctx context.Context, t0 time.Time, steps []publishStep) error {
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at < steps[j].at })
	for _, s := range steps {
		if err := harness.Sleep(ctx, time.Until(t0.Add(s.at))); err != nil {
			return err
		}
		if err := p.publish(ctx, s.durations); err != nil {
			return err
		}
	}
	return nil
}

// publish sends one message per duration in one pipeline; a connection
// that could not be made is retried, a lost reply marks the batch uncertain.
func (p *publisher) publish(ctx context.Context, durations []float64) error {
	msgs := make([]taskMessage, len(durations))
	cmds := make([][]string, len(durations))
	for i, d := range durations {
		msgs[i] = sleepMessage(p.rng, d)
		cmds[i] = []string{"LPUSH", chaosQueue, msgs[i].encode()}
	}
	for attempt := 0; ; attempt++ {
		p.gate.RLock()
		replies, err := p.rc.Pipeline(cmds)
		p.gate.RUnlock()
		if err == nil {
			cmds, msgs = p.accept(msgs, cmds, replies)
			if len(cmds) == 0 {
				return nil
			}
		} else if !errors.Is(err, harness.ErrNotSent) {
			p.markUncertain(msgs)
			return nil
		}
		if attempt == 100 {
			return fmt.Errorf("publish: gave up after %d attempts: %v", attempt, err)
		}
		if err := harness.Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// accept records the messages Redis took and returns the ones it refused.
func (p *publisher) accept(msgs []taskMessage, cmds [][]string, replies []any) ([][]string, []taskMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var again [][]string
	var left []taskMessage
	for i, r := range replies {
		if _, bad := r.(harness.RedisError); bad {
			p.errors++
			again, left = append(again, cmds[i]), append(left, msgs[i])
			continue
		}
		p.published[msgs[i].ID] = time.Now()
	}
	return again, left
}

func (p *publisher) markUncertain(msgs []taskMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errors++
	for _, m := range msgs {
		p.uncertain[m.ID] = true
	}
}

// ids returns a copy of the published ids and the uncertain ones.
func (p *publisher) ids() (map[string]time.Time, map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pub := make(map[string]time.Time, len(p.published))
	for k, v := range p.published {
		pub[k] = v
	}
	unc := make(map[string]bool, len(p.uncertain))
	for k := range p.uncertain {
		unc[k] = true
	}
	return pub, unc
}
