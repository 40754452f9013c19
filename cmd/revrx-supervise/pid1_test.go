package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// The PID 1 tests run the binary as the init of a new PID namespace:
//
//	unshare --pid --fork --mount-proc revrx-supervise ...
//
// unshare forks the binary as PID 1 of the namespace and waits for it,
// passing its exit code on. A signal is sent to the binary itself (the child
// of unshare), which is how a container runtime signals PID 1.

var unsharePrefix = []string{"unshare", "--pid", "--fork", "--mount-proc"}

// needUnshare skips the test when this host cannot create PID namespaces
// (not root, or a sandbox that forbids unshare).
func needUnshare(t *testing.T) {
	t.Helper()
	out, err := exec.Command(unsharePrefix[0], append(unsharePrefix[1:], "/bin/true")...).CombinedOutput()
	if err != nil {
		t.Skipf("cannot create a PID namespace (unshare: %v: %s)", err, strings.TrimSpace(string(out)))
	}
}

// startAsPID1 runs the binary as PID 1 of a new PID namespace and returns
// it with the host PID of that init process.
func startAsPID1(t *testing.T, env []string, brokerURL string, args ...string) (*supervised, int) {
	t.Helper()
	s := startSupervisorUnder(t, unsharePrefix, env, brokerURL, args...)
	var init int
	waitFor(t, 5*time.Second, "the namespace's PID 1", func() bool {
		kids := harness.Children(s.proc.PID())
		if len(kids) == 1 {
			init = kids[0]
		}
		return init != 0
	})
	// Prove the binary knows it is PID 1 (it then reaps orphans); the
	// tests below would prove nothing otherwise.
	waitFor(t, 5*time.Second, `the "starting ... pid1=true" log line`, func() bool {
		return strings.Contains(s.logs.String(), "pid1=true")
	})
	return s, init
}

// TestPID1WarmShutdown: as PID 1, a SIGTERM warm-stops the workers, the
// running tasks finish, the exit code is 0 and nothing is left. It fails if
// PID 1 had no SIGTERM handler (a Go PID 1 then exits 2), or exited before
// its workers (the kernel SIGKILLs the whole namespace when PID 1 exits: the
// tasks would not finish), or lost the workers' exit statuses to a careless
// reaper (wait4(-1)): "worker exit status lost" instead of "exit status 0".
func TestPID1WarmShutdown(t *testing.T) {
	for _, c := range []struct {
		engine string
		mains  int // "worker stopped" lines: one per worker main
	}{{"pool", 1}, {"workers", 2}} {
		t.Run(c.engine, func(t *testing.T) {
			t.Parallel() // each engine its own Redis and supervisor
			testPID1WarmShutdown(t, c.engine, c.mains)
		})
	}
}

