package broker

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// TestCancelConsumersWaitsForTheWorker: against a real worker (with a key
// prefix, so every key and channel must carry it), CancelConsumers returns
// only once the worker has answered, and the worker then consumes nothing;
// the reply queue and its binding are removed. A worker that does not exist
// gives ErrNoReply when the context ends.
func TestCancelConsumersWaitsForTheWorker(t *testing.T) {
	requireCelery(t)
	srv := harness.StartTestRedis(t)
	url := srv.URL(0)
	appDir, _ := filepath.Abs("../examples/app")
	env := []string{"CELERY_BROKER_URL=" + url, "REVRX_KEY_PREFIX=pfx:"}
	w := exec.Command(python, "-m", "celery", "-A", "tasks", "worker", "-Q", "callq,other", "-n", "callw@test",
		"-c", "1", "--without-mingle", "--without-gossip", "-l", "WARNING")
	w.Dir, w.Env = appDir, append(os.Environ(), env...)
	p, err := harness.Start("celery worker", w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.KillTree)

	r, err := New(Config{URL: url, KeyPrefix: "pfx:"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := r.call(ctx, "ping", map[string]any{}, "callw@test")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker never answered ping: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := r.CancelConsumers(ctx, "callw@test", []string{"callq", "other"}); err != nil {
		t.Fatalf("CancelConsumers = %v", err)
	}
	t.Logf("both consumers cancelled and confirmed in %s", time.Since(start).Round(time.Millisecond))
	if n := srv.Do(t, "SCARD", "pfx:_kombu.binding.reply.celery.pidbox"); n != "0" {
		t.Errorf("%s reply bindings left, want 0", n)
	}
	if keys := srv.Do(t, "KEYS", "pfx:*.reply.celery.pidbox"); keys != "" {
		t.Errorf("reply lists left: %q", keys)
	}
	queues := runPython(t, appDir, `
import tasks
r = tasks.app.control.inspect(destination=["callw@test"], timeout=2).active_queues() or {}
print(",".join(q["name"] for q in r.get("callw@test", [])) or "none")
`, env)
	if queues != "none" {
		t.Fatalf("the worker still consumes %s", queues)
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if err := r.CancelConsumers(ctx2, "nobody@test", []string{"callq"}); !errors.Is(err, ErrNoReply) {
		t.Fatalf("CancelConsumers(nobody) = %v, want ErrNoReply", err)
	}
}
