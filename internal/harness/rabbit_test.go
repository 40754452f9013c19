package harness

import (
	"context"
	"strings"
	"testing"
)

// TestRabbitIsPrivate: the node runs on ports of its own under its own
// name (never the system node's 5672 or rabbit@localhost), answers
// rabbitmqctl, and Stop leaves none of its processes behind.
func TestRabbitIsPrivate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a RabbitMQ node")
	}
	r := StartTestRabbit(t)
	if r.Port == 5672 || r.DistPort == 25672 || r.Node == "rabbit@localhost" {
		t.Fatalf("node %s on %d/%d: not private", r.Node, r.Port, r.DistPort)
	}
	ctx := context.Background()
	out, err := r.Ctl(ctx, "status")
	if err != nil || !strings.Contains(out, r.Node) {
		t.Fatalf("rabbitmqctl status: %v\n%s", err, out)
	}
	pid := r.proc.PID()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for p, st := range Table() {
		if st.PGRP == pid && !st.Zombie() {
			t.Errorf("process %d of the node's group still runs after Stop", p)
		}
	}
}
