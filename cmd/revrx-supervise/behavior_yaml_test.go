package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseBehavior(t *testing.T) {
	manifest, err := os.ReadFile("testdata/hpa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		in       string
		wantErr  string
		upWin    int32
		downWin  int32
		upPols   int
		downPols int
	}{
		{name: "whole HPA manifest", in: string(manifest), upWin: 0, downWin: 120, upPols: 2, downPols: 1},
		{name: "behavior key", in: "behavior:\n  scaleDown:\n    stabilizationWindowSeconds: 60\n", upWin: 0, downWin: 60, upPols: 2, downPols: 1},
		{name: "bare block, JSON", in: `{"scaleUp": {"stabilizationWindowSeconds": 15, "selectPolicy": "Disabled"}}`, upWin: 15, downWin: 300, upPols: 2, downPols: 1},
		{name: "empty block takes every default", in: "{}", upWin: 0, downWin: 300, upPols: 2, downPols: 1},
		{name: "unknown field", in: "scaleUp:\n  stabilisationWindow: 10\n", wantErr: "stabilisationWindow"},
		{name: "bad policy type", in: "scaleUp:\n  policies: [{type: Workers, value: 1, periodSeconds: 10}]\n", wantErr: "accepted: Pods, Percent"},
		{name: "manifest without behavior", in: "kind: HorizontalPodAutoscaler\nspec:\n  maxReplicas: 3\n", wantErr: "no spec.behavior"},
		{name: "not YAML", in: "scaleUp: [", wantErr: "behavior:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := parseBehavior([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseBehavior() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *b.ScaleUp.StabilizationWindowSeconds != tt.upWin || *b.ScaleDown.StabilizationWindowSeconds != tt.downWin ||
				len(b.ScaleUp.Policies) != tt.upPols || len(b.ScaleDown.Policies) != tt.downPols {
				t.Errorf("parseBehavior() = %+v", b)
			}
		})
	}
}