func testPID1WarmShutdown(t *testing.T, engine string, mains int) {
	needCelery(t)
	needUnshare(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s, init := startAsPID1(t, nil, url, "--engine", engine, "--autoscale=2,2", "-Q", "pid1")
	waitFor(t, 30*time.Second, "2 idle workers", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	publish(t, url, "pid1", 2, 3)
	waitFor(t, 10*time.Second, "2 busy workers", func() bool { return s.workersIn(policy.PhaseBusy) == 2 })
	if err := syscall.Kill(init, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.wait(30 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM to PID 1, want 0", code)
	}
	started, finished := tally(readRecords(t, s.record))
	if len(started) != 2 || len(finished) != 2 {
		t.Errorf("started %d, finished %d tasks; want 2 and 2", len(started), len(finished))
	}
	if n := countLines(s.logs.String(), "worker stopped", "exit status 0"); n != mains {
		t.Errorf(`%d "worker stopped ... exit status 0" lines, want %d`, n, mains)
	}
	if left := processesWithEnv(url); len(left) > 0 {
		t.Errorf("processes left after exit: %v", left)
	}
}

// orphanWrapper is a --celery-cmd that, like many entrypoint scripts, leaves
// orphans behind, then exec's Celery (so the worker's PID is the script's):
//
//  1. The outer subshell exits at once, so its background child is
//     re-parented to the nearest reaper (PID 1 in a container). It appends a
//     line to $ORPHAN_LOG just before it exits, and must then be reaped.
//  2. An orphan in its own session (out of reach of the group SIGKILL) that
//     keeps the worker's stdout and stderr open for as long as the worker's
//     PID exists (kill -0 succeeds on a zombie too), then 1 s more. The pool
//     must not hang on those pipes (it closes them after a grace), and the
//     worker's exit status must still be there afterwards: a reaper that
//     took it meanwhile (wait4(-1)) has a whole second to do so.
const orphanWrapper = `( (sleep 1; echo done >>"$ORPHAN_LOG") </dev/null >/dev/null 2>&1 & )
( setsid sh -c 'while kill -0 '$$' 2>/dev/null; do sleep 0.1; done; sleep 1' </dev/null & )
exec /usr/bin/python3 -m celery "$@"
`

// TestOrphansReaped: a worker command that leaves orphans (orphanWrapper).
// As PID 1 the supervisor must reap them (no zombie stays in the namespace)
// and still get every managed worker's exit status; not as PID 1 it must
// work the same (someone else reaps). Without the reaper (Config.Reap false,
// or not set when PID 1) the orphans stay zombies and the zombie check
// fails; with a reaper that called wait4(-1) the workers' statuses are
// stolen ("worker exit status lost" instead of "exit status 0"); a pool
// that waited for EOF on the output pipes would hang past s.wait.
func TestOrphansReaped(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	for _, pid1 := range []bool{true, false} {
		name := "not PID 1"
		if pid1 {
			name = "PID 1"
		}
		t.Run(name, func(t *testing.T) {
			if pid1 {
				needUnshare(t)
			}
			rds := harness.StartTestRedis(t)
			url := rds.URL(0)
			orphans := t.TempDir() + "/orphans"
			wrapper := writeScript(t, "celery-wrapper", orphanWrapper)
			env := []string{"ORPHAN_LOG=" + orphans}
			args := []string{"--autoscale=2,2", "-Q", "orphans", "--celery-cmd", wrapper}
			var s *supervised
			init := 0
			if pid1 {
				s, init = startAsPID1(t, env, url, args...)
			} else {
				s = startSupervisorUnder(t, nil, env, url, args...)
			}
			waitFor(t, 30*time.Second, "2 idle workers", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
			waitFor(t, 5*time.Second, "both orphans to exit", func() bool {
				b, _ := os.ReadFile(orphans)
				return strings.Count(string(b), "done") >= 2
			})
			if pid1 {
				// The reaper runs on SIGCHLD, with a 5 s backstop tick:
				// 6 s is enough either way; a zombie that stays longer
				// was never going to be reaped.
				if z := zombiesUnder(init, 6*time.Second); len(z) > 0 {
					t.Fatalf("zombies in the namespace after 6s: %v", z)
				}
			}
			if err := syscall.Kill(pidToSignal(s, init), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := s.wait(30 * time.Second); code != 0 {
				t.Errorf("exit code %d after SIGTERM, want 0", code)
			}
			logs := s.logs.String()
			if n := countLines(logs, "worker stopped", "exit status 0"); n != 2 {
				t.Errorf(`%d "worker stopped ... exit status 0" lines, want 2`, n)
			}
			if strings.Contains(logs, "exit status lost") {
				t.Errorf("a worker's exit status was lost")
			}
			// Not as PID 1 the session orphan outlives the supervisor by up
			// to a second (as PID 1 the kernel killed it with the namespace).
			waitFor(t, 5*time.Second, "no process left", func() bool { return len(processesWithEnv(url)) == 0 })
		})
	}
}

// pidToSignal is the supervisor's host PID: init when it runs as a
// namespace's PID 1, else the process the test started.
func pidToSignal(s *supervised, init int) int {
	if init != 0 {
		return init
	}
	return s.proc.PID()
}

// zombiesUnder waits up to d for root to have no zombie descendant and
// returns the zombies still there at the end (nil once there are none).
func zombiesUnder(root int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var zombies []int
		for pid, st := range descendants(root) {
			if st == 'Z' {
				zombies = append(zombies, pid)
			}
		}
		if len(zombies) == 0 || time.Now().After(deadline) {
			return zombies
		}
		time.Sleep(100 * time.Millisecond)
	}
}
