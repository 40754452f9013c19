package web

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/svgchart"
	"github.com/revrx/revrx-supervise/supervisor"
)

// Status page chart geometry, in SVG user units.
const (
	chartWidth, chartHeight = 960, 230
	chartLeft, chartRight   = 56, chartWidth - 56
	chartTop, chartBottom   = 28, chartHeight - 32
	// chartMinSpan is the shortest time the x axis spans: it covers the
	// samples there are, up to the window.
	chartMinSpan = time.Minute
)

// chartTimeSteps are the time grid's spacings, the smallest that gives at
// most six intervals wins.
var chartTimeSteps = []time.Duration{10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute}

// chart is the status page's SVG chart, laid out: every coordinate is
// computed here, so the template writes numbers only.
type chart struct {
	Width, Height          int
	Left, Right            int
	Top, Bottom            int
	Depth, Workers, Desire chartLine
	XTicks                 []chartTick // time, along the bottom
	DepthTicks             []chartTick // messages, on the left axis
	WorkerTicks            []chartTick // workers, on the right axis
	Samples                int
	Span                   string // what the x axis covers, e.g. "12 min"
}

// chartLine is one series as an SVG polyline "x,y x,y ...".
type chartLine struct {
	Points string
}

// chartTick is one labelled grid line; Pos is x for time ticks, y otherwise.
type chartTick struct {
	Pos   float64
	Label string
}

// newChart lays out samples over the time up to now that they cover (at
// least chartMinSpan, at most window): queue depth against the left axis,
// workers alive and desired against the right one.
func newChart(samples []supervisor.Sample, now time.Time, window time.Duration) chart {
	span := window
	if len(samples) > 0 {
		span = min(window, max(chartMinSpan, now.Sub(samples[0].At)))
	}
	c := chart{Width: chartWidth, Height: chartHeight, Left: chartLeft, Right: chartRight,
		Top: chartTop, Bottom: chartBottom, Samples: len(samples)}
	depthMax, workersMax := int64(1), 1
	for _, s := range samples {
		depthMax = max(depthMax, s.Depth)
		workersMax = max(workersMax, s.Workers, s.Desired)
	}
	depthY := svgchart.Scale{Max: axisTop(float64(depthMax)), From: chartBottom, To: chartTop}
	workersY := svgchart.Scale{Max: axisTop(float64(workersMax)), From: chartBottom, To: chartTop}
	c.Span = ago(span)
	start := now.Add(-span)
	xs := svgchart.Scale{Max: span.Seconds(), From: chartLeft, To: chartRight}
	x := func(at time.Time) float64 { return xs.At(at.Sub(start).Seconds()) }

	var depth, workers, desired strings.Builder
	for _, s := range samples {
		px := x(s.At)
		svgchart.Point(&depth, px, depthY.At(float64(s.Depth)))
		svgchart.Point(&workers, px, workersY.At(float64(s.Workers)))
		svgchart.Point(&desired, px, workersY.At(float64(s.Desired)))
	}
	c.Depth, c.Workers, c.Desire = chartLine{depth.String()}, chartLine{workers.String()}, chartLine{desired.String()}

	step := chartTimeSteps[len(chartTimeSteps)-1]
	for _, st := range slices.Backward(chartTimeSteps) {
		if span/st <= 6 {
			step = st
		}
	}
	for back := time.Duration(0); back <= span; back += step {
		label := "now"
		if back > 0 {
			label = "-" + ago(back)
		}
		c.XTicks = append(c.XTicks, chartTick{Pos: x(now.Add(-back)), Label: label})
	}
	c.DepthTicks, c.WorkerTicks = yTicks(depthY), yTicks(workersY)
	return c
}

// yTicks are the five grid lines from 0 to the top of a y axis.
func yTicks(y svgchart.Scale) []chartTick {
	ticks := make([]chartTick, 0, 5)
	for i := range 5 {
		v := float64(i) / 4 * y.Max
		ticks = append(ticks, chartTick{Pos: y.At(v), Label: svgchart.TickLabel(v, y.Max/4)})
	}
	return ticks
}

// axisTop is the smallest top at or above v that splits into four steps
// of 1, 2 or 5 times a power of ten, at least 1 (v is at least 1).
func axisTop(v float64) float64 { return 4 * max(1, svgchart.NiceStep(v, 4)) }

// ago formats d to the second: "30 s", "12 min", "1 min 30 s".
func ago(d time.Duration) string {
	secs := int(d.Round(time.Second) / time.Second)
	switch {
	case secs < 60:
		return strconv.Itoa(secs) + " s"
	case secs%60 == 0:
		return strconv.Itoa(secs/60) + " min"
	}
	return strconv.Itoa(secs/60) + " min " + strconv.Itoa(secs%60) + " s"
}
