package simulate

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/revrx/revrx-supervise/internal/svgchart"
)

// Chart geometry, in SVG user units (pixels).
const (
	svgWidth, svgHeight = 960, 520
	plotLeft, plotRight = 64, svgWidth - 24
	plotTop, plotBottom = 84, svgHeight - 56
	charWidth           = 6.6 // estimated width of one character at font-size 12
)

// seriesStyle is how one line of the chart looks.
type seriesStyle struct {
	label, color, dash string
	width              float64
	fill               bool
	data               Series
}

// WriteSVG draws the report as a standalone SVG chart: time on x, counts
// on y, the first run's waiting tasks, workers alive and desired workers,
// and every other run's workers alive dashed. The output depends only on
// the report.
func WriteSVG(w io.Writer, rep Report) error {
	if len(rep.Runs) == 0 {
		return fmt.Errorf("svg: no run to draw")
	}
	main := rep.Runs[0]
	lines := []seriesStyle{
		{label: "waiting in the broker (" + main.Model.Name + ")", color: "#4e79a7", width: 1.5, fill: true, data: main.Queue},
		{label: "workers alive (" + main.Model.Name + ")", color: "#f28e2b", width: 2.5, data: main.Workers},
		{label: "desired workers (" + main.Model.Name + ")", color: "#59a14f", width: 1.5, dash: "2 3", data: main.Desired},
	}
	for _, r := range rep.Runs[1:] {
		lines = append(lines, seriesStyle{label: "workers alive (" + r.Model.Name + ")", color: "#e15759", width: 2, dash: "7 4", data: r.Workers})
	}
	ymax := 1
	for _, l := range lines {
		ymax = max(ymax, l.data.Max())
	}
	c := chart{ystep: max(1, svgchart.NiceStep(float64(ymax), 8))} // counts: whole ticks
	c.x = svgchart.Scale{Max: rep.Horizon.Seconds(), From: plotLeft, To: plotRight}
	c.y = svgchart.Scale{Max: (math.Floor(float64(ymax)/c.ystep) + 1) * c.ystep, From: plotBottom, To: plotTop} // headroom above the highest line

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, svgHeight, svgWidth, svgHeight)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, svgHeight)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold" text-anchor="middle">%s</text>`+"\n",
		svgWidth/2, html.EscapeString(title(rep)))
	fmt.Fprintf(&b, `<text x="%d" y="44" fill="#555555" text-anchor="middle">%s</text>`+"\n",
		svgWidth/2, html.EscapeString(subtitle(rep)))
	c.axes(&b)
	for _, l := range lines {
		c.series(&b, l, rep.Horizon)
	}
	legend(&b, lines)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func title(rep Report) string {
	names := make([]string, len(rep.Runs))
	for i, r := range rep.Runs {
		names[i] = r.Model.Name
	}
	p := rep.Runs[0].Model.Policy
	return fmt.Sprintf("%s: %s, --autoscale=%d,%d, keepalive %s", rep.Trace.Name, strings.Join(names, " vs "), p.Max, p.Min, p.Keepalive)
}

func subtitle(rep Report) string {
	parts := make([]string, len(rep.Runs))
	for i, r := range rep.Runs {
		parts[i] = fmt.Sprintf("%s: wait p50 %s s, p95 %s s, %s worker-seconds, %d scaling events",
			r.Model.Name, seconds(r.Wait(50)), seconds(r.Wait(95)), strconv.FormatFloat(r.SlotSeconds, 'f', 1, 64), r.Starts+r.Stops)
	}
	return strings.Join(parts, "; ")
}

// chart maps data to the plot area: seconds on x, counts on y in steps
// of ystep.
type chart struct {
	x, y  svgchart.Scale
	ystep float64
}

// f formats a coordinate with one decimal.
func f(v float64) string { return svgchart.Coord(v) }

