package svgchart

import (
	"strings"
	"testing"
)

func TestScale(t *testing.T) {
	y := Scale{Max: 8, From: 198, To: 28}
	for _, tc := range []struct{ v, want float64 }{{0, 198}, {8, 28}, {4, 113}, {16, -142}} {
		if got := y.At(tc.v); got != tc.want {
			t.Errorf("Scale%+v.At(%v) = %v, want %v", y, tc.v, got, tc.want)
		}
	}
}

func TestPoint(t *testing.T) {
	var b strings.Builder
	Point(&b, 56, 197.96)
	Point(&b, 903.75, -0.04)
	if got, want := b.String(), "56.0,198.0 903.8,-0.0"; got != want {
		t.Errorf("Point() twice = %q, want %q", got, want)
	}
}

func TestNiceStep(t *testing.T) {
	for _, tc := range []struct {
		span float64
		n    int
		want float64
	}{{0, 4, 1}, {1, 4, 0.5}, {4, 4, 1}, {5, 4, 2}, {20, 4, 5}, {21, 4, 10}, {4000, 4, 1000}, {1001, 4, 500}, {300, 12, 50}} {
		if got := NiceStep(tc.span, tc.n); got != tc.want {
			t.Errorf("NiceStep(%v, %d) = %v, want %v", tc.span, tc.n, got, tc.want)
		}
	}
}

func TestTickLabel(t *testing.T) {
	for _, tc := range []struct {
		v, step float64
		want    string
	}{{20, 5, "20"}, {0, 1, "0"}, {0.5, 0.5, "0.5"}, {0.25, 0.05, "0.25"}, {1.5, 0.1, "1.5"}} {
		if got := TickLabel(tc.v, tc.step); got != tc.want {
			t.Errorf("TickLabel(%v, %v) = %q, want %q", tc.v, tc.step, got, tc.want)
		}
	}
}
