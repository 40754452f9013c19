package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/revrx/revrx-supervise/internal/harness"
)

// clearFlagEnv unsets, for the test, every environment variable a flag
// reads, so the host's CELERY_BROKER_URL or REVRX_AUTOSCALE cannot change
// what the command line means.
func clearFlagEnv(t *testing.T) {
	t.Helper()
	for _, f := range flags() {
		df, ok := f.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		for _, v := range df.GetEnvVars() {
			t.Setenv(v, "") // restores the old value after the test
			os.Unsetenv(v)
		}
	}
}

// callMain runs realMain in-process and returns its exit code and output.
// It fails the test if realMain has not returned within 5 s: a bad command
// line that got as far as run() would block there until a signal.
func callMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() { done <- realMain(append([]string{"revrx-supervise"}, args...), &out, &errOut) }()
	select {
	case code = <-done:
	case <-time.After(5 * time.Second):
		// It is in run(), which watches SIGTERM: warm-stop it so the
		// failure leaves nothing running in this process.
		if strings.Contains(errOut.String(), "msg=starting") {
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
			}
		}
		t.Fatalf("realMain(%q) still running after 5s: it accepted the command line and started\nstderr: %s",
			args, errOut.String())
	}
	return code, out.String(), errOut.String()
}

// TestBadUsage: every bad command line exits 2 with a message on stderr that
// names the flag (or argument) and the accepted form, and starts nothing: no
// HTTP listener, no child process. Any case that parsed as valid would reach
// run() and block (callMain fails it after 5 s); a message that dropped the
// flag name or the accepted form fails the substring checks.
func TestBadUsage(t *testing.T) {
	clearFlagEnv(t)
	addr := freeAddr(t)
	started := filepath.Join(t.TempDir(), "started")
	// A worker command that would leave a trace if it ever ran, and a
	// broker nobody listens on (never the Redis on 127.0.0.1:6379).
	fake := writeScript(t, "celery", "touch "+started+"\nexec sleep 600\n")
	base := []string{"--http-addr", addr, "--celery-cmd", fake, "--broker", "redis://127.0.0.1:1/0"}
	const autoscaleForm = "accepted: --autoscale=MAX[,MIN]"
	const secret = "pw-s3cret"
	cases := []struct {
		name    string
		args    []string
		want    []string // substrings of stderr
		notWant string   // must not appear in stdout or stderr
	}{
		{"autoscale letters", []string{"--autoscale=a,b"}, []string{"--autoscale", `"a"`, autoscaleForm}, ""},
		{"autoscale negative", []string{"--autoscale=-1"}, []string{"--autoscale", "negative", autoscaleForm}, ""},
		{"autoscale zero", []string{"--autoscale=0,0"}, []string{"--autoscale", "at least 1", autoscaleForm}, ""},
		{"autoscale empty", []string{"--autoscale="}, []string{"--autoscale", autoscaleForm}, ""},
		{"autoscale three values", []string{"--autoscale=1,2,3"}, []string{"--autoscale", "3 values", autoscaleForm}, ""},
		// urfave/cli's Required check used to pre-empt ours: `Required flag
		// "autoscale" not set`, without the accepted form.
		{"autoscale missing", nil, []string{"--autoscale is required", "--autoscale=MAX[,MIN]"}, ""},
		{"keepalive", []string{"--autoscale=2", "--keepalive=soon"}, []string{"--keepalive", "accepted: a duration"}, ""},
		{"pool", []string{"--autoscale=2", "--pool=bogus"}, []string{"--pool", "bogus", "accepted: prefork"}, ""},
		{"concurrency", []string{"--autoscale=2", "--concurrency=0"}, []string{"--concurrency", "at least 1"}, ""},
		{"log format", []string{"--autoscale=2", "--log-format=xml"}, []string{"--log-format", "accepted: text, json"}, ""},
		{"broker scheme", []string{"--autoscale=2", "--broker=sqs://x"}, []string{"--broker", "unsupported scheme", "accepted forms: redis://", "amqp://"}, ""},
		{"amqp broker port with password", []string{"--autoscale=2", "--broker=amqp://u:" + secret + "@host:notaport//"},
			[]string{"--broker", "port", "accepted forms: amqp://"}, secret},
		{"broker port with password", []string{"--autoscale=2", "--broker=redis://:" + secret + "@host:notaport/0"},
			[]string{"--broker", "port", "accepted forms: redis://"}, secret},
		{"unknown flag", []string{"--autoscale=2", "--nope"}, []string{"-nope", "revrx-supervise -h"}, ""},
		{"stray argument", []string{"--autoscale=2", "stray"}, []string{`"stray"`, "worker arguments go after --"}, ""},
		// A stray argument before a later -- used to be passed to every
		// worker as "stray -- --loglevel=info".
		{"stray argument before --", []string{"--autoscale=2", "stray", "--", "--loglevel=info"},
			[]string{`"stray"`, "worker arguments go after --"}, ""},
		{"group range min above max", []string{"--autoscale=10", "-Q", "video:5-4,audio"},
			[]string{"--queues", `"video:5-4,audio"`, "minimum 5 is above the maximum 4", groupForm}, ""},
		{"predict mode", []string{"--autoscale=10", "--predict=yes"}, []string{"--predict", `"yes"`, "accepted: off, forecast, on"}, ""},
		{"predict period", []string{"--autoscale=10", "--predict=on", "--predict-period=7m"},
			[]string{"--predict-period", "7m", "divides a day"}, ""},
		{"group minimums above host max", []string{"--autoscale=10", "-Q", "video:6-8,audio:5-6"},
			[]string{"--queues", "minimums add up to 11", "host MAX 10"}, ""},
		{"queue in two groups", []string{"--autoscale=10", "-Q", "video:1-4,audio+video"},
			[]string{"--queues", `queue "video" is in groups`, groupForm}, ""},
		{"empty group", []string{"--autoscale=10", "-Q", "video:1-4,,audio"},
			[]string{"--queues", "has no queue", groupForm}, ""},
		{"group range letters", []string{"--autoscale=10", "-Q", "video:one-4"},
			[]string{"--queues", `"one" is not a whole number`, groupForm}, ""},
		{"group names need {group}", []string{"--autoscale=10", "-Q", "video:1-4,audio", "--worker-name", "w{n}@%h"},
			[]string{"--worker-name", "{group}"}, ""},
		{"rebalance-after negative", []string{"--autoscale=10", "-Q", "video:1-4,audio", "--rebalance-after=-1s"},
			[]string{"--rebalance-after", "accepted: a duration"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := callMain(t, append(append([]string(nil), base...), tc.args...)...)
			if code != 2 {
				t.Errorf("exit code %d, want 2 (usage)\nstderr: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
			if tc.notWant != "" && strings.Contains(stdout+stderr, tc.notWant) {
				t.Errorf("output shows %q:\n%s%s", tc.notWant, stdout, stderr)
			}
			assertNothingStarted(t, addr, started)
		})
	}
}

// assertNothingStarted: the HTTP address is still free, the fake worker
// never ran and this test process has no child.
func assertNothingStarted(t *testing.T, addr, started string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("--http-addr %s is taken after a usage error: %v", addr, err)
	} else {
		ln.Close()
	}
	if _, err := os.Stat(started); err == nil {
		t.Errorf("a worker was started")
	}
	if kids := harness.Children(os.Getpid()); len(kids) > 0 {
		t.Errorf("child processes after a usage error: %v", kids)
	}
}

// TestHelpDocumentsEveryFlag: -h exits 0 and shows every flag name, alias
// and environment variable. A flag added without help text, or hidden, or
// an env var dropped from the output, fails it.
func TestHelpDocumentsEveryFlag(t *testing.T) {
	clearFlagEnv(t)
	for _, arg := range []string{"-h", "--help"} {
		code, stdout, stderr := callMain(t, arg)
		if code != 0 {
			t.Fatalf("%s: exit code %d, want 0\nstderr: %s", arg, code, stderr)
		}
		for _, f := range flags() {
			for _, n := range f.Names() {
				opt := "--" + n
				if len(n) == 1 {
					opt = "-" + n
				}
				if !strings.Contains(stdout, opt+" ") {
					t.Errorf("%s output does not document %s", arg, opt)
				}
			}
			if df, ok := f.(cli.DocGenerationFlag); ok {
				if df.GetUsage() == "" {
					t.Errorf("flag --%s has no usage text", f.Names()[0])
				}
				for _, v := range df.GetEnvVars() {
					if !strings.Contains(stdout, "$"+v) {
						t.Errorf("%s output does not name the environment variable %s", arg, v)
					}
				}
			}
		}
		for _, w := range []string{"--autoscale=10,3", "Exit codes"} {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s output lacks %q", arg, w)
			}
		}
	}
}