// axes draws the grid, both axes, their ticks, labels and titles.
func (c chart) axes(b *strings.Builder) {
	b.WriteString(`<g stroke="#dddddd" stroke-width="1">` + "\n")
	for i := 1; float64(i)*c.ystep <= c.y.Max+c.ystep/1e6; i++ {
		v := float64(i) * c.ystep
		fmt.Fprintf(b, `<line x1="%d" y1="%s" x2="%d" y2="%s"/>`+"\n", plotLeft, f(c.y.At(v)), plotRight, f(c.y.At(v)))
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(b, `<g stroke="#333333" stroke-width="1"><line x1="%d" y1="%d" x2="%d" y2="%d"/><line x1="%d" y1="%d" x2="%d" y2="%d"/></g>`+"\n",
		plotLeft, plotBottom, plotRight, plotBottom, plotLeft, plotTop, plotLeft, plotBottom)
	b.WriteString(`<g fill="#333333" text-anchor="end">` + "\n")
	for i := 0; float64(i)*c.ystep <= c.y.Max+c.ystep/1e6; i++ {
		v := float64(i) * c.ystep
		fmt.Fprintf(b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="#333333"/><text x="%d" y="%s">%s</text>`+"\n",
			plotLeft-5, f(c.y.At(v)), plotLeft, f(c.y.At(v)), plotLeft-8, f(c.y.At(v)+4), svgchart.TickLabel(v, c.ystep))
	}
	b.WriteString("</g>\n")
	xstep := svgchart.NiceStep(c.x.Max, 12)
	b.WriteString(`<g fill="#333333" text-anchor="middle">` + "\n")
	for i := 0; float64(i)*xstep <= c.x.Max+xstep/1e6; i++ {
		v := float64(i) * xstep
		fmt.Fprintf(b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#333333"/><text x="%s" y="%d">%s</text>`+"\n",
			f(c.x.At(v)), plotBottom, f(c.x.At(v)), plotBottom+5, f(c.x.At(v)), plotBottom+19, svgchart.TickLabel(v, xstep))
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">time (s)</text>`+"\n", (plotLeft+plotRight)/2, svgHeight-18)
	fmt.Fprintf(b, `<text x="18" y="%d" text-anchor="middle" transform="rotate(-90 18 %d)">count (tasks, workers)</text>`+"\n",
		(plotTop+plotBottom)/2, (plotTop+plotBottom)/2)
}

// series draws one step function up to the horizon.
func (c chart) series(b *strings.Builder, s seriesStyle, horizon time.Duration) {
	if len(s.data) == 0 {
		return
	}
	var path strings.Builder
	p0 := s.data[0]
	fmt.Fprintf(&path, "M%s %s", f(c.x.At(p0.At.Seconds())), f(c.y.At(float64(p0.Value))))
	for _, p := range s.data[1:] {
		fmt.Fprintf(&path, " H%s V%s", f(c.x.At(p.At.Seconds())), f(c.y.At(float64(p.Value))))
	}
	fmt.Fprintf(&path, " H%s", f(c.x.At(horizon.Seconds())))
	if s.fill {
		fmt.Fprintf(b, `<path d="%s V%s H%s Z" fill="%s" fill-opacity="0.15" stroke="none"/>`+"\n",
			path.String(), f(c.y.At(0)), f(c.x.At(p0.At.Seconds())), s.color)
	}
	dash := ""
	if s.dash != "" {
		dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
	}
	fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="%s"%s stroke-linejoin="round"/>`+"\n",
		path.String(), s.color, f(s.width), dash)
}

// legend draws one row of line samples and labels under the titles.
func legend(b *strings.Builder, lines []seriesStyle) {
	total := 0.0
	for _, l := range lines {
		total += 34 + float64(len(l.label))*charWidth + 18
	}
	x := math.Round((svgWidth - total) / 2)
	const y = 64
	for _, l := range lines {
		dash := ""
		if l.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, l.dash)
		}
		fmt.Fprintf(b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s" stroke-width="%s"%s/>`+"\n",
			f(x), y, f(x+28), y, l.color, f(l.width), dash)
		fmt.Fprintf(b, `<text x="%s" y="%d">%s</text>`+"\n", f(x+34), y+4, html.EscapeString(l.label))
		x += 34 + float64(len(l.label))*charWidth + 18
	}
}
