package harness

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTree starts sh with a background sleep (a grandchild of the test in
// the same process group) and waits until /proc shows the sleep.
func startTree(t *testing.T, script string) (*Process, int) {
	t.Helper()
	p, err := Start("sh", exec.Command("sh", "-c", script))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.KillTree)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if kids := Children(p.PID()); len(kids) > 0 && Alive(kids[0]) {
			return p, kids[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no child of sh within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKillTree: the process, its child and its group are killed by PID.
func TestKillTree(t *testing.T) {
	// sh must not exit on its own when its child is killed first (it
	// would exit 0 between that and its own SIGKILL): it sleeps again.
	p, kid := startTree(t, "sleep 60 & wait; sleep 60")
	if st, ok := ReadStat(kid); !ok || st.PGRP != p.PID() || st.PPID != p.PID() {
		t.Fatalf("child stat = %+v, %v; want parent and group %d", st, ok, p.PID())
	}
	if d := Descendants(p.PID()); !slices.Contains(d, kid) {
		t.Errorf("Descendants = %v, want %d in it", d, kid)
	}
	p.KillTree()
	if !p.Exited() || p.ExitCode() != -1 {
		t.Errorf("after KillTree: exited %v, code %d; want true, -1", p.Exited(), p.ExitCode())
	}
	waitGone(t, kid)
}

// waitGone fails the test unless pid (SIGKILLed, re-parented to init or a
// subreaper, which reaps it) is gone or a zombie within 5 s.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for Alive(pid) {
		if time.Now().After(deadline) {
			st, _ := ReadStat(pid)
			t.Fatalf("process %d survived its tree's kill: %+v", pid, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStop: a process that exits on the signal is not killed; one that
// ignores it is, after the grace, with ErrKilled.
func TestStop(t *testing.T) {
	p, _ := startTree(t, "trap 'exit 3' TERM; sleep 60 & wait")
	if took, err := p.Stop(syscall.SIGTERM, 5*time.Second); err != nil || took >= 5*time.Second {
		t.Errorf("Stop = %s, %v; want < 5s, nil", took, err)
	}
	if p.ExitCode() != 3 {
		t.Errorf("ExitCode = %d, want 3", p.ExitCode())
	}
	if _, err := p.Stop(syscall.SIGTERM, time.Second); err != nil {
		t.Errorf("Stop of an exited process = %v, want nil", err)
	}
	q, kid := startTree(t, "trap '' TERM; sleep 60 & wait")
	if _, err := q.Stop(syscall.SIGTERM, 200*time.Millisecond); !errors.Is(err, ErrKilled) {
		t.Errorf("Stop of a process ignoring SIGTERM = %v, want ErrKilled", err)
	}
	waitGone(t, kid)
}

// TestStartLoggedWait: output is appended to the log; Wait returns the
// exit error, or ctx's.
func TestStartLoggedWait(t *testing.T) {
	log := filepath.Join(t.TempDir(), "out.log")
	for i := range 2 {
		p, err := StartLogged("echo", []string{"sh", "-c", "echo run" + strconv.Itoa(i) + "; exit 2"}, "", nil, log)
		if err != nil {
			t.Fatal(err)
		}
		var ee *exec.ExitError
		if err := p.Wait(context.Background()); !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("Wait = %v, want exit status 2", err)
		}
	}
	if got := logTail(log); !strings.HasPrefix(got, "run0 | run1") {
		t.Errorf("log = %q, want both runs", got)
	}
	p, _ := startTree(t, "sleep 60 & wait")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(cancelled) = %v, want context.Canceled", err)
	}
	KillAll()
	if !p.Exited() {
		t.Error("KillAll left a process running")
	}
}
