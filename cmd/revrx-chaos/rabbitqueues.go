package main

// What the RabbitMQ node holds, as rabbitmqctl lists it (ready and
// unacknowledged messages and consumers of every queue), and, once the
// last supervisor has stopped, what the messages left are.

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/revrx/revrx-supervise/broker"
)

// ctlTimeout bounds one rabbitmqctl call (about 1 s, and 1 s of CPU, on
// this machine: it starts an Erlang VM each time).
const ctlTimeout = 30 * time.Second

// queueStat is one queue as rabbitmqctl list_queues shows it.
type queueStat struct {
	name           string
	ready, unacked int64
	consumers      int
}

func (q queueStat) String() string {
	return fmt.Sprintf("%s: %d ready, %d unacked, %d consumer(s)", q.name, q.ready, q.unacked, q.consumers)
}

// listQueues runs rabbitmqctl list_queues on the node (vhost /).
func (m *rabbitMode) listQueues(ctx context.Context) (map[string]queueStat, error) {
	ctx, cancel := context.WithTimeout(ctx, ctlTimeout)
	defer cancel()
	out, err := m.node.Ctl(ctx, "list_queues", "-q", "--no-table-headers",
		"name", "messages_ready", "messages_unacknowledged", "consumers")
	if err != nil {
		return nil, fmt.Errorf("rabbitmqctl list_queues: %w: %s", err, out)
	}
	qs := map[string]queueStat{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		q := queueStat{name: f[0]}
		q.ready, _ = strconv.ParseInt(f[1], 10, 64)
		q.unacked, _ = strconv.ParseInt(f[2], 10, 64)
		q.consumers, _ = strconv.Atoi(f[3])
		qs[q.name] = q
	}
	return qs, nil
}

// sample is the chaos queue's ready and unacknowledged messages.
func (m *rabbitMode) sample() (queued, unacked int64, err error) {
	qs, err := m.listQueues(context.Background())
	if err != nil {
		return 0, 0, err
	}
	return qs[chaosQueue].ready, qs[chaosQueue].unacked, nil
}

// residual is what is unacknowledged in any queue at the drain's end
// (rabbitmqctl; a message a consumer holds cannot be read without taking
// it, so only the figures are known).
func (m *rabbitMode) residual() residualDump {
	qs, err := m.listQueues(context.Background())
	if err != nil {
		m.r.logf("residual: %v", err)
		return residualDump{lines: []string{err.Error()}}
	}
	var d residualDump
	for _, q := range sortedQueues(qs) {
		if q.unacked > 0 {
			d.n += int(q.unacked)
			d.lines = append(d.lines, q.String()+" (rabbitmqctl)")
			m.r.logf("left unacknowledged: %s", q)
		}
	}
	return d
}

func sortedQueues(qs map[string]queueStat) []queueStat {
	out := make([]queueStat, 0, len(qs))
	for _, q := range qs {
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// inspect lists every queue once the last supervisor has stopped, and
// reads the messages left in each (basic.get without ack; closing the
// channel puts them back), so that each task id can be found wherever it
// is. The learned pattern's one-message queue is the supervisor's own.
func (m *rabbitMode) inspect() (leftovers, error) {
	lo := leftovers{where: map[string]string{}}
	qs, err := m.listQueues(context.Background())
	if err != nil {
		return lo, err
	}
	m.final = sortedQueues(qs)
	_, ends := m.r.rec.snapshot()
	for _, q := range m.final {
		lo.unacked += q.unacked
		if strings.HasPrefix(q.name, broker.PatternPrefix) {
			continue
		}
		if q.ready > 0 {
			msgs, err := m.peekAll(q.name)
			if err != nil {
				return lo, fmt.Errorf("read %s: %w", q.name, err)
			}
			lo.where[q.name] = strings.Join(msgs, "\n")
		}
		switch q.name {
		case chaosQueue:
			lo.queued = q.ready
			for _, msg := range strings.Split(lo.where[q.name], "\n") {
				if id, _, _ := strings.Cut(msg, " "); ends[id] > 0 {
					lo.finishedQueued++
				}
			}
		case quarantineKey:
			lo.quarantineKey, lo.quarantined = true, q.ready
		default:
			if q.ready+q.unacked > 0 {
				lo.others = append(lo.others, q.String())
			}
		}
	}
	return lo, nil
}

// peekAll takes every message of queue without acking it and describes
// each as "key task hash": its revrx-chaos-id header, else its task id
// ("-" if none), its task name ("-" if none) and bodyHash of its body;
// closing the channel then puts them all back.
func (m *rabbitMode) peekAll(queue string) ([]string, error) {
	conn, err := amqp.Dial(m.node.URL())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	var out []string
	for {
		d, ok, err := ch.Get(queue, false)
		if err != nil || !ok {
			return out, err
		}
		key, task := "-", "-"
		if id, ok := d.Headers["id"].(string); ok && id != "" {
			key = id
		}
		if id, ok := d.Headers[chaosIDHeader].(string); ok && id != "" {
			key = id
		}
		if t, ok := d.Headers["task"].(string); ok && t != "" {
			task = t
		}
		out = append(out, key+" "+task+" "+bodyHash(d.Body))
	}
}
