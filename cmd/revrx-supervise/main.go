// Command revrx-supervise runs Celery worker processes and scales how many
// run, between --autoscale MAX,MIN, by the real backlog in Redis.
//
//	revrx-supervise --autoscale=10,3 -Q reports
//	revrx-supervise -A app.celery_app -b redis://redis:6379/0 --autoscale=10,3 -Q reports -- --loglevel=info
//
// Exit codes: 0 all workers stopped cleanly; 1 a fatal error, or a worker had
// to be killed after --shutdown-timeout; 2 bad usage; 128+N a second signal N
// forced an immediate stop.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	os.Exit(realMain(os.Args, os.Stdout, os.Stderr))
}

// realMain runs the command line and returns the process exit code.
func realMain(args []string, stdout, stderr io.Writer) int {
	code := 0
	app := &cli.App{
		Name:  "revrx-supervise",
		Usage: "run Celery workers and autoscale them by the real Redis backlog",
		UsageText: "revrx-supervise [flags] [-- worker args...]\n\n" +
			"   revrx-supervise --autoscale=10,3 -Q reports\n" +
			"   revrx-supervise -A app.celery_app -b redis://redis:6379/0 --autoscale=10,3 -Q reports -- --loglevel=info",
		Description: "Arguments after -- are appended to every worker's command line.\n" +
			"Exit codes: 0 clean stop; 1 fatal error or a worker killed after --shutdown-timeout; 2 bad usage; 128+N forced by a second signal N.",
		Flags:           flags(),
		HideHelpCommand: true,
		Writer:          stdout,
		ErrWriter:       stderr,
		Commands: []*cli.Command{{
			Name:  "version",
			Usage: "print the version and exit",
			Action: func(c *cli.Context) error {
				fmt.Fprintln(c.App.Writer, "revrx-supervise", buildVersion())
				return nil
			},
		}, simulateCommand(), statusCommand(), reportCommand(), healthcheckCommand()},
		OnUsageError:   func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
		ExitErrHandler: func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			// Every positional argument must follow a "--": a stray one before
			// it would otherwise reach every worker, "--" included.
			if dash := slices.Index(args, "--"); c.Args().Present() && (dash < 0 || c.NArg() > len(args)-dash-1) {
				return usagef("unexpected argument %q; worker arguments go after --, e.g. revrx-supervise --autoscale=4 -- --loglevel=info", c.Args().First())
			}
			if !c.IsSet(flagAutoscale) {
				return usagef("--autoscale is required; accepted: --autoscale=MAX[,MIN], e.g. --autoscale=10,3")
			}
			cfg, err := contextToConfig(c, c.Args().Slice())
			if err != nil {
				return err
			}
			log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel, cfg.Secrets)
			cfg.EMF.Out = stdout // metrics only: the logs are on stderr
			code = run(cfg, log)
			return nil
		},
	}
	// Every other error app.Run returns is about the command line (bad
	// flags, values or arguments): run reports its own failures through code.
	err := app.Run(args)
	var exit cli.ExitCoder
	if errors.As(err, &exit) { // a client command's failed check, reported already
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(stderr, "revrx-supervise: %v\nRun 'revrx-supervise -h' for the flags.\n", err)
		return 2
	}
	return code
}

func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			rev = s.Value[:12]
		}
	}
	return rev
}
