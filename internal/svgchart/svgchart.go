// Package svgchart is what the two SVG charts of revrx-supervise share: the
// status page's chart (package supervisor/web) and the simulator's report
// (package supervisor/simulate). It maps data onto the plot, writes
// coordinates with one decimal and chooses grid steps; what each chart
// draws, and how, stays with it.
//
//	x := svgchart.Scale{Max: 60, From: 56, To: 904}  // seconds, left to right
//	y := svgchart.Scale{Max: 40, From: 198, To: 28}  // counts, 0 at the bottom
//	var pts strings.Builder
//	svgchart.Point(&pts, x.At(30), y.At(10)) // "480.0,155.5", a polyline point
//
// Internal because it is no API: it serves these two charts and nothing
// else, and neither chart's package should import the other's.
package svgchart

import (
	"math"
	"strconv"
	"strings"
)

// Scale maps the values 0 to Max linearly onto the user units From to To
// (To below From for a y axis that grows upward). Max must be positive.
type Scale struct {
	Max      float64
	From, To float64
}

// At is where v lies on the scale; values outside 0 to Max lie outside
// From to To.
func (s Scale) At(v float64) float64 {
	return s.From + (s.To-s.From)*v/s.Max
}

// Coord formats a coordinate with one decimal, e.g. "123.4".
func Coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// Point appends the polyline point "x,y" to b, after a space unless b is
// empty.
func Point(b *strings.Builder, x, y float64) {
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(Coord(x))
	b.WriteByte(',')
	b.WriteString(Coord(y))
}

// NiceStep is the smallest step of 1, 2 or 5 times a power of ten that
// cuts span into at most n intervals; 1 when span is not positive.
func NiceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// TickLabel formats a tick value with as many decimals as its step needs:
// none for a step of 1 or more.
func TickLabel(v, step float64) string {
	dec := 0
	if step < 1 {
		dec = int(math.Ceil(-math.Log10(step)))
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}
