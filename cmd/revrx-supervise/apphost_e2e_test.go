package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/internal/harness"
	sv "github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/policy"
)

// testApps holds the Celery apps of these tests (testdata/apps).
var testApps, _ = filepath.Abs("testdata/apps")

// startBare runs the binary as a user would, in dir, with only args on the
// command line: everything else (the HTTP address, the celery command) comes
// from the environment, and no CELERY_* or REVRX_* variable of the test's own
// environment leaks in. marker must appear in env: it finds leftovers.
func startBare(t *testing.T, dir, marker string, env []string, args ...string) *supervised {
	t.Helper()
	addr := freeAddr(t)
	env = append(env, "REVRX_HTTP_ADDR="+addr, "REVRX_CELERY_CMD="+celeryCmd)
	return launch(t, launchSpec{argv: append([]string{binPath}, args...), env: env, dir: dir,
		addr: addr, marker: marker, clean: true})
}

// fidelityTool runs testdata/apps/fidelity_tool.py against the Redis on port.
func fidelityTool(t *testing.T, port int, args ...string) string {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", append([]string{"fidelity_tool.py"}, args...)...)
	cmd.Dir = testApps
	cmd.Env = append(os.Environ(), fmt.Sprintf("FIDELITY_REDIS_PORT=%d", port))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fidelity_tool %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestAppConfigFidelity: an app that sets its own broker_url (db 3),
// global_keyprefix "fid:", priority_steps 0..9 with sep ":" and its default
// queue, started with nothing but -A and --autoscale. For every priority
// 0-9, revrx_queue_messages must equal kombu's own Channel._size. Reading
// the flags' defaults instead would look at db 0 without a prefix and the
// default steps, and see nothing (or, for the broker, another Redis).
func TestAppConfigFidelity(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	marker := fmt.Sprintf("FIDELITY_REDIS_PORT=%d", rds.Port)
	s := startBare(t, testApps, marker, []string{marker}, "-A", "fidelity_app", "--autoscale=1,1")
	waitFor(t, 30*time.Second, "1 idle worker", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
	// Occupy the only worker (prefetch 1: one running, at most one
	// reserved) so that what follows stays in the lists.
	fidelityTool(t, rds.Port, "publish", "3", "0", "120")
	waitFor(t, 20*time.Second, "a busy worker", func() bool { return s.workersIn(policy.PhaseBusy) == 1 })
	time.Sleep(time.Second) // its reservation settles
	const series = `revrx_queue_messages{queue="fidq"}`
	for pri := range 10 {
		fidelityTool(t, rds.Port, "publish", strconv.Itoa(pri+1), strconv.Itoa(pri), "1")
		want, _ := strconv.ParseFloat(fidelityTool(t, rds.Port, "size"), 64)
		deadline := time.Now().Add(5 * time.Second)
		got := s.metric(series)
		for got != want && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			got = s.metric(series)
		}
		if got != want {
			t.Fatalf("after priority %d: %s = %v, kombu counts %v", pri, series, got, want)
		}
	}
	keys := fidelityTool(t, rds.Port, "keys")
	if !strings.Contains(keys, "fid:fidq:5") || !strings.Contains(keys, "fid:fidq:9") {
		t.Fatalf("kombu's keys are %q; want fid:fidq:5 and fid:fidq:9 (the test would prove nothing)", keys)
	}
	t.Logf("kombu's keys: %s; %s = %v", strings.ReplaceAll(keys, "\n", " "), series, s.metric(series))
	settings := map[string]sv.Setting{}
	for _, st := range s.status().Settings {
		settings[st.Name] = st
	}
	for name, want := range map[string]string{"broker_url": "app", "global_keyprefix": "app",
		"priority_steps": "app", "sep": "app", "queues": "app"} {
		if got := settings[name].Source; got != want {
			t.Errorf("/status setting %s comes from %q, want %q (%+v)", name, got, want, settings[name])
		}
	}
	if u := settings["broker_url"].Value; !strings.HasSuffix(u, fmt.Sprintf(":%d/3", rds.Port)) {
		t.Errorf("/status broker_url = %q, want the app's db 3 on port %d", u, rds.Port)
	}
}

// TestLateAckKeepsSingleSlotBusy: a late-ack app (REVRX_ACKS_LATE=1) at
// Celery's prefetch of 1 with no worker arguments: one -c 1 worker runs 8
// tasks of 0.2 s in under 2 s, because the supervisor gives late-ack
// workers a prefetch multiplier of 2. At 1 each task waits for the ack and
// kombu's next poll (about 8 s in all).
func TestLateAckKeepsSingleSlotBusy(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisorUnder(t, nil, []string{"REVRX_ACKS_LATE=1"}, url, "--engine", "workers", "--autoscale=1,1", "-Q", "lateack")
	waitFor(t, 30*time.Second, "1 idle worker", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
	publish(t, url, "lateack", 8, 0.2)
	waitFor(t, 20*time.Second, "8 tasks done", func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == 8
	})
	first, last := 0.0, 0.0
	for _, r := range readRecords(t, s.record) {
		if r.Event == "start" && (first == 0 || r.Started < first) {
			first = r.Started
		}
		last = max(last, r.Started+0.2)
	}
	took := time.Duration((last - first) * float64(time.Second))
	t.Logf("8 x 0.2 s on one late-ack worker: %s from the first start to the last end", took.Round(10*time.Millisecond))
	if took >= 2*time.Second {
		t.Errorf("8 x 0.2 s took %s, want under 2 s", took)
	}
	for _, st := range s.status().Settings {
		if st.Name == "worker_prefetch_multiplier" && (st.Value != "2" || !strings.HasPrefix(st.Source, "auto")) {
			t.Errorf("/status %+v, want 2 from auto (task_acks_late)", st)
		}
	}
}

// TestForkedExitStatuses: a forked worker's exit status reaches the
// supervisor exactly (it is re-parented to the supervisor, which reaps it):
// a status of 7, death by SIGKILL, and 0 on a warm stop.
func TestForkedExitStatuses(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	for _, tc := range []struct{ how, want string }{
		{"7", `status="exit status 7"`},
		{"signal:9", `status="signal: killed"`},
	} {
		t.Run(tc.how, func(t *testing.T) {
			rds := harness.StartTestRedis(t)
			url := rds.URL(0)
			s := startSupervisorUnder(t, nil, []string{"EXIT_AT_INIT=" + tc.how, "PYTHONPATH=" + testApps},
				url, "-A", "exit_app", "--autoscale=1,1", "-Q", "exits")
			waitFor(t, 30*time.Second, "an unexpected exit", func() bool {
				return countLines(s.logs.String(), "worker exited unexpectedly", tc.want) > 0
			})
			if countLines(s.logs.String(), "worker started", "spawn=fork") == 0 {
				t.Fatal("no worker was forked")
			}
		})
	}
	t.Run("warm stop", func(t *testing.T) {
		rds := harness.StartTestRedis(t)
		url := rds.URL(0)
		s := startSupervisorUnder(t, nil, []string{"PYTHONPATH=" + testApps}, url, "-A", "exit_app", "--autoscale=1,1", "-Q", "exits")
		waitFor(t, 30*time.Second, "1 idle worker", func() bool { return s.workersIn(policy.PhaseIdle) == 1 })
		s.signal(syscall.SIGTERM)
		if code := s.wait(30 * time.Second); code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
		if countLines(s.logs.String(), "worker stopped", `status="exit status 0"`) != 1 {
			t.Error("no worker stopped with exit status 0")
		}
	})
}

// TestAppHostKilled: SIGKILL the app host mid-run. Its forked workers are
// not touched (same PIDs, still up), the host is restarted, workers started
// meanwhile are exec'd, and later starts are forked again; no task is lost.
func TestAppHostKilled(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	rds := harness.StartTestRedis(t)
	url := rds.URL(0)
	s := startSupervisor(t, url, "--engine", "workers", "--autoscale=4,2", "--keepalive=2s", "-Q", "hostkill")
	waitFor(t, 30*time.Second, "2 idle workers", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	st := s.status()
	if st.AppHost == nil || !st.AppHost.Ready {
		t.Fatalf("app host = %+v, want ready", st.AppHost)
	}
	before := workerPIDs(st)
	if err := syscall.Kill(st.AppHost.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the host restarted", func() bool {
		h := s.status().AppHost
		return h != nil && h.Ready && h.PID != st.AppHost.PID && h.Restarts >= 1
	})
	if after := workerPIDs(s.status()); !slices.Equal(after[:2], before) {
		t.Fatalf("workers %v before the host was killed, %v after: they must not be touched", before, after)
	}
	publish(t, url, "hostkill", 8, 1)
	waitFor(t, 30*time.Second, "8 tasks done", func() bool {
		_, finished := tally(readRecords(t, s.record))
		return len(finished) == 8
	})
	if n := countLines(s.logs.String(), "worker started", "spawn=fork"); n < 3 {
		t.Errorf("%d forked starts, want the 2 first and at least one after the restart", n)
	}
	started, finished := tally(readRecords(t, s.record))
	for id, n := range started {
		if n != 1 || finished[id] != 1 {
			t.Errorf("task %s started %d times, finished %d", id, n, finished[id])
		}
	}
}

// workerPIDs lists the PIDs of the workers in /status, by slot.
func workerPIDs(st sv.Status) []int {
	var pids []int
	for _, w := range st.Workers {
		pids = append(pids, w.PID)
	}
	return pids
}

// TestAppBrokerPasswordNeverShown: the password of a broker_url the app
// sets itself reaches the supervisor only through the app host's report;
// it must still appear in no log line, not in /status, and in no worker's
// command line, while the broker is read with it.
func TestAppBrokerPasswordNeverShown(t *testing.T) {
	t.Parallel() // its own Redis, supervisor and workers
	needCelery(t)
	const password = "app-s3cr3t-pw"
	rds := harness.StartTestRedis(t, "--requirepass", password)
	marker := fmt.Sprintf("FIDELITY_REDIS_PORT=%d", rds.Port)
	s := startBare(t, testApps, marker, []string{marker, "FIDELITY_REDIS_PASSWORD=" + password},
		"-A", "fidelity_app", "--autoscale=2,2", "--log-level=debug")
	waitFor(t, 30*time.Second, "2 idle workers", func() bool { return s.workersIn(policy.PhaseIdle) == 2 })
	if up := s.metric("revrx_broker_up"); up != 1 {
		t.Fatalf("revrx_broker_up = %v, want 1 (the app's password must be used)", up)
	}
	_, status := s.get("/status")
	if strings.Contains(string(status), password) {
		t.Errorf("/status shows the password")
	}
	for _, pid := range celeryProcesses(marker) {
		if strings.Contains(cmdline(pid), password) {
			t.Errorf("pid %d has the password in its command line: %s", pid, cmdline(pid))
		}
	}
	s.signal(syscall.SIGTERM)
	s.wait(30 * time.Second)
	if strings.Contains(s.logs.String(), password) {
		t.Errorf("the log shows the password")
	}
	if !strings.Contains(string(status), `"redis://:***@127.0.0.1`) {
		t.Errorf("/status does not show the redacted broker URL: %s", status)
	}
}
