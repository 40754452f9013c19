// Package ecs holds the Amazon ECS example (task definition, scaling
// policy); its test checks them offline.
package ecs

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/revrx/revrx-supervise/supervisor"
	"github.com/revrx/revrx-supervise/supervisor/emf"
)

// taskDefinition is the part of an ECS task definition the example uses.
type taskDefinition struct {
	Family                  string      `json:"family"`
	NetworkMode             string      `json:"networkMode"`
	RequiresCompatibilities []string    `json:"requiresCompatibilities"`
	CPU                     string      `json:"cpu"`
	Memory                  string      `json:"memory"`
	ExecutionRoleArn        string      `json:"executionRoleArn"`
	TaskRoleArn             string      `json:"taskRoleArn"`
	ContainerDefinitions    []container `json:"containerDefinitions"`
}

type container struct {
	Name        string     `json:"name"`
	Image       string     `json:"image"`
	Essential   bool       `json:"essential"`
	Command     []string   `json:"command"`
	Environment []nameVal  `json:"environment"`
	Secrets     []secret   `json:"secrets"`
	Ports       []portMap  `json:"portMappings"`
	StopTimeout int        `json:"stopTimeout"`
	HealthCheck healthChk  `json:"healthCheck"`
	LogConfig   logConfigT `json:"logConfiguration"`
}

type nameVal struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type secret struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

type portMap struct {
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

type healthChk struct {
	Command     []string `json:"command"`
	Interval    int      `json:"interval"`
	Timeout     int      `json:"timeout"`
	Retries     int      `json:"retries"`
	StartPeriod int      `json:"startPeriod"`
}

type logConfigT struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options"`
}

// scalingPolicy is a TargetTrackingScalingPolicyConfiguration.
type scalingPolicy struct {
	TargetValue                   float64 `json:"TargetValue"`
	CustomizedMetricSpecification struct {
		MetricName string `json:"MetricName"`
		Namespace  string `json:"Namespace"`
		Statistic  string `json:"Statistic"`
		Unit       string `json:"Unit"`
	} `json:"CustomizedMetricSpecification"`
	ScaleOutCooldown int  `json:"ScaleOutCooldown"`
	ScaleInCooldown  int  `json:"ScaleInCooldown"`
	DisableScaleIn   bool `json:"DisableScaleIn"`
}

// decodeStrict decodes file into v, failing on an unknown field.
func decodeStrict(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// flagValue returns the value of --name=V in args.
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// ecsMaxStopTimeout is ECS's limit on a container's stopTimeout (seconds).
const ecsMaxStopTimeout = 120

func TestTaskDefinition(t *testing.T) {
	var td taskDefinition
	decodeStrict(t, "task-definition.json", &td)
	if len(td.ContainerDefinitions) != 1 {
		t.Fatalf("%d containers, want 1", len(td.ContainerDefinitions))
	}
	c := td.ContainerDefinitions[0]
	shutdown, err := time.ParseDuration(flagValue(c.Command, "shutdown-timeout"))
	if err != nil {
		t.Fatalf("--shutdown-timeout in the command: %v", err)
	}
	m := regexp.MustCompile(`^(\d+)`).FindStringSubmatch(flagValue(c.Command, "autoscale"))
	if m == nil {
		t.Fatal("no --autoscale=MAX,MIN in the command")
	}
	maxWorkers, _ := strconv.Atoi(m[1])
	need := shutdown.Seconds() + 1.1*float64(maxWorkers) // the drains go one at a time
	if float64(c.StopTimeout) <= need || c.StopTimeout > ecsMaxStopTimeout {
		t.Errorf("stopTimeout %d s: want above --shutdown-timeout + MAX × 1.1 s = %.0f s and at most %d", c.StopTimeout, need, ecsMaxStopTimeout)
	}
	if want := []string{"CMD", "/usr/local/bin/revrx-supervise", "healthcheck"}; !slices.Equal(c.HealthCheck.Command, want) {
		t.Errorf("healthCheck %q, want %q", c.HealthCheck.Command, want)
	}
	if !slices.ContainsFunc(c.Secrets, func(s secret) bool {
		return s.Name == "CELERY_BROKER_URL" && strings.HasPrefix(s.ValueFrom, "arn:aws:secretsmanager:")
	}) {
		t.Error("CELERY_BROKER_URL must come from a Secrets Manager secret")
	}
	for _, e := range c.Environment {
		if strings.Contains(e.Name, "BROKER") || strings.Contains(e.Value, "redis://") {
			t.Errorf("environment %s carries a broker URL: it belongs in secrets", e.Name)
		}
	}
	for _, a := range c.Command {
		if strings.Contains(a, "redis://") || strings.HasPrefix(a, "-b") || strings.HasPrefix(a, "--broker") {
			t.Errorf("command argument %q carries a broker URL: argv is world-readable", a)
		}
	}
	if flagValue(c.Command, "emf-interval") == "" || c.LogConfig.LogDriver != "awslogs" {
		t.Error("the EMF lines need --emf-interval and the awslogs driver to reach CloudWatch")
	}
}

func TestScalingPolicyUsesAnEMFMetric(t *testing.T) {
	var p scalingPolicy
	decodeStrict(t, "scaling-policy.json", &p)
	var td taskDefinition
	decodeStrict(t, "task-definition.json", &td)
	spec := p.CustomizedMetricSpecification
	if ns := flagValue(td.ContainerDefinitions[0].Command, "emf-namespace"); spec.Namespace != ns {
		t.Errorf("policy namespace %q, the task's --emf-namespace %q", spec.Namespace, ns)
	}
	if names := emfMetricNames(t); !names[spec.MetricName] {
		t.Errorf("metric %q is not one the supervisor's EMF output has (%v)", spec.MetricName, names)
	}
	if p.TargetValue <= 0 || p.ScaleInCooldown < 120 {
		t.Errorf("target %v, scale-in cooldown %d s: want a positive target and a cooldown above the workers' keepalive", p.TargetValue, p.ScaleInCooldown)
	}
}

// emfMetricNames renders the supervisor's EMF documents for a status with
// one queue (emf.Documents, what --emf-interval prints) and returns the
// metric names their CloudWatchMetrics directives declare.
func emfMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	st := supervisor.Status{Time: time.Now(), Queues: map[string]supervisor.QueueStatus{"celery": {Messages: 3}}}
	lines, err := emf.Documents(st, "RevrxSupervise")
	if err != nil {
		t.Fatalf("emf.Documents: %v", err)
	}
	names := map[string]bool{}
	for _, line := range lines {
		var doc struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Metrics []struct {
						Name string `json:"Name"`
					} `json:"Metrics"`
				} `json:"CloudWatchMetrics"`
			} `json:"_aws"`
		}
		if err := json.Unmarshal(line, &doc); err != nil {
			t.Fatalf("EMF line %s: %v", line, err)
		}
		for _, d := range doc.AWS.CloudWatchMetrics {
			for _, m := range d.Metrics {
				names[m.Name] = true
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("EMF lines %s: no metric", lines)
	}
	return names
}
