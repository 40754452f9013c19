package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Notifier delivers service-manager notifications such as "READY=1" (the
// command gives it an *sdnotify.Conn). Notify may block briefly; the
// control loop never calls it.
type Notifier interface {
	Notify(state string) error
}

// sdState tells the service manager (Config.Notifier) how the supervisor
// is doing, from its own goroutine (run) so that the control loop only
// hands over its snapshot:
//
//	READY=1     once, when at least MIN workers are up (idle or busy: what
//	            /readyz asks of the workers)
//	STATUS=…    the pool's state, whenever it changes
//	WATCHDOG=1  every Config.WatchdogInterval while the loop is live (what
//	            /livez asks), so a stuck loop stops pinging and systemd
//	            restarts the service
//	STOPPING=1  at the first ShuttingDown
type sdState struct {
	n        Notifier // nil: nothing is sent
	watchdog time.Duration
	latest   chan Status // the last snapshot not yet sent; capacity 1
	log      *slog.Logger
}

func newSDState(cfg Config) *sdState {
	return &sdState{n: cfg.Notifier, watchdog: cfg.WatchdogInterval, latest: make(chan Status, 1), log: cfg.Logger}
}

// publish hands st to run, replacing a snapshot run has not taken yet; it
// never blocks. Only the control loop calls it.
func (n *sdState) publish(st Status) {
	if n.n == nil {
		return
	}
	select {
	case <-n.latest:
	default:
	}
	n.latest <- st // the loop is the only sender and the channel is now empty
}

// stopping sends STOPPING=1; ShuttingDown calls it once.
func (n *sdState) stopping() {
	n.send("STOPPING=1\nSTATUS=shutting down: warm-stopping every worker")
}

// run sends READY, STATUS and WATCHDOG until ctx is done; live is the
// loop's liveness (Supervisor.Live).
func (n *sdState) run(ctx context.Context, live func() error) {
	if n.n == nil {
		return
	}
	var ping <-chan time.Time
	if n.watchdog > 0 {
		t := time.NewTicker(n.watchdog)
		defer t.Stop()
		ping = t.C
	}
	ready, line, stuck := false, "", false
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping:
			err := live()
			if err != nil && !stuck {
				n.log.Error("control loop not live; systemd watchdog pings stopped", "err", err)
			}
			if stuck = err != nil; !stuck {
				n.send("WATCHDOG=1")
			}
		case st := <-n.latest:
			var msg string
			if up, _ := st.WorkersUp(); !ready && !st.ShuttingDown && up >= st.Policy.MinNow {
				ready, msg = true, "READY=1\n"
			}
			if l := st.statusLine(); l != line {
				line, msg = l, msg+"STATUS="+l
			}
			if msg != "" {
				n.send(msg)
			}
		}
	}
}

func (n *sdState) send(msg string) {
	if n.n == nil {
		return
	}
	if err := n.n.Notify(msg); err != nil {
		n.log.Debug("service manager notification", "err", err)
	}
}

// statusLine is the pool's state in one line, for systemctl status:
// "3 workers (2 busy), 5 waiting, desired 3".
func (st Status) statusLine() string {
	up, busy := st.WorkersUp()
	var waiting int64
	for _, q := range st.Queues {
		waiting += q.Messages
	}
	plural := "s"
	if up == 1 {
		plural = ""
	}
	line := fmt.Sprintf("%d worker%s (%d busy), %d waiting, desired %d", up, plural, busy, waiting, st.LastDecision.Desired)
	if other := len(st.Workers) - up; other > 0 {
		line += fmt.Sprintf(", %d starting or stopping", other)
	}
	if st.ShuttingDown {
		line += "; shutting down"
	}
	return line
}
