//go:build linux

package pool

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExpandName(t *testing.T) {
	tests := []struct {
		tmpl, host string
		slot       int
		want       string
	}{
		{"worker{n}@%h", "vm.example.com", 3, "worker3@vm.example.com"},
		{"w{n}-%n@%d", "vm.example.com", 1, "w1-vm@example.com"},
		{"w{n}@%n", "vm", 2, "w2@vm"},
		{"worker{n}", "vm", 4, "celery@worker4"},
		{"w{n}@", "vm", 5, "w5@vm"},
		{"@w{n}", "vm", 6, "celery@w6"},
	}
	for _, tt := range tests {
		if got := expandName(tt.tmpl, tt.slot, tt.host); got != tt.want {
			t.Errorf("expandName(%q, %d, %q) = %q, want %q", tt.tmpl, tt.slot, tt.host, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"zero value is valid", Config{}, ""},
		{"empty program", Config{Command: []string{""}}, "Command"},
		{"no slot in name", Config{NameTemplate: "worker@%h"}, "NameTemplate"},
		{"percent i", Config{NameTemplate: "w{n}%i@%h"}, "NameTemplate"},
		{"negative concurrency", Config{Concurrency: -1}, "Concurrency"},
		{"unknown pool", Config{Pool: "fork"}, "Pool"},
		{"queue with comma", Config{Queues: []string{"a,b"}}, "Queues"},
		{"env without =", Config{Env: []string{"SECRET"}}, "Env"},
		{"min above max", Config{MinBackoff: time.Minute, MaxBackoff: time.Second}, "MaxBackoff"},
		{"negative timeout", Config{ShutdownTimeout: -1}, "ShutdownTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			var ce *ConfigError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.field != "" && (!errors.As(err, &ce) || ce.Field != tt.field):
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.field)
			}
		})
	}
}

func TestWorkerArgsDefaults(t *testing.T) {
	cfg := Config{Command: []string{"/usr/bin/python3", "-m", "celery"}}.withDefaults()
	got := celeryArgs(cfg, "worker1@vm")
	want := []string{"worker", "-n", "worker1@vm", "--concurrency", "1", "--pool", "prefork",
		"-E", "--without-mingle", "--without-gossip", "--prefetch-multiplier=1"}
	if !slices.Equal(got, want) {
		t.Fatalf("celeryArgs() = %q, want %q", got, want)
	}
}

func TestNextRestart(t *testing.T) {
	b := backoffPolicy{Min: time.Second, Max: 30 * time.Second, FailedStartWindow: 10 * time.Second}
	tests := []struct {
		name    string
		prev    backoffState
		uptime  time.Duration
		crashed bool
		want    restartDecision
	}{
		{"first failed start", backoffState{}, time.Second, true,
			restartDecision{Delay: time.Second, Reason: ReasonFailedStart, State: backoffState{Unstable: 1, FailedStarts: 1}}},
		{"third failed start reports", backoffState{Unstable: 2, FailedStarts: 2}, 0, true,
			restartDecision{Delay: 4 * time.Second, Reason: ReasonFailedStart, State: backoffState{Unstable: 3, FailedStarts: 3}, Report: true}},
		{"fourth does not report again", backoffState{Unstable: 3, FailedStarts: 3}, 0, false,
			restartDecision{Delay: 8 * time.Second, Reason: ReasonFailedStart, State: backoffState{Unstable: 4, FailedStarts: 4}}},
		{"capped", backoffState{Unstable: 40, FailedStarts: 40}, 0, true,
			restartDecision{Delay: 30 * time.Second, Reason: ReasonFailedStart, State: backoffState{Unstable: 41, FailedStarts: 41}}},
		{"short run crash keeps growing", backoffState{Unstable: 2, FailedStarts: 5}, 15 * time.Second, true,
			restartDecision{Delay: 4 * time.Second, Reason: ReasonCrashed, State: backoffState{Unstable: 3}}},
		{"long run resets", backoffState{Unstable: 5}, 20 * time.Second, true,
			restartDecision{Delay: time.Second, Reason: ReasonCrashed, State: backoffState{Unstable: 1}}},
		{"clean exit", backoffState{}, time.Hour, false,
			restartDecision{Delay: time.Second, Reason: ReasonExited, State: backoffState{Unstable: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextRestart(tt.prev, tt.uptime, tt.crashed, b); got != tt.want {
				t.Fatalf("nextRestart(%+v, %s) = %+v, want %+v", tt.prev, tt.uptime, got, tt.want)
			}
		})
	}
}

func TestReadLines(t *testing.T) {
	long := strings.Repeat("é", maxLineBytes) // 2 bytes each: twice the cap
	in := "one\r\ntwo \xff\n" + long + "\nafter\nno newline"
	var got []string
	readLines(strings.NewReader(in), func(s string) { got = append(got, s) })
	if len(got) != 5 {
		t.Fatalf("got %d lines, want 5", len(got))
	}
	if got[0] != "one" || got[1] != "two \uFFFD" || got[3] != "after" || got[4] != "no newline" {
		t.Fatalf("lines = %q", []string{got[0], got[1], got[3], got[4]})
	}
	if !strings.HasSuffix(got[2], truncatedMark) || len(got[2]) > maxLineBytes+len(truncatedMark) {
		t.Fatalf("long line: %d bytes, suffix %q", len(got[2]), got[2][len(got[2])-20:])
	}
}

func TestRing(t *testing.T) {
	var r ring
	for i := 0; i < 25; i++ {
		r.add(strings.Repeat("x", i))
	}
	got := r.snapshot()
	if len(got) != ringLines || len(got[0]) != 5 || len(got[ringLines-1]) != 24 {
		t.Fatalf("snapshot has %d lines, first %d long, last %d long", len(got), len(got[0]), len(got[len(got)-1]))
	}
}

func TestScriptInterpreter(t *testing.T) {
	tests := []struct {
		name, head string
		want       []string
	}{
		{"shebang", "#!/usr/bin/python3\nimport sys\n", []string{"/usr/bin/python3"}},
		{"shebang with options", "#!/opt/venv/bin/python -s\n", []string{"/opt/venv/bin/python", "-s"}},
		{"env", "#!/usr/bin/env python3\n", []string{"python3"}},
		{"debian sh wrapper", "#!/bin/sh\nshell_code=''' '\nthen\n    exec python3 \"$0\" \"$@\"\n", []string{"python3"}},
		{"not python", "#!/bin/bash\necho hi\n", nil},
		{"binary", "\x7fELF\x02\x01", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scriptInterpreter(tt.head); !slices.Equal(got, tt.want) {
				t.Fatalf("scriptInterpreter(%q) = %q, want %q", tt.head, got, tt.want)
			}
		})
	}
}

func TestInterpreterFromModuleForm(t *testing.T) {
	tests := []struct {
		cmd  []string
		want []string
		ok   bool
	}{
		{[]string{"/usr/bin/python3", "-m", "celery"}, []string{"/usr/bin/python3"}, true},
		{[]string{"python3", "-X", "dev", "-m", "celery"}, []string{"python3", "-X", "dev"}, true},
		{[]string{"-m", "celery"}, nil, false},
		{[]string{"/no/such/celery"}, nil, false},
		{[]string{"nice", "celery", "x"}, nil, false},
	}
	for _, tt := range tests {
		got, err := Interpreter(tt.cmd)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("Interpreter(%q) = %q, %v; want %q (ok %v)", tt.cmd, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrNoInterpreter) {
			t.Errorf("Interpreter(%q) error %v does not wrap ErrNoInterpreter", tt.cmd, err)
		}
	}
}
