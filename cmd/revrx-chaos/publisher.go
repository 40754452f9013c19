package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// taskSender publishes task messages on a broker. send returns one result
// per message, or an error when none went out (retry them all).
type taskSender interface {
	send(msgs []taskMessage) ([]sendResult, error)
}

// sendResult is one message's fate in a send.
type sendResult int

const (
	sendTaken   sendResult = iota // the broker acknowledged it
	sendRefused                   // the broker refused it, or it was not sent: send it again
	sendUnknown                   // sent, but the answer was lost: may or may not be queued
)

// publisher publishes tasks.sleep messages onto the chaos queue through
// tx and remembers every id it published. It holds the gate's read side
// while it talks to the broker, so it waits out a broker restart (as a
// producer with retries would) instead of failing.
type publisher struct {
	tx   taskSender
	gate *sync.RWMutex
	rng  *rand.Rand

	mu        sync.Mutex
	published map[string]time.Time // id -> when the broker acknowledged it
	uncertain map[string]bool      // sent, but the reply was lost: may or may not be queued
	errors    int
}

func newPublisher(tx taskSender, gate *sync.RWMutex, rng *rand.Rand) *publisher {
	return &publisher{tx: tx, gate: gate, rng: rng, published: map[string]time.Time{}, uncertain: map[string]bool{}}
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

// publish sends one message per duration in one batch; the ones that
// were not sent or were refused are sent again, a lost answer marks a
// message uncertain.
func (p *publisher) publish(ctx context.Context, durations []float64) error {
	msgs := make([]taskMessage, len(durations))
	for i, d := range durations {
		msgs[i] = sleepMessage(p.rng, d)
	}
	var err error
	for attempt := 0; ; attempt++ {
		var res []sendResult
		p.gate.RLock()
		res, err = p.tx.send(msgs)
		p.gate.RUnlock()
		if err == nil {
			if msgs = p.accept(msgs, res); len(msgs) == 0 {
				return nil
			}
		}
		if attempt == 100 {
			return fmt.Errorf("publish: gave up after %d attempts: %v", attempt, err)
		}
		if err := harness.Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// accept records the messages the broker took or may have taken, and
// returns the ones to send again.
func (p *publisher) accept(msgs []taskMessage, res []sendResult) []taskMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	var again []taskMessage
	for i, m := range msgs {
		switch res[i] {
		case sendTaken:
			p.published[m.ID] = time.Now()
		case sendUnknown:
			p.errors++
			p.uncertain[m.ID] = true
		default:
			p.errors++
			again = append(again, m)
		}
	}
	return again
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
