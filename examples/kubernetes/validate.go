// Package kubernetes holds the Kubernetes example manifests and their
// validation: it decodes every manifest strictly into its upstream API types
// (Kubernetes, prometheus-operator) or, for KEDA, into minimal strict structs
// of its ScaledObject CRD, and its tests check what the files promise of each
// other. It is part of the examples module, so that the main module does not
// depend on Kubernetes.
package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// ScaledObject is keda.sh/v1alpha1 ScaledObject, the fields of its CRD
// (keda v2.21 apis/keda/v1alpha1/scaledobject_types.go) without the status.
// KEDA's own Go package imports client-go and controller-runtime (about 840
// packages), too heavy for this test.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		ScaleTargetRef *struct {
			Name                   string `json:"name"`
			APIVersion             string `json:"apiVersion,omitempty"`
			Kind                   string `json:"kind,omitempty"`
			EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
		} `json:"scaleTargetRef"`
		PollingInterval       *int32 `json:"pollingInterval,omitempty"`
		InitialCooldownPeriod *int32 `json:"initialCooldownPeriod,omitempty"`
		CooldownPeriod        *int32 `json:"cooldownPeriod,omitempty"`
		IdleReplicaCount      *int32 `json:"idleReplicaCount,omitempty"`
		MinReplicaCount       *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount       *int32 `json:"maxReplicaCount,omitempty"`
		Advanced              *struct {
			HorizontalPodAutoscalerConfig *struct {
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
				Name     string                                         `json:"name,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
			RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
			ScalingModifiers              *struct {
				Formula          string                         `json:"formula,omitempty"`
				Target           string                         `json:"target,omitempty"`
				ActivationTarget string                         `json:"activationTarget,omitempty"`
				MetricType       autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
			} `json:"scalingModifiers,omitempty"`
		} `json:"advanced,omitempty"`
		Triggers []ScaleTrigger `json:"triggers"`
		Fallback *struct {
			FailureThreshold int32  `json:"failureThreshold"`
			Replicas         int32  `json:"replicas"`
			Behavior         string `json:"behavior,omitempty"`
		} `json:"fallback,omitempty"`
	} `json:"spec"`
}

// ScaleTrigger is one entry of a ScaledObject's triggers.
type ScaleTrigger struct {
	Type              string            `json:"type"`
	Name              string            `json:"name,omitempty"`
	UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string `json:"metadata"`
	AuthenticationRef *struct {
		Name string `json:"name"`
		Kind string `json:"kind,omitempty"`
	} `json:"authenticationRef,omitempty"`
	MetricType autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

// triggerMetadata lists the metadata keys KEDA's scalers read (keda v2.21
// pkg/scalers/prometheus_scaler.go, cpu_memory_scaler.go): metadata is a
// free map, so a misspelled key would otherwise pass.
var triggerMetadata = map[string][]string{
	"prometheus": {"serverAddress", "query", "queryParameters", "threshold", "activationThreshold", "namespace",
		"customHeaders", "ignoreNullValues", "unsafeSsl", "timeout", "authModes"},
	"cpu":    {"type", "value", "containerName"},
	"memory": {"type", "value", "containerName"},
}

// Manifest is one decoded YAML document.
type Manifest struct {
	File   string // path relative to examples/kubernetes
	Index  int    // document number in the file
	Kind   string
	Object any // *appsv1.Deployment, *policyv1.PodDisruptionBudget, ...
}

func (m Manifest) String() string { return fmt.Sprintf("%s#%d (%s)", m.File, m.Index, m.Kind) }

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// Documents splits a multi-document YAML file, dropping empty documents.
func Documents(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSep.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// Decode decodes one YAML document strictly into the type of its kind: an
// unknown or misspelled field (the match is case-sensitive, as the API
// server's), a duplicate key or an unknown kind is an error.
func Decode(doc []byte) (kind string, obj any, err error) {
	j, err := yaml.YAMLToJSONStrict(doc) // duplicate keys fail here
	if err != nil {
		return "", nil, err
	}
	var tm metav1.TypeMeta
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
		return "", nil, err
	}
	gvk := tm.APIVersion + " " + tm.Kind
	switch gvk {
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "policy/v1 PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		obj = &autoscalingv2.HorizontalPodAutoscaler{}
	case "keda.sh/v1alpha1 ScaledObject":
		obj = &ScaledObject{}
	case "monitoring.coreos.com/v1 PodMonitor":
		obj = &monitoringv1.PodMonitor{}
	case "monitoring.coreos.com/v1 PrometheusRule":
		obj = &monitoringv1.PrometheusRule{}
	default:
		return "", nil, fmt.Errorf("unknown apiVersion/kind %q (add its type to validate.go)", gvk)
	}
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return "", nil, err
	}
	if len(strict) > 0 {
		return "", nil, fmt.Errorf("%s: %w", tm.Kind, joinErrors(strict))
	}
	if so, ok := obj.(*ScaledObject); ok {
		for i, t := range so.Spec.Triggers {
			known, ok := triggerMetadata[t.Type]
			if !ok {
				return "", nil, fmt.Errorf("spec.triggers[%d]: trigger type %q not known to validate.go", i, t.Type)
			}
			for k := range t.Metadata {
				if !contains(known, k) {
					return "", nil, fmt.Errorf("spec.triggers[%d].metadata: unknown field %q for a %s trigger", i, k, t.Type)
				}
			}
		}
	}
	return tm.Kind, obj, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func joinErrors(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// Load decodes every *.yaml and *.yml file under dir.
func Load(dir string) ([]Manifest, error) {
	var out []Manifest
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for i, doc := range Documents(bytes.TrimPrefix(data, []byte("\ufeff"))) {
			kind, obj, err := Decode(doc)
			if err != nil {
				return fmt.Errorf("%s#%d: %w", rel, i, err)
			}
			out = append(out, Manifest{File: rel, Index: i, Kind: kind, Object: obj})
		}
		return nil
	})
	return out, err
}
