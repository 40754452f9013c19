package main

import (
	"strings"
	"time"
)

// leftovers is what the broker holds once the last supervisor has
// stopped, as the mode's inspect reads it.
type leftovers struct {
	queued          int64         // messages in the chaos queue (Redis: and its priority sub-lists)
	unacked         int64         // Redis: HLEN unacked; RabbitMQ: unacknowledged in any queue
	oldest          time.Duration // Redis: age of the oldest unacked_index entry
	hasOldest       bool
	quarantineKey   bool  // chaos.quarantine exists
	quarantined     int64 // its length
	where           map[string]string
	unackedContents string
	finishedQueued  int      // queued messages of tasks that already finished
	others          []string // RabbitMQ: other queues holding messages ("name: R ready, U unacked")
}

// quarantineKey is the list the supervisor will move poison messages to.
const quarantineKey = chaosQueue + ".quarantine"

// locate names the key (the queue) holding id, or "".
func (lo leftovers) locate(id string) string {
	for k, v := range lo.where {
		if strings.Contains(v, id) {
			return k
		}
	}
	return ""
}
