package broker

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// python is Debian's interpreter, which has python3-celery (see
// docs/celery-on-redis.md, "The celery command").
const python = "/usr/bin/python3"

// requireCelery skips the test unless python can import celery.
func requireCelery(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import celery, kombu").Run(); err != nil {
		t.Skipf("%s cannot import celery: %v", python, err)
	}
}

// runPython runs a python snippet with a timeout and returns its stdout.
func runPython(t *testing.T, dir, code string, env []string, args ...string) string {
	t.Helper()
	return runPythonArgs(t, dir, env, append([]string{"-c", code}, args...)...)
}

// runPythonArgs runs python with args (a script and its arguments, say) with
// a timeout and returns its stdout; it fails the test if python fails.
func runPythonArgs(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

const kombuCountScript = `
import sys
from celery import Celery
url, prefix = sys.argv[1], sys.argv[2]
app = Celery('cmp', broker=url)
if prefix:
    app.conf.broker_transport_options = {'global_keyprefix': prefix}
for p in [0, 0, 1, 3, 5, 5, 6, 8, 9, 9, 9]:
    app.send_task('x', queue='reports', priority=p)
with app.connection() as conn:
    print(conn.default_channel._size('reports'))
`

// TestQueueDepthsMatchesKombu publishes with priorities through kombu and
// compares QueueDepths with kombu's own count.
func TestQueueDepthsMatchesKombu(t *testing.T) {
	requireCelery(t)
	srv := harness.StartTestRedis(t)
	for _, prefix := range []string{"", "pfx:"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			db := 1
			if prefix != "" {
				db = 2
			}
			url := srv.URL(db)
			out := runPython(t, t.TempDir(), kombuCountScript, nil, url, prefix)
			want, err := strconv.ParseInt(out, 10, 64)
			if err != nil || want != 11 {
				t.Fatalf("kombu _size = %q, want 11", out)
			}
			// kombu really used the sub-lists: priorities 9,9,9 -> step 9.
			if got := srv.Do(t, "-n", strconv.Itoa(db), "LLEN", prefix+"reports\x06\x169"); got != "3" {
				t.Fatalf("LLEN %sreports<sep>9 = %s, want 3", prefix, got)
			}
			r := newTestRedis(t, Config{URL: url, KeyPrefix: prefix})
			got, err := r.QueueDepths(context.Background(), []string{"reports"})
			if err != nil {
				t.Fatalf("QueueDepths() error: %v", err)
			}
			if got["reports"] != want {
				t.Errorf("QueueDepths()[reports] = %d, want kombu's %d", got["reports"], want)
			}
			if prefix != "" {
				noPrefix := newTestRedis(t, Config{URL: url})
				if got, _ := noPrefix.QueueDepths(context.Background(), []string{"reports"}); got["reports"] != 0 {
					t.Errorf("without KeyPrefix, QueueDepths() = %d, want 0", got["reports"])
				}
			}
		})
	}
}

const tinyApp = `
import time
from celery import Celery
app = Celery('tinyapp')
@app.task(name='tiny.sleep')
def sleep(s):
    time.sleep(s)
    return s
`

// startWorker runs one real Celery worker and stops it (SIGTERM, then
// SIGKILL of its tree and group) at cleanup.
func startWorker(t *testing.T, dir, brokerURL string) {
	t.Helper()
	cmd := exec.Command(python, "-m", "celery", "-A", "tinyapp", "worker", "-E", "-P", "prefork", "-c", "1",
		"--without-mingle", "--without-gossip", "-n", "w1@%h", "-Q", "q1", "--loglevel=WARNING")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CELERY_BROKER_URL="+brokerURL, "PATH=/usr/bin:/bin")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := harness.Start("celery worker", cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := p.Stop(syscall.SIGTERM, 20*time.Second); errors.Is(err, harness.ErrKilled) {
			t.Errorf("celery worker ignored SIGTERM for 20s; killed\n%s", out.String())
		} else if p.Err() != nil {
			t.Logf("celery worker exit: %v\n%s", p.Err(), out.String())
		}
	})
}

// TestSubscribeEventsCelery runs a real worker and checks that its events
// for one task (received, started, succeeded) decode with the fields the
// supervisor's model uses (supervisor/events): node name, pid, task id and
// name, runtime.
func TestSubscribeEventsCelery(t *testing.T) {
	requireCelery(t)
	srv := harness.StartTestRedis(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tinyapp.py"), []byte(tinyApp), 0o644); err != nil {
		t.Fatal(err)
	}
	url := srv.URL(0)
	r := newTestRedis(t, Config{URL: url})
	s := subscribe(t, r)
	s.waitState(t, true)
	startWorker(t, dir, url)

	online := s.waitEvent(t, "worker-online", func(ev Event) bool { return ev.Type == "worker-online" })
	host := online.Hostname
	if !strings.HasPrefix(host, "w1@") || online.PID == 0 {
		t.Fatalf("worker-online = %+v, want w1@... with a pid", online)
	}

	runPython(t, dir, "import tinyapp; tinyapp.app.send_task('tiny.sleep', args=[0.5], queue='q1')",
		[]string{"CELERY_BROKER_URL=" + url})

	seen := map[string]Event{}
	s.waitEvent(t, "task-succeeded", func(ev Event) bool {
		if !strings.HasPrefix(ev.Type, "task-") {
			return false
		}
		if ev.Hostname != host {
			t.Errorf("task event from %q, want %q", ev.Hostname, host)
		}
		seen[ev.Type] = ev
		return ev.Type == "task-succeeded"
	})
	received, ok := seen["task-received"]
	if !ok || received.UUID == "" || received.Name != "tiny.sleep" {
		t.Fatalf("task-received = %+v (seen %t), want a uuid and name tiny.sleep", received, ok)
	}
	if started, ok := seen["task-started"]; !ok || started.UUID != received.UUID {
		t.Errorf("task-started = %+v (seen %t), want uuid %s", started, ok, received.UUID)
	}
	if done := seen["task-succeeded"]; done.UUID != received.UUID || done.Runtime < 0.4 {
		t.Errorf("task-succeeded = %+v, want uuid %s and runtime >= 0.4s", done, received.UUID)
	}
}
