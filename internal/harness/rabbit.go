package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Defaults of RabbitConfig and the Debian paths of a private node: the
// scripts under /usr/lib/rabbitmq/bin run as the caller (the ones in
// /usr/sbin switch to the rabbitmq user and its HOME).
const (
	DefaultRabbitStartTimeout = 60 * time.Second
	DefaultRabbitServer       = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	DefaultRabbitCtl          = "/usr/lib/rabbitmq/bin/rabbitmqctl"
)

// RabbitConfig says how to run a private rabbitmq-server node.
type RabbitConfig struct {
	// Dir holds everything of the node: its HOME (and Erlang cookie),
	// configuration, database, logs and plugins list. Required.
	Dir string
	// Server and Ctl are the scripts; "" means the Default ones.
	Server, Ctl string
	// StartTimeout bounds the wait for the node to accept AMQP; zero
	// means DefaultRabbitStartTimeout.
	StartTimeout time.Duration
	// Conf is added to the node's rabbitmq.conf (lines like
	// "consumer_timeout = 3000"); Advanced, if set, is its advanced.config
	// (Erlang terms, for settings rabbitmq.conf lacks).
	Conf, Advanced string
	// VHosts are created at boot (from a definitions file), each with every
	// permission for guest/guest: tests that share a node keep apart in
	// them without a rabbitmqctl call each (a second or two of CPU).
	VHosts []string
	// Port and DistPort are the AMQP and Erlang distribution ports; 0
	// picks a free one (FreePort). A node restarted with Start keeps both:
	// pick them with StablePort for a node that is restarted, so that no
	// outgoing connection holds them while it is down.
	Port, DistPort int
}

// Rabbit is a private RabbitMQ node on loopback ports of its own (never
// the system node on 5672): its own node name, AMQP and distribution
// ports, configuration, database, logs and no plugins. It shares the
// system's epmd, as every Erlang node on the host does, and never stops it.
type Rabbit struct {
	Node     string // e.g. "revrx-40123@localhost"
	Port     int    // AMQP
	DistPort int    // Erlang distribution
	Dir      string

	cfg  RabbitConfig
	env  []string
	proc *Process
}

// StartRabbit starts a node as cfg says and waits until its AMQP port
// answers the protocol header with connection.start. On an error nothing
// it started is left running.
func StartRabbit(ctx context.Context, cfg RabbitConfig) (*Rabbit, error) {
	if cfg.Dir == "" {
		return nil, errors.New("rabbitmq: Dir is required")
	}
	cfg.Server = orDefault(cfg.Server, DefaultRabbitServer)
	cfg.Ctl = orDefault(cfg.Ctl, DefaultRabbitCtl)
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultRabbitStartTimeout
	}
	port, dist := cfg.Port, cfg.DistPort
	var err1, err2 error
	if port == 0 {
		port, err1 = FreePort()
	}
	if dist == 0 {
		dist, err2 = FreePort()
	}
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	r := &Rabbit{Node: fmt.Sprintf("revrx-%d@localhost", port), Port: port, DistPort: dist, Dir: cfg.Dir, cfg: cfg}
	if err := r.writeFiles(); err != nil {
		return nil, err
	}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Start starts the node (again, after Stop or Kill) with the same name,
