package pool

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of HostConfig.
const (
	DefaultImportTimeout = 2 * time.Minute
	hostStopGrace        = 5 * time.Second
	hostLogName          = "apphost"
	maxHostMessage       = 1 << 20
)

// titleRoom is padding on the host's command line: forked workers rewrite
// that area to show "celery <their arguments>" in ps, as setproctitle does.
var titleRoom = strings.Repeat(" ", 2048)

// HostConfig describes the app host.
type HostConfig struct {
	// Interpreter is the Python command line, e.g. ["/usr/bin/python3"]
	// (see Interpreter).
	Interpreter []string
	// App is what celery -A would get; empty: $CELERY_APP, else Celery's
	// default app.
	App string
	// Env is added to os.Environ() (the same as the workers' Config.Env, so
	// the host resolves the configuration as the workers will).
	Env []string
	// ImportTimeout bounds the import of the app; 0 means DefaultImportTimeout.
	ImportTimeout time.Duration
	// MinBackoff and MaxBackoff bound the restart delay after the host
	// exits; 0 means DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// AppHost is a Python process that imported the Celery app once and forks
// workers from it on request. This process is made a child subreaper
// (prctl PR_SET_CHILD_SUBREAPER), so every forked worker is re-parented to
// it: a forked worker is then a child like an exec'd one, with its exact
// exit status, its own process group, and a parent-death signal.
//
// If the host exits it is restarted with backoff; the workers it forked are
// not touched, and the pool execs new workers until it is back.
type AppHost struct {
	cfg HostConfig
	svc *services
	log *slog.Logger

	reqMu sync.Mutex // one fork request at a time
	reqID int

	mu     sync.Mutex
	conn   *net.UnixConn // nil unless ready
	state  HostState
	config AppConfig
	err    error         // the last failure, for Config
	first  chan struct{} // closed after the first report or failure

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	users    atomic.Int32 // pools that use the host (one per queue group's main)
}

// NewAppHost makes this process a child subreaper and returns a host that
// is not started yet.
func NewAppHost(cfg HostConfig) (*AppHost, error) {
	if len(cfg.Interpreter) == 0 || cfg.Interpreter[0] == "" {
		return nil, &ConfigError{Field: "Interpreter", Reason: "empty"}
	}
	if cfg.ImportTimeout <= 0 {
		cfg.ImportTimeout = DefaultImportTimeout
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("become a child subreaper: %w", err)
	}
	return &AppHost{
		cfg: cfg, svc: newServices(cfg.Logger), log: cfg.Logger.With(keyWorker, hostLogName),
		state: HostState{Enabled: true}, first: make(chan struct{}), stop: make(chan struct{}),
	}, nil
}

// Start starts the host and keeps it running (restarting it with backoff)
// until the pool that uses it ends its Run.
func (h *AppHost) Start() {
	h.svc.start()
	h.wg.Add(1)
	go h.run()
}

// Config waits for the host's first report: the app's configuration, or
// an *ImportError, or another error if the host could not start. It gives up
// when done is closed.
func (h *AppHost) Config(done <-chan struct{}) (AppConfig, error) {
	select {
	case <-h.first:
	case <-done:
		return AppConfig{}, errors.New("app host: gave up waiting for the app to import")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.config, h.err
}

// State returns the host's current state.
func (h *AppHost) State() HostState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

// forks reports whether a worker of the given Celery pool can be forked now.
// eventlet and gevent must monkey-patch before anything is imported.
func (h *AppHost) forks(pool string) bool {
	if pool == "eventlet" || pool == "gevent" {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state.Ready
}

// Close stops the host (it exits when its socket closes) and waits for it.
// The last Pool that uses it closes it at the end of its Run (release);
// Close is idempotent.
func (h *AppHost) Close() {
	h.stopOnce.Do(func() { close(h.stop) })
	h.wg.Wait()
	h.svc.close()
}

// run keeps the host process running until stop.
func (h *AppHost) run() {
	defer h.wg.Done()
	var bo backoffState
	policy := backoffPolicy{Min: h.cfg.MinBackoff, Max: h.cfg.MaxBackoff, FailedStartWindow: DefaultFailedStartWindow}
	for {
		started := time.Now()
		err := h.runOnce()
		select {
		case <-h.stop:
			return
		default:
		}
		d := nextRestart(bo, time.Since(started), true, policy)
		bo = d.State
		h.setDown(err)
		t := time.NewTimer(d.Delay)
		select {
		case <-h.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// setDown records that the host is not serving, and why.
func (h *AppHost) setDown(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conn = nil
	h.state.Ready, h.state.PID, h.state.Since = false, 0, time.Now()
	h.state.Restarts++
	h.state.Err, h.state.ImportError = err.Error(), ""
	var ie *ImportError
	if errors.As(err, &ie) {
		h.state.ImportError = ie.Message
	}
	h.err = err
	h.reportFirst()
}

// reportFirst closes first once. h.mu must be held.
func (h *AppHost) reportFirst() {
	select {
	case <-h.first:
	default:
		close(h.first)
	}
}

// runOnce starts the host, takes its first report and serves until it
// exits or stop; it returns why the host is not running any more.
func (h *AppHost) runOnce() error {
	cmd, conn, pipes, err := h.startProcess()
	if err != nil {
		h.log.Error("cannot start the app host; workers are exec'd", keyErr, err)
		return err
	}
	defer conn.Close()
	var out ring
	h.forwardOutput(pipes, &out)
	exited := make(chan error, 1)
	go func() { _, err := waitCmd(cmd); h.svc.children.release(cmd.Process.Pid); exited <- err }()

	report := make(chan error, 1)
	go func() { report <- h.handshake(conn) }()
	select {
	case err = <-report:
	case <-time.After(h.cfg.ImportTimeout):
		err = fmt.Errorf("app host: the app did not import within %s", h.cfg.ImportTimeout)
	case <-h.stop:
		err = errors.New("stopped")
	}
	if err != nil {
		h.kill(cmd, exited, time.Second) // after an import error it exits by itself
		h.logFailure(err, out.snapshot())
		return err
	}
	h.setReady(cmd.Process.Pid, conn)
	select {
	case <-exited:
		err = fmt.Errorf("app host exited: %s", exitOf(cmd))
		h.log.Warn("the app host exited; it is restarted, workers are exec'd meanwhile",
			keyStatus, exitOf(cmd), keyLines, out.snapshot())
		return err
	case <-h.stop:
		conn.Close() // the host exits on EOF
		h.kill(cmd, exited, hostStopGrace)
		return errors.New("stopped")
	}
}

// startProcess execs the interpreter with the host program on its stdin and
// its end of a socket pair as fd 3.
func (h *AppHost) startProcess() (*exec.Cmd, *net.UnixConn, outputPipes, error) {
	var pipes outputPipes
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, pipes, fmt.Errorf("socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "apphost-sup"), os.NewFile(uintptr(fds[1]), "apphost-host")
	defer theirs.Close()
	src, err := sourcePipe()
	if err != nil {
		ours.Close()
		return nil, nil, pipes, err
	}
	defer src.Close()
	if pipes, err = newOutputPipes(); err != nil {
		ours.Close()
		return nil, nil, pipes, err
	}
	defer pipes.closeWrite()
	args := append(append([]string{}, h.cfg.Interpreter[1:]...), "-", "--app", h.cfg.App, "--title-room", titleRoom)
	cmd := exec.Command(h.cfg.Interpreter[0], args...)
	cmd.Env = append(os.Environ(), h.cfg.Env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = src, pipes.outW, pipes.errW
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := h.svc.starter.start(cmd, h.svc.stop); err != nil {
		ours.Close()
		pipes.closeRead()
		return nil, nil, pipes, fmt.Errorf("start %s: %w", h.cfg.Interpreter[0], err)
	}
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		_ = cmd.Process.Kill()
		return cmd, nil, pipes, fmt.Errorf("app host socket: %w", err)
	}
	return cmd, fc.(*net.UnixConn), pipes, nil
}

// sourcePipe returns the read end of a pipe that holds the host program. A
// goroutine writes it (the program is larger than a pipe's buffer) and
// closes the write end; the interpreter reads it all before it runs it.
func sourcePipe() (*os.File, error) {
	prog, err := hostProgram()
	if err != nil {
		return nil, fmt.Errorf("the app host program: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	go func() {
		defer w.Close()
		_, _ = w.WriteString(prog) // fails only if the interpreter died: its start fails
	}()
	return r, nil
}

func (h *AppHost) forwardOutput(pipes outputPipes, out *ring) {
	for _, s := range []struct {
		f    *os.File
		name string
	}{{pipes.outR, "stdout"}, {pipes.errR, "stderr"}} {
		go func() {
			defer s.f.Close()
			readLines(s.f, func(text string) {
				out.add(text)
				h.svc.lines.offer(outputLine{log: h.log, stream: s.name, text: text})
			})
		}()
	}
}

// hostReport is the host's first message.
type hostReport struct {
	Type      string    `json:"type"`
	PID       int       `json:"pid"`
	Config    AppConfig `json:"config"`
	Error     string    `json:"error"`
	Traceback []string  `json:"traceback"`
}

// handshake reads the first report and keeps the configuration.
func (h *AppHost) handshake(conn *net.UnixConn) error {
	buf := make([]byte, maxHostMessage)
	n, _, _, _, err := conn.ReadMsgUnix(buf, nil)
	if err != nil || n == 0 {
		return fmt.Errorf("app host: exited before reporting the app (see its output)")
	}
	var r hostReport
	if err := json.Unmarshal(buf[:n], &r); err != nil {
		return fmt.Errorf("app host: bad report: %w", err)
	}
	switch r.Type {
	case "ready":
		h.mu.Lock()
		h.config = r.Config
		h.mu.Unlock()
		return nil
	case "error":
		return &ImportError{Message: r.Error, Traceback: r.Traceback}
	}
	return fmt.Errorf("app host: unexpected report %q", r.Type)
}

func (h *AppHost) setReady(pid int, conn *net.UnixConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conn = conn
	h.state = HostState{Enabled: true, Ready: true, PID: pid, Restarts: h.state.Restarts, Since: time.Now()}
	h.err = nil
	h.reportFirst()
	h.log.Info("app host ready: workers are forked from it", keyPID, pid, "app", h.config.App,
		"celery", h.config.CeleryVersion, "kombu", h.config.KombuVersion)
}

// logFailure logs a failed start once per distinct error.
func (h *AppHost) logFailure(err error, lines []string) {
	h.mu.Lock()
	same := h.err != nil && h.err.Error() == err.Error()
	h.mu.Unlock()
	if same {
		return
	}
	var ie *ImportError
	if errors.As(err, &ie) {
		lines = ie.Traceback
	}
	h.log.Error("app host failed; it is retried with backoff and workers are exec'd meanwhile",
		keyErr, err, keyLines, lines)
}

// kill waits grace for the host to exit, then SIGKILLs its group and waits.
func (h *AppHost) kill(cmd *exec.Cmd, exited <-chan error, grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
		return
	case <-t.C:
	}
	_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	<-exited
}

func exitOf(cmd *exec.Cmd) string {
	if cmd.ProcessState == nil {
		return "unknown"
	}
	return cmd.ProcessState.String()
}
