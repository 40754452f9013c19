package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseAutoscale(t *testing.T) {
	tests := []struct {
		in             string
		wantLo, wantHi int
		wantErr        string
	}{
		{in: "10,3", wantLo: 3, wantHi: 10},
		{in: "3,10", wantLo: 3, wantHi: 10}, // Celery sorts: the larger is MAX
		{in: "10", wantLo: 0, wantHi: 10},
		{in: "5,5", wantLo: 5, wantHi: 5},
		{in: " 4 , 2 ", wantLo: 2, wantHi: 4},
		{in: "1,2,3", wantErr: "3 values"},
		{in: "x", wantErr: `"x" is not a whole number`},
		{in: "a,b", wantErr: `"a" is not a whole number`},
		{in: "10,", wantErr: `"" is not a whole number`},
		{in: "", wantErr: "not a whole number"},
		{in: "-1", wantErr: "negative"},
		{in: "10,-3", wantErr: "negative"},
		{in: "0,0", wantErr: "MAX must be at least 1"},
		{in: "0", wantErr: "MAX must be at least 1"},
		{in: "2.5", wantErr: "not a whole number"},
	}
	for _, tt := range tests {
		lo, hi, err := parseAutoscale(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--autoscale=MAX[,MIN]") {
				t.Errorf("parseAutoscale(%q) error = %v, want one containing %q and the accepted form", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || lo != tt.wantLo || hi != tt.wantHi {
			t.Errorf("parseAutoscale(%q) = %d, %d, %v, want %d, %d", tt.in, lo, hi, err, tt.wantLo, tt.wantHi)
		}
	}
}

func TestParseKeepalive(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "30", want: 30 * time.Second},
		{in: "2.5", want: 2500 * time.Millisecond},
		{in: "30s", want: 30 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "0", bad: true},
		{in: "-5s", bad: true},
		{in: "soon", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		got, err := parseKeepalive(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("parseKeepalive(%q) = %v, %v, want %v (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestParseSteps(t *testing.T) {
	if got, err := parseSteps("0,3,6,9"); err != nil || len(got) != 4 || got[3] != 9 {
		t.Errorf(`parseSteps("0,3,6,9") = %v, %v`, got, err)
	}
	for _, bad := range []string{"", "a", "0,-1", "0,300"} {
		if _, err := parseSteps(bad); err == nil {
			t.Errorf("parseSteps(%q) = nil error, want one", bad)
		}
	}
}

func TestParseStepPolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"pods=4/15s", "Pods 4 15"},
		{"Percent=100/1m", "Percent 100 60"},
		{"pods=4", "error"},
		{"workers=4/15s", "error"},
		{"pods=0/15s", "error"},
		{"pods=1/10ms", "error"},
	} {
		sp, err := parseStepPolicy(tc.in)
		got := "error"
		if err == nil {
			got = string(sp.Type) + " " + strconv.Itoa(int(sp.Value)) + " " + strconv.Itoa(int(sp.PeriodSeconds))
		}
		if got != tc.want {
			t.Errorf("parseStepPolicy(%q) = %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"512MiB", 512 << 20}, {"1GiB", 1 << 30}, {"800MB", 800e6}, {"1.5GB", 1.5e9}, {"4096", 4096}, {"10B", 10},
		{"", 0}, {"lots", 0}, {"-1MiB", 0},
	} {
		got, err := parseBytes(tc.in)
		if got != tc.want || (err == nil) != (tc.want != 0) {
			t.Errorf("parseBytes(%q) = %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
}
