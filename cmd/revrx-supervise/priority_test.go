package main

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// TestPriorityAndPrefixCounted: messages published by Celery itself (the
// example producer) with priorities 0, 5 and 9 and kombu's global_keyprefix
// "pfx:" land in several lists ("pfx:prio", "pfx:prio\x06\x163", ...); the
// binary with --key-prefix pfx: must count all of them in
// revrx_queue_messages{queue="prio"}. Counting only the plain list would
// read 2 (or 0: without the prefix flag the supervisor reads "prio", which
// does not exist), so would ignoring --key-prefix or --priority-steps.
// The workers are a fake that consumes nothing (exec sleep 600), so the
// backlog stays put while it is read.
func TestPriorityAndPrefixCounted(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	fake := writeScript(t, "celery", "exec sleep 600\n")
	s := startSupervisorUnder(t, nil, nil, url, "--celery-cmd", fake, "--key-prefix", "pfx:",
		"--autoscale=1,1", "-Q", "prio")
	for _, pri := range []int{0, 5, 9} {
		publish(t, url, "prio", 2, 1, "--priority", strconv.Itoa(pri), "--key-prefix", "pfx:")
	}
	// Where kombu put them: the test is only meaningful if they are spread
	// over the prefixed priority sub-lists and none is under the bare name.
	total, lists := 0, 0
	for _, step := range []string{"", "\x06\x163", "\x06\x166", "\x06\x169"} {
		n, _ := strconv.Atoi(rds.Do(t, "LLEN", "pfx:prio"+step))
		total += n
		if n > 0 {
			lists++
		}
	}
	if bare := rds.Do(t, "LLEN", "prio"); total != 6 || lists < 2 || bare != "0" {
		t.Fatalf("kombu put %d messages in %d prefixed lists and %s in \"prio\"; want 6 in 2 or more, 0", total, lists, bare)
	}
	t.Logf("kombu: %d messages in %d prefixed lists", total, lists)
	const series = `revrx_queue_messages{queue="prio"}`
	deadline := time.Now().Add(10 * time.Second)
	for got := s.metric(series); got != 6; got = s.metric(series) {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 10s, want 6", series, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The fake worker is a plain sleep: SIGTERM ends it, and the supervisor.
	s.signal(syscall.SIGTERM)
	s.wait(10 * time.Second)
	waitFor(t, 3*time.Second, "no process left", func() bool { return len(processesWithEnv(url)) == 0 })
}