// ports, configuration and database, and waits until it accepts AMQP:
// durable queues and persistent messages are there again. On an error
// nothing it started is left running.
func (r *Rabbit) Start(ctx context.Context) error {
	cmd := exec.Command(r.cfg.Server)
	cmd.Env, cmd.Dir = r.env, r.Dir
	log, err := os.OpenFile(filepath.Join(r.Dir, "server.out"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if r.proc, err = Start("rabbitmq-server "+r.Node, cmd); err != nil {
		return err
	}
	if err := r.awaitAMQP(ctx); err != nil {
		r.Kill()
		return fmt.Errorf("rabbitmq %s: %w (log: %s)", r.Node, err, filepath.Join(r.Dir, "server.out"))
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// writeFiles writes the node's configuration and sets r.env so that every
// default of the scripts points into Dir.
func (r *Rabbit) writeFiles() error {
	d := r.Dir
	for _, sub := range []string{"home", "conf.d", "mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o700); err != nil {
			return err
		}
	}
	files := map[string]string{
		"rabbitmq.conf":     fmt.Sprintf("listeners.tcp.1 = 127.0.0.1:%d\n%s\n", r.Port, r.cfg.Conf),
		"rabbitmq-env.conf": "",
		"enabled_plugins":   "[].\n",
	}
	if r.cfg.Advanced != "" {
		files["advanced.config"] = r.cfg.Advanced
	}
	if len(r.cfg.VHosts) > 0 {
		defs, err := definitions(r.cfg.VHosts)
		if err != nil {
			return err
		}
		files["definitions.json"] = defs
		files["rabbitmq.conf"] += "load_definitions = " + filepath.Join(d, "definitions.json") + "\n"
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o600); err != nil {
			return err
		}
	}
	r.env = append(os.Environ(),
		"HOME="+filepath.Join(d, "home"),
		"RABBITMQ_NODENAME="+r.Node,
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(d, "rabbitmq-env.conf"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(d, "rabbitmq.conf"),
		"RABBITMQ_CONFIG_FILES="+filepath.Join(d, "conf.d"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(d, "advanced.config"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(d, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(d, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(d, "rabbitmq.pid"),
		"RABBITMQ_ENABLED_PLUGINS=",
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(d, "enabled_plugins"),
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(r.Port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(r.DistPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		// The script then execs the Erlang VM in its own place (with
		// -noinput) instead of running it in the background and waiting:
		// the process the harness holds is the VM, so its death signal
		// and Kill reach the node itself, never leaving it orphaned.
		"RUNNING_UNDER_SYSTEMD=true",
		// A crash dump of the node or of a rabbitmqctl (one started as the
		// directory goes, say) stays in Dir, never in the caller's cwd.
		"ERL_CRASH_DUMP="+filepath.Join(d, "log", "erl_crash.dump"),
	)
	return nil
}

// amqpHeader opens an AMQP 0-9-1 connection; the server answers with a
// method frame (type 1): connection.start.
var amqpHeader = []byte("AMQP\x00\x00\x09\x01")

// awaitAMQP waits until the node answers amqpHeader, or its start fails.
func (r *Rabbit) awaitAMQP(ctx context.Context) error {
	deadline := time.Now().Add(r.cfg.StartTimeout)
	for {
		if r.answersAMQP() {
			return nil
		}
		select {
		case <-r.proc.Done():
			return fmt.Errorf("exited during start-up: %v", r.proc.Err())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no AMQP answer within %s", r.cfg.StartTimeout)
		}
	}
}

func (r *Rabbit) answersAMQP() bool {
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(amqpHeader); err != nil {
		return false
	}
	b := make([]byte, 1)
	_, err = c.Read(b)
	return err == nil && b[0] == 1
}

// Addr is "127.0.0.1:PORT".
func (r *Rabbit) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)) }

// URL is the node's AMQP URL as guest on vhost "/" (guest may log in
// from loopback).
func (r *Rabbit) URL() string { return "amqp://guest:guest@" + r.Addr() + "//" }

// Ctl runs rabbitmqctl against the node with args and returns its output.
func (r *Rabbit) Ctl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, r.cfg.Ctl, append([]string{"-n", r.Node}, args...)...)
	cmd.Env, cmd.Dir = r.env, r.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// Stop stops the node with rabbitmqctl stop (within 30 s) and waits up to
// 30 s more for it to exit; then its process tree is killed. A node that
// has stopped already is left alone.
func (r *Rabbit) Stop(ctx context.Context) error {
	if r.proc == nil || r.proc.Exited() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := r.Ctl(ctx, "stop")
	if err == nil && r.proc.WaitFor(30*time.Second) {
		return nil
	}
	r.Kill()
	if err != nil {
		return fmt.Errorf("rabbitmqctl stop: %w: %s", err, out)
	}
	return errors.New("rabbitmq: still running 30 s after stop; killed")
}

// CPU is the CPU time the node's processes (the script, the Erlang VM
// and its helpers) have used so far.
func (r *Rabbit) CPU() time.Duration {
	var ticks int64
	for _, pid := range append([]int{r.proc.PID()}, Descendants(r.proc.PID())...) {
		if st, ok := ReadStat(pid); ok {
			ticks += st.Ticks
		}
	}
	return TicksDuration(ticks)
}

// Kill kills the node's process tree (by PID).
func (r *Rabbit) Kill() {
	if r.proc != nil {
		r.proc.KillTree()
	}
}

// StartTestRabbit starts a private node for a test in t.TempDir(),
// skipping the test when rabbitmq-server is not installed (make deps
// installs it) and stopping the node at cleanup.
func StartTestRabbit(t TB) *Rabbit {
	t.Helper()
	if _, err := os.Stat(DefaultRabbitServer); err != nil {
		t.Skip("rabbitmq-server not installed (make deps installs it)")
	}
	r, err := StartRabbit(context.Background(), RabbitConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r
}

// AddVHost adds the vhost name with every permission for guest and
// returns its URL: tests that share one node keep their queues, events
// and remote control apart this way (a node takes seconds to start, a
// vhost one rabbitmqctl call).
func (r *Rabbit) AddVHost(ctx context.Context, name string) (string, error) {
	if out, err := r.Ctl(ctx, "add_vhost", name); err != nil {
		return "", fmt.Errorf("add_vhost %s: %w: %s", name, err, out)
	}
	if out, err := r.Ctl(ctx, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"); err != nil {
		return "", fmt.Errorf("set_permissions %s: %w: %s", name, err, out)
	}
	return "amqp://guest:guest@" + r.Addr() + "/" + url.PathEscape(name), nil
}
