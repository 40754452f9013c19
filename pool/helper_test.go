//go:build linux

package pool

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain doubles as the fake worker: with POOL_HELPER set, this binary
// behaves as the named mode and exits before any test or goleak runs.
// Otherwise it runs the tests, stops the shared RabbitMQ node if one was
// started, and checks for leaked goroutines as goleak.VerifyTestMain does.
func TestMain(m *testing.M) {
	if mode := os.Getenv("POOL_HELPER"); mode != "" {
		os.Exit(runHelper(mode))
	}
	code := m.Run()
	stopSharedRabbit() // before goleak: its goroutines end with it
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on a successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func runHelper(mode string) int {
	switch mode {
	case "celery-like":
		return helperCeleryLike()
	case "group-child":
		return helperGroupChild()
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "exit-now":
		fmt.Println("starting")
		fmt.Fprintln(os.Stderr, "Error: Unable to load celery application.")
		return 1
	case "exit-zero":
		fmt.Println("nothing to do")
		return 0
	case "crash-after":
		fmt.Println("ready")
		time.Sleep(300 * time.Millisecond)
		return 1
	case "spawn-orphan":
		return helperSpawnOrphan()
	case "sleeper":
		time.Sleep(time.Hour)
	case "fatal-hang": // Celery's consumer died, the main process hangs
		fmt.Fprintln(os.Stderr, "[2026-12-02 00:13:26,855: CRITICAL/MainProcess] Unrecoverable error: JSONDecodeError('x')")
		time.Sleep(time.Hour)
	case "fail-then-stay":
		return helperFailThenStay()
	case "flood":
		return helperFlood()
	case "reaper-test":
		return helperReaperTest()
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 99
}

// helperCeleryLike records its argv and environment, optionally starts a
// child in its process group that records the signals it gets, prints
// "ready", and on SIGTERM waits POOL_HELPER_TERM_MS then exits 0.
func helperCeleryLike() int {
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	dir := os.Getenv("POOL_HELPER_DIR")
	pid := strconv.Itoa(os.Getpid())
	record := strings.Join(os.Args, "\n") + "\n--env--\n" + strings.Join(os.Environ(), "\n")
	if err := os.WriteFile(filepath.Join(dir, "argv-"+pid), []byte(record), 0o600); err != nil {
		return 98
	}
	if os.Getenv("POOL_HELPER_GROUPCHILD") != "" {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "POOL_HELPER=group-child",
			"POOL_HELPER_FILE="+filepath.Join(dir, "groupchild-"+pid))
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return 97
		}
		bufio.NewReader(out).ReadString('\n') // its handler is installed
	}
	fmt.Println("ready")
	<-terms
	fmt.Println("warm shutdown")
	ms, _ := strconv.Atoi(os.Getenv("POOL_HELPER_TERM_MS"))
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return 0
}

// helperFailThenStay exits 1 at once on its first three starts (counted in
// a file of POOL_HELPER_DIR), then stays up.
func helperFailThenStay() int {
	path := filepath.Join(os.Getenv("POOL_HELPER_DIR"), "starts")
	b, _ := os.ReadFile(path)
	n, _ := strconv.Atoi(string(b))
	if err := os.WriteFile(path, []byte(strconv.Itoa(n+1)), 0o600); err != nil {
		return 98
	}
	if n < 3 {
		fmt.Fprintln(os.Stderr, "Error: Unrecoverable error")
		return 1
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
	return 0
}

func helperGroupChild() int {
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	fmt.Println("ready")
	<-terms
	os.WriteFile(os.Getenv("POOL_HELPER_FILE"), []byte("TERM"), 0o600)
	return 0
}

func helperSpawnOrphan() int {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "POOL_HELPER=sleeper")
	if err := cmd.Start(); err != nil {
		return 97
	}
	fmt.Println("spawned", cmd.Process.Pid)
	return 3
}

func helperFlood() int {
	w := bufio.NewWriter(os.Stdout)
	long := strings.Repeat("x", 200<<10)
	for i := 0; i < 20000; i++ {
		switch i % 1000 {
		case 0:
			w.WriteString(long + "\n")
		case 1:
			w.WriteString("bad utf8 \xff\xfe here\r\n")
		default:
			fmt.Fprintf(w, "line %d\n", i)
		}
	}
	w.WriteString("last line without newline")
	w.Flush()
	return 0
}

// helperReaperTest makes itself a child subreaper, runs a reaping pool of 20
// workers that each leave an orphan and exit 3, and prints "OK" when every
// exit status arrived, every orphan was reaped and no zombie is left.
func helperReaperTest() int {
	if err := unixPrctlSubreaper(); err != nil {
		fmt.Println("prctl:", err)
		return 1
	}
	const n = 20
	rec := newRecorder()
	p, err := New(Config{
		Command: []string{os.Args[0]}, Env: []string{"POOL_HELPER=spawn-orphan"},
		MinBackoff: time.Hour, MaxBackoff: time.Hour, Logger: slog.New(rec), Reap: true,
	})
	if err != nil {
		fmt.Println("new:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	for i := 0; i < n; i++ {
		if _, err := p.Add(); err != nil {
			fmt.Println("add:", err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	exits := rec.waitCount(deadline, func(r record) bool { return r.Msg == "worker exited unexpectedly" }, n)
	reaped := rec.waitCount(deadline, func(r record) bool { return r.Msg == "reaped orphan" }, n)
	lost := rec.count(func(r record) bool { return r.Msg == "worker exit status lost" })
	good := rec.count(func(r record) bool { return r.Attrs[keyStatus] == "exit status 3" })
	zombies := zombieChildren(os.Getpid())
	cancel()
	if err := <-runErr; err != nil {
		fmt.Println("run:", err)
	}
	fmt.Printf("exits=%d good=%d lost=%d reaped=%d zombies=%v\n", exits, good, lost, reaped, zombies)
	if exits == n && good == n && lost == 0 && reaped == n && len(zombies) == 0 {
		fmt.Println("OK")
	}
	return 0
}

// zombieChildren lists the PIDs of zombie processes whose parent is ppid.
func zombieChildren(ppid int) []int {
	var out []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[0] == "Z" && fields[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}
