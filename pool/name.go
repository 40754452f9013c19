//go:build linux

package pool

import (
	"errors"
	"strconv"
	"strings"
)

// The argv defaults that make autoscaled workers behave: no mingle/gossip
// chatter (workers come and go), and one reserved task per pool process so a
// worker never hoards tasks that an idle sibling could run.
//
// ExtraArgs come last, and click keeps the last value of a single-valued
// option, so -n, -Q, --concurrency, --pool and --prefetch-multiplier can be
// overridden there (overriding -n breaks the pool's knowledge of the node
// name; don't). --without-mingle, --without-gossip and -E are plain flags in
// celery 5.2.6 with no negative form (there is no --with-mingle or
// --no-events), so they cannot be turned off through ExtraArgs.
var defaultWorkerArgs = []string{"-E", "--without-mingle", "--without-gossip"}

// celeryArgs returns the arguments of the celery command (after the command
// prefix, Command[1:] for an exec) that runs the worker named name:
// [-A App] worker [-Q q1,q2] -n NAME --concurrency C --pool P
// -E --without-mingle --without-gossip --prefetch-multiplier=M ExtraArgs...
// A forked worker runs exactly these, as "celery ARGS". cfg must have its
// defaults applied.
func celeryArgs(cfg Config, name string) []string {
	var args []string
	if cfg.App != "" {
		args = append(args, "-A", cfg.App)
	}
	args = append(args, "worker")
	if len(cfg.Queues) > 0 {
		args = append(args, "-Q", strings.Join(cfg.Queues, ","))
	}
	args = append(args, "-n", name,
		"--concurrency", strconv.Itoa(cfg.Concurrency),
		"--pool", cfg.Pool)
	args = append(args, defaultWorkerArgs...)
	args = append(args, "--prefetch-multiplier="+strconv.Itoa(cfg.PrefetchMultiplier))
	return append(args, cfg.ExtraArgs...)
}

// checkTemplate reports why tmpl cannot name unique workers: it must contain
// {n}, and every % escape must be one of %h, %n, %d (Celery rejects unknown
// ones, and %i/%I expand to the same value in every main process).
func checkTemplate(tmpl string) error {
	if !strings.Contains(tmpl, "{n}") {
		return errors.New("must contain {n} (the slot number) so worker names are unique")
	}
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] != '%' {
			continue
		}
		if i+1 >= len(tmpl) || !strings.ContainsRune("hnd", rune(tmpl[i+1])) {
			return errors.New("only %h, %n and %d may follow %")
		}
		i++
	}
	return nil
}

// expandName expands a checked template for slot, the way Celery's
// host_format(default_nodename(value)) would with host as the hostname:
// %h = host, %n = host up to the first ".", %d = the rest; a missing name
// part becomes "celery" and a missing host part becomes host.
func expandName(tmpl string, slot int, host string) string {
	short, domain, _ := strings.Cut(host, ".")
	r := strings.NewReplacer("{n}", strconv.Itoa(slot), "%h", host, "%n", short, "%d", domain)
	name := r.Replace(tmpl)
	node, hostPart, ok := strings.Cut(name, "@")
	if !ok {
		node, hostPart = "", name
	}
	if node == "" {
		node = "celery"
	}
	if hostPart == "" {
		hostPart = host
	}
	return node + "@" + hostPart
}
