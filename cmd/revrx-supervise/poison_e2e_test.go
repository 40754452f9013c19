package main

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// poisonMessage is a well-formed-looking tasks.sleep message whose body has
// two elements instead of three: kombu records it in unacked, then Celery
// 5.2.6's Request() fails to unpack it outside its error handling, and the
// worker dies ("Unrecoverable error"), putting the message back at the
// front of the queue on its way out: the next worker takes it and dies too.
func poisonMessage(queue, id string) string {
	body, _ := json.Marshal([]any{[]any{0.1}, map[string]any{}})
	env, _ := json.Marshal(map[string]any{
		"body": base64.StdEncoding.EncodeToString(body), "content-encoding": "utf-8",
		"content-type": "application/json",
		"headers": map[string]any{"lang": "py", "task": "tasks.sleep", "id": id, "root_id": id,
			"retries": 0, "timelimit": []any{nil, nil}, "argsrepr": "(0.1,)", "kwargsrepr": "{}"},
		"properties": map[string]any{"correlation_id": id, "delivery_mode": 2, "priority": 0,
			"delivery_info": map[string]any{"exchange": "", "routing_key": queue},
			"body_encoding": "base64", "delivery_tag": "tag-" + id},
	})
	return string(env)
}

// TestPoisonMessageIsQuarantined: a message that kills every worker that
// takes it is moved to the queue's quarantine list once it has been in
// flight at two worker deaths, counted and logged with its id; the crash
// loop ends by itself and the queue goes on serving good tasks.
func TestPoisonMessageIsQuarantined(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--engine", "workers", "--autoscale=2,2", "-Q", "poison")
	waitFor(t, 30*time.Second, "2 idle workers", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	const id = "0d15ea5e-0000-4000-8000-000000000001"
	rds.Do(t, "LPUSH", "poison", poisonMessage("poison", id))
	start := time.Now()
	waitFor(t, 90*time.Second, "the poison message quarantined", func() bool {
		return s.metric("revrx_tasks_quarantined_total") == 1
	})
	t.Logf("quarantined %.1f s after it was published", time.Since(start).Seconds())
	if n := rds.Do(t, "LLEN", "poison.quarantine"); n != "1" {
		t.Fatalf("poison.quarantine holds %s messages, want 1", n)
	}
	if n := countLines(s.logs.String(), "quarantined a message", id); n != 1 {
		t.Errorf("%d quarantine log lines naming %s, want 1", n, id)
	}
	publish(t, url, "poison", 2, 0.1)
	waitFor(t, 30*time.Second, "good tasks run after the quarantine", func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == 2
	})
	if n := rds.Do(t, "HLEN", "unacked"); n != "0" {
		t.Errorf("unacked holds %s, want 0", n)
	}
}