// TestVersion: `revrx-supervise version` exits 0 and prints the name, with
// no other flag. It failed (exit 2, `Required flag "autoscale" not set`)
// while --autoscale was a urfave/cli Required flag: the required check runs
// before subcommands.
func TestVersion(t *testing.T) {
	clearFlagEnv(t)
	code, stdout, stderr := callMain(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "revrx-supervise ") {
		t.Errorf("version: exit %d, stdout %q, stderr %q; want 0 and \"revrx-supervise <version>\"", code, stdout, stderr)
	}
}

// TestHTTPAddrInUse: with --http-addr taken, the binary exits 1 within
// seconds with an error naming --http-addr, before starting any worker. If
// the listener were opened after the pool started (or its error ignored),
// the fake worker would leave its marker, or the process would not exit.
func TestHTTPAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	started := filepath.Join(t.TempDir(), "started")
	fake := writeScript(t, "celery", "touch "+started+"\nexec sleep 600\n")
	broker := "redis://127.0.0.1:1/0" // nothing listens there; it must not matter
	s := startSupervisorUnder(t, nil, nil, broker, "--autoscale=1,1", "--celery-cmd", fake,
		"--http-addr", ln.Addr().String())
	if code := s.wait(5 * time.Second); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	logs := s.logs.String()
	for _, w := range []string{"--http-addr", ln.Addr().String(), "address already in use"} {
		if !strings.Contains(logs, w) {
			t.Errorf("log lacks %q:\n%s", w, logs)
		}
	}
	if _, err := os.Stat(started); err == nil {
		t.Errorf("a worker was started although the HTTP port was taken")
	}
	if left := processesWithEnv(broker); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}
