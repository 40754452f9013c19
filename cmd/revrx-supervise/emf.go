package main

import (
	"github.com/urfave/cli/v2"

	"github.com/revrx/revrx-supervise/supervisor/emf"
)

// Flags of the CloudWatch Embedded Metric Format output.
const (
	flagEMFInterval  = "emf-interval"
	flagEMFNamespace = "emf-namespace"
)

func emfFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: flagEMFInterval, EnvVars: []string{"REVRX_EMF_INTERVAL"},
			Usage: "write CloudWatch Embedded Metric Format JSON lines to stdout this often, for ECS awslogs (0: off; logs stay on stderr)"},
		&cli.StringFlag{Name: flagEMFNamespace, EnvVars: []string{"REVRX_EMF_NAMESPACE"}, Value: "RevrxSupervise",
			Usage: "CloudWatch namespace of the --emf-interval metrics"},
	}
}

// emfFromFlags is what the EMF flags say; realMain sets Out to stdout.
func emfFromFlags(c *cli.Context) (emf.Config, error) {
	e := emf.Config{Interval: c.Duration(flagEMFInterval), Namespace: c.String(flagEMFNamespace)}
	if e.Interval < 0 {
		return e, usagef("--emf-interval %s: accepted: 0 (off) or a positive duration like 60s", e.Interval)
	}
	if e.Interval > 0 && e.Namespace == "" {
		return e, usagef("--emf-namespace is empty; accepted: a CloudWatch namespace like RevrxSupervise")
	}
	return e, nil
}
