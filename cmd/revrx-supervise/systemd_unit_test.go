package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const unitFile = "../../examples/systemd/revrx-supervise.service"

// TestSystemdUnit checks examples/systemd/revrx-supervise.service with
// systemd's own tools: `systemd-analyze verify` (on a copy whose ExecStart
// is the binary built for these tests: verify insists the binary exists)
// and `systemd-analyze security --offline=yes`, whose exposure score must
// stay well below the 8.5 of the unit before sandboxing; and that the
// directives the supervisor relies on are there.
func TestSystemdUnit(t *testing.T) {
	dirs := unitDirectives(t)
	for key, want := range map[string]string{
		"Type": "notify", "NotifyAccess": "main", "WatchdogSec": "30", "KillMode": "mixed",
		"Restart": "on-failure", "TimeoutStopSec": "75", "ProtectSystem": "strict", "CapabilityBoundingSet": "",
		"SystemCallFilter": "@system-service", "UMask": "0077", "NoNewPrivileges": "yes",
	} {
		if got, ok := dirs[key]; !ok || got[0] != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd): the unit is not verified")
	}
	body, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "revrx-supervise.service")
	copied := strings.ReplaceAll(string(body), "ExecStart=/usr/local/bin/revrx-supervise", "ExecStart="+binPath)
	if err := os.WriteFile(unit, []byte(copied), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security --offline=yes: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f", score)
	if score > 2.5 {
		t.Errorf("exposure level %.1f, want at most 2.5 (8.5 before sandboxing)\n%s", score, out)
	}
}

// unitDirectives reads the unit's Key=value lines (the values of a
// repeated key in order; continuation lines are skipped).
func unitDirectives(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, " ") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = append(out[k], v)
		}
	}
	return out
}
