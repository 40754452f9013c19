package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// Helpers for the process-level tests (pid1_test.go, signals_test.go,
// queue_test.go): run the binary under a prefix such as unshare, and read
// /proc to prove which processes exist, which are zombies and which remain.

// startSupervisorUnder is startSupervisor with the binary run as
// prefix[0] prefix[1:]... binPath args..., and env added to its environment
// (the workers inherit it). The process group of prefix[0] is SIGKILLed at
// the end of the test if it is still running, and so is every process left
// with the test's broker URL in its environment.
func startSupervisorUnder(t *testing.T, prefix, env []string, brokerURL string, args ...string) *supervised {
	t.Helper()
	addr := freeAddr(t)
	full := append([]string{binPath, "--celery-cmd", celeryCmd, "-A", "tasks", "--http-addr", addr,
		"--poll-interval", "250ms", "--log-level", "debug"}, args...)
	full = append(append([]string(nil), prefix...), full...)
	return launch(t, launchSpec{argv: full, env: append([]string{"CELERY_BROKER_URL=" + brokerURL}, env...),
		dir: appDir, addr: addr, marker: brokerURL})
}

// launchSpec is one run of the binary (possibly under a prefix).
type launchSpec struct {
	argv   []string // the whole command line
	env    []string // added to the test's environment
	dir    string   // working directory
	addr   string   // the HTTP address it serves
	marker string   // a string in the environment of everything it starts
	// clean drops CELERY_* and REVRX_* from the inherited environment, so
	// only spec.env configures the run.
	clean bool
}

// launch starts spec.argv in a process group of its own (harness.Start: it
// gets SIGKILL if the test binary dies); at the end of the test its tree and
// group are SIGKILLed if it still runs, and so is every process left with
// spec.marker in its environment.
func launch(t *testing.T, spec launchSpec) *supervised {
	t.Helper()
	s := &supervised{t: t, addr: spec.addr, record: filepath.Join(t.TempDir(), "record.jsonl"),
		logs: &lockedBuffer{}}
	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Dir = spec.dir
	base := os.Environ()
	if spec.clean {
		base = slices.DeleteFunc(base, func(kv string) bool {
			return strings.HasPrefix(kv, "CELERY_") || strings.HasPrefix(kv, "REVRX_")
		})
	}
	cmd.Env = append(append(base, "REVRX_RECORD="+s.record,
		"PATH=/usr/bin:/bin:"+os.Getenv("PATH")), spec.env...)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	proc, err := harness.Start(spec.argv[0], cmd)
	if err != nil {
		t.Fatal(err)
	}
	s.proc = proc
	t.Cleanup(func() {
		if !proc.Exited() {
			proc.KillTree()
		}
		killLeftovers(t, spec.marker)
		if t.Failed() {
			t.Logf("supervisor output:\n%s", lastLines(s.logs.String(), 80))
		}
	})
	return s
}

// killLeftovers SIGKILLs, by PID, every live process whose environment holds
// marker (the test's broker URL: only processes this test started have it),
// so a failing test leaves nothing running. It logs what it had to kill.
func killLeftovers(t *testing.T, marker string) {
	for _, pid := range processesWithEnv(marker) {
		t.Logf("cleanup: killing leftover pid %d (%s)", pid, cmdline(pid))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// processesWithEnv lists the live (non-zombie) processes whose environment
// contains marker, whatever their command line.
func processesWithEnv(marker string) []int {
	var pids []int
	for _, pid := range harness.PIDs() {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil || !bytes.Contains(env, []byte(marker)) {
			continue
		}
		if st, ok := harness.ReadStat(pid); ok && !st.Zombie() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// descendants maps every descendant of root (not root itself), zombies
// included, to its state letter. Inside a PID namespace whose init is root
// this is the whole namespace but its init.
func descendants(root int) map[int]byte {
	table := harness.Table()
	out := map[int]byte{}
	for _, pid := range harness.Tree(root, table) {
		if pid != root {
			out[pid] = table[pid].State
		}
	}
	return out
}

// cmdline is pid's command line, its arguments joined by spaces.
func cmdline(pid int) string { return strings.Join(harness.Cmdline(pid), " ") }

// writeScript writes an executable shell script into a temporary directory
// and returns its path.
func writeScript(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// countLines counts the log lines that contain every one of parts.
func countLines(logs string, parts ...string) int {
	n := 0
	for line := range strings.Lines(logs) {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}
