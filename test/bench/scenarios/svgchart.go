/*
Copyright 2026 The clb-binding-controller Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

// The bench's charts: one small SVG writer shared by every scenario. A figure is a title over a
// grid of panels; a panel is a horizontal bar chart (labelled bars, values printed, optional
// reference lines) or a line chart (series of points, straight or as steps for a distribution,
// optional reference lines, linear or log y). Every bar is one <rect class="bar">, every point
// one <circle class="point">, every reference line one <line class="ref">, so that the tests can
// count them.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Layout, in SVG user units (px).
const (
	chartWidth    = 880.0
	chartPad      = 12.0 // around the figure and between panels
	figTitleH     = 30.0
	panelTitleH   = 22.0
	legendH       = 20.0
	refLabelH     = 15.0
	axisH         = 38.0 // tick labels and the axis label under a plot
	barH          = 16.0
	barGap        = 3.0
	groupGap      = 10.0
	linePlotH     = 240.0
	charW         = 6.6 // average width of a 12 px character, to size label columns
	smallCharW    = 6.1 // the same at 11 px
	markerR       = 2.6
	denseMarkerR  = 1.6 // markers of a series of more than denseSeries points
	denseSeries   = 60
	labelColumnOf = 0.42 // at most this share of a bar panel's width goes to labels
)

// palette colours series in order of first appearance; refPalette colours reference lines.
var (
	palette    = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}
	refPalette = []string{"#d62728", "#6a3d9a", "#b15928"}
)

// boundColor is the grey of bounds and floors: what a measured bar is compared with.
const boundColor = "#a6a6a6"

// figure is one SVG file: a title over panels, Columns to a row (0 means 1).
type figure struct {
	Title   string
	Columns int
	Panels  []panel
}

// panel is one chart of a figure.
type panel interface {
	// height is the panel's height.
	height() float64
	// draw writes the panel with its top-left corner at (x, y), w wide and h high.
	draw(s *svgWriter, x, y, w, h float64)
}

// refLine is a reference (a target, a bound) drawn as a dashed line across a plot, at Value on
// the value axis of a bar chart, or on the axis it belongs to in a line chart.
type refLine struct {
	Label string
	Value float64
}

// barChart is a horizontal bar chart: groups of bars, each group labelled on the left; bars of
// the same Series share a colour and a legend entry.
type barChart struct {
	Title  string
	Unit   string // the value axis label, with its unit
	Groups []barGroup
	Refs   []refLine
	// Note is printed in place of the bars when there are none.
	Note string
}

type barGroup struct {
	Label string
	Bars  []bar
}

type bar struct {
	Series string
	Value  float64
	Text   string // printed beside the bar; empty prints the value
	Color  string // empty: the series' colour from the palette
}

// lineChart plots series of points; Step draws a series as an empirical distribution.
type lineChart struct {
	Title          string
	XLabel, YLabel string
	Series         []lineSeries
	XRefs, YRefs   []refLine // vertical lines at x values, horizontal lines at y values
	LogY           bool
	XFromZero      bool   // the x axis includes 0 (latencies), else it spans the points
	Note           string // printed in place of the plot when no series has a point
}

type lineSeries struct {
	Name   string
	Color  string // empty: the palette's
	Dashed bool
	Step   bool
	Points []point
}

type point struct{ X, Y float64 }

// writeChart writes f as an SVG file name in dir.
func writeChart(dir, name string, f figure) error {
	return os.WriteFile(filepath.Join(dir, name), []byte(f.svg()), 0o644)
}

// svg renders the figure.
func (f figure) svg() string {
	cols := max(1, f.Columns)
	cellW := (chartWidth - 2*chartPad - float64(cols-1)*chartPad) / float64(cols)
	rowsH := make([]float64, 0, (len(f.Panels)+cols-1)/cols)
	for i := 0; i < len(f.Panels); i += cols {
		h := 0.0
		for _, p := range f.Panels[i:min(i+cols, len(f.Panels))] {
			h = max(h, p.height())
		}
		rowsH = append(rowsH, h)
	}
	total := chartPad + figTitleH
	for _, h := range rowsH {
		total += h + chartPad
	}
	if len(f.Panels) == 0 {
		total += 2 * panelTitleH
	}
	s := &svgWriter{}
	s.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s">`+"\n",
		num(chartWidth), num(total), num(chartWidth), num(total))
	s.printf("<style>%s</style>\n", chartStyle)
	s.printf(`<rect class="background" x="0" y="0" width="%s" height="%s" fill="#ffffff"/>`+"\n", num(chartWidth), num(total))
	s.text(chartWidth/2, chartPad+18, anchorMiddle, classTitle, f.Title)
	y := chartPad + figTitleH
	if len(f.Panels) == 0 {
		s.note(chartWidth/2, y+panelTitleH, "")
	}
	for r, h := range rowsH {
		for c := range cols {
			i := r*cols + c
			if i >= len(f.Panels) {
				break
			}
			x := chartPad + float64(c)*(cellW+chartPad)
			s.printf(`<g class="panel">` + "\n")
			f.Panels[i].draw(s, x, y, cellW, h)
			s.printf("</g>\n")
		}
		y += h + chartPad
	}
	s.printf("</svg>\n")
	return s.String()
}

const chartStyle = `
text { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 12px; fill: #222222 }
.title { font-size: 16px; font-weight: bold }
.ptitle { font-size: 13px; font-weight: bold }
.tick, .value, .legend, .reflabel, .note { font-size: 11px }
.tick { fill: #555555 }
.reflabel { font-weight: bold }
.note { fill: #777777; font-style: italic }
.axis { stroke: #444444; stroke-width: 1 }
.grid { stroke: #e6e6e6; stroke-width: 1 }
.ref { stroke-width: 1.5; stroke-dasharray: 6 4 }
.series { fill: none; stroke-width: 2 }
.frame { fill: none; stroke: #dddddd }
`

// Text anchors, and the classes of the style sheet (the tests count elements by class).
const (
	anchorStart, anchorMiddle, anchorEnd = "start", "middle", "end"

	classTitle, classPanelTitle, classNote            = "title", "ptitle", "note"
	classAxis, classGrid, classTick                   = "axis", "grid", "tick"
	classAxisLabel, classRef, classRefLabel           = "axislabel", "ref", "reflabel"
	classBar, classValue, classPoint, classGroupLabel = "bar", "value", "point", "glabel"

	noData = "no data"
)

// svgWriter accumulates SVG text.
type svgWriter struct{ strings.Builder }

func (s *svgWriter) printf(format string, args ...any) { _, _ = fmt.Fprintf(s, format, args...) }

func (s *svgWriter) text(x, y float64, anchor, class, t string) {
	s.printf(`<text class="%s" x="%s" y="%s" text-anchor="%s">%s</text>`+"\n", class, num(x), num(y), anchor, esc(t))
}

func (s *svgWriter) line(x1, y1, x2, y2 float64, class string) {
	s.printf(`<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", class, num(x1), num(y1), num(x2), num(y2))
}

// panelFrame draws a panel's border and title and returns the y below the title.
func (s *svgWriter) panelFrame(x, y, w, h float64, title string) float64 {
	s.printf(`<rect class="frame" x="%s" y="%s" width="%s" height="%s"/>`+"\n", num(x), num(y), num(w), num(h))
	s.text(x+w/2, y+16, anchorMiddle, classPanelTitle, title)
	return y + panelTitleH
}

// note says, centred at (x, y), why a panel has nothing to plot.
func (s *svgWriter) note(x, y float64, note string) {
	if note == "" {
		note = noData
	}
	s.text(x, y, anchorMiddle, classNote, note)
}

// xTick draws a vertical grid line at x and its label under the plot.
func (s *svgWriter) xTick(x, top, bottom float64, label string) {
	s.line(x, top, x, bottom, classGrid)
	s.text(x, bottom+14, anchorMiddle, classTick, label)
}

// ref draws a reference line and its label, left of (x, y) with anchor end, else right of it.
func (s *svgWriter) ref(x1, y1, x2, y2 float64, color, label string, lx, ly float64, anchor string) {
	s.printf(`<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`+"\n", classRef, num(x1), num(y1), num(x2), num(y2), color)
	dx := 4.0
	if anchor == anchorEnd {
		dx = -4
	}
	s.printf(`<text class="%s" x="%s" y="%s" text-anchor="%s" fill="%s">%s</text>`+"\n", classRefLabel, num(lx+dx), num(ly), anchor, color, esc(label))
}

// sideOf anchors a label at x towards the middle of [left, right], so it stays in the plot.
func sideOf(x, left, right float64) string {
	if x > (left+right)/2 {
		return anchorEnd
	}
	return anchorStart
}

// legend draws one swatch and name per named entry from (x, y), cut at x+w.
func (s *svgWriter) legend(x, y, w float64, names, colors []string) {
	cx := x
	for i, n := range names {
		if n == "" {
			continue
		}
		ew := 18 + float64(len([]rune(n)))*smallCharW + 14
		if cx > x && cx+ew > x+w {
			break // a legend wider than the panel is cut rather than overlapping the plot
		}
		s.printf(`<rect class="swatch" x="%s" y="%s" width="12" height="10" fill="%s"/>`+"\n", num(cx), num(y-9), colors[i])
		s.text(cx+16, y, anchorStart, "legend", n)
		cx += ew
	}
}

// esc escapes text for XML.
func esc(t string) string {
	var b strings.Builder
	for _, r := range t {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// num formats a coordinate.
func num(v float64) string { return strconv.FormatFloat(finite(v), 'f', 1, 64) }

// finite maps NaN and ±Inf (a ratio over a zero) to 0, so no coordinate is invalid.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// formatValue prints a value with the precision its size needs.
func formatValue(v float64) string {
	v = finite(v)
	if v == 0 {
		v = 0 // not "-0"
	}
	a := math.Abs(v)
	switch {
	case v == math.Trunc(v) && a < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 0.1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 2, 64)
}

// linearAxis is a linear scale with ticks at round steps.
type linearAxis struct {
	lo, hi float64
	ticks  []float64
	prec   int // decimals of the tick labels
}

// newLinearAxis spans values (and 0 when withZero) with about n round ticks.
func newLinearAxis(values []float64, withZero bool, n int) linearAxis {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		v = finite(v)
		lo, hi = min(lo, v), max(hi, v)
	}
	if withZero || math.IsInf(lo, 0) {
		lo, hi = min(lo, 0), max(hi, 0)
	}
	if hi-lo < 1e-12 {
		// One value (or none): a unit span around it.
		span := max(math.Abs(hi)/2, 1)
		if lo < 0 || !withZero {
			lo -= span
		}
		hi += span
	}
	step := niceStep((hi - lo) / float64(max(1, n)))
	a := linearAxis{lo: math.Floor(lo/step+1e-9) * step, hi: math.Ceil(hi/step-1e-9) * step, prec: max(0, -int(math.Floor(math.Log10(step)+1e-9)))}
	for i := 0; ; i++ {
		t := a.lo + float64(i)*step
		if t > a.hi+step/2 || i > 100 {
			break
		}
		tick := math.Round(t/step) * step
		if tick == 0 {
			tick = 0 // not "-0"
		}
		a.ticks = append(a.ticks, tick)
	}
	return a
}

// niceStep rounds a raw step up to 1, 2 or 5 × a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// pos maps v to [0, 1] along the axis.
func (a linearAxis) pos(v float64) float64 { return (finite(v) - a.lo) / (a.hi - a.lo) }

func (a linearAxis) label(t float64) string { return strconv.FormatFloat(t, 'f', a.prec, 64) }

// logAxis is a base-10 log scale over whole decades; values ≤ 0 sit at its bottom.
type logAxis struct {
	lo, hi float64 // exponents
	ticks  []float64
}

func newLogAxis(values []float64) logAxis {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		if v = finite(v); v > 0 {
			lo, hi = min(lo, math.Log10(v)), max(hi, math.Log10(v))
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	a := logAxis{lo: math.Floor(lo), hi: math.Ceil(hi)}
	if a.hi <= a.lo {
		a.hi = a.lo + 1
	}
	for e := a.lo; e <= a.hi; e++ {
		a.ticks = append(a.ticks, math.Pow(10, e))
		// Few decades: 2 and 5 too, so the axis has something to read.
		if a.hi-a.lo <= 2 && e < a.hi {
			a.ticks = append(a.ticks, 2*math.Pow(10, e), 5*math.Pow(10, e))
		}
	}
	slices.Sort(a.ticks)
	return a
}

func (a logAxis) pos(v float64) float64 {
	if v = finite(v); v <= 0 {
		return 0
	}
	return (math.Log10(v) - a.lo) / (a.hi - a.lo)
}

func (a logAxis) label(t float64) string { return strconv.FormatFloat(t, 'g', -1, 64) }

// seriesColors assigns palette colours to series names in order of first appearance.
type seriesColors struct {
	names  []string
	colors []string
}

func (c *seriesColors) of(name, override string) string {
	if i := slices.Index(c.names, name); i >= 0 {
		return c.colors[i]
	}
	col := override
	if col == "" {
		col = palette[len(c.names)%len(palette)]
	}
	c.names, c.colors = append(c.names, name), append(c.colors, col)
	return col
}

func (c barChart) bars() int {
	n := 0
	for _, g := range c.Groups {
		n += len(g.Bars)
	}
	return n
}

func (c barChart) legendShown() bool {
	var names []string
	for _, g := range c.Groups {
		for _, b := range g.Bars {
			if b.Series != "" && !slices.Contains(names, b.Series) {
				names = append(names, b.Series)
			}
		}
	}
	return len(names) > 1
}

func (c barChart) height() float64 {
	h := panelTitleH + float64(len(c.Refs))*refLabelH + axisH + 8
	if c.legendShown() {
		h += legendH
	}
	if c.bars() == 0 {
		return h + 2*barH
	}
	for _, g := range c.Groups {
		h += float64(len(g.Bars))*(barH+barGap) - barGap + groupGap
	}
	return h
}

func (c barChart) draw(s *svgWriter, x, y, w, h float64) {
	top := s.panelFrame(x, y, w, h, c.Title)
	var colors seriesColors
	for _, g := range c.Groups {
		for _, b := range g.Bars {
			if b.Series != "" {
				colors.of(b.Series, b.Color)
			}
		}
	}
	barColor := func(b bar) string {
		switch {
		case b.Color != "":
			return b.Color
		case b.Series == "":
			return palette[0]
		}
		return colors.of(b.Series, "")
	}
	if c.legendShown() {
		s.legend(x+10, top+12, w-20, colors.names, colors.colors)
		top += legendH
	}
	if c.bars() == 0 {
		s.note(x+w/2, top+barH+float64(len(c.Refs))*refLabelH, c.Note)
		return
	}
	// Label column sized to the longest group label, value room to the longest printed value.
	labelW, valueW := 0.0, 0.0
	values := make([]float64, 0, c.bars()+len(c.Refs))
	for _, g := range c.Groups {
		labelW = max(labelW, float64(len([]rune(g.Label)))*charW)
		for _, b := range g.Bars {
			valueW = max(valueW, float64(len([]rune(barText(b))))*smallCharW)
			values = append(values, b.Value)
		}
	}
	for _, r := range c.Refs {
		values = append(values, r.Value)
	}
	labelW = min(labelW+14, w*labelColumnOf)
	valueW = min(valueW+10, w*0.3)
	left, right := x+labelW, x+w-valueW
	plotTop := top + float64(len(c.Refs))*refLabelH + 4
	plotBottom := y + h - axisH
	ax := newLinearAxis(values, true, int(max(2, (right-left)/80)))
	px := func(v float64) float64 { return left + ax.pos(v)*(right-left) }
	for _, t := range ax.ticks {
		s.xTick(px(t), plotTop, plotBottom, ax.label(t))
	}
	s.text((left+right)/2, plotBottom+30, anchorMiddle, classAxisLabel, c.Unit)
	zero := px(0)
	by := plotTop
	for _, g := range c.Groups {
		gh := float64(len(g.Bars))*(barH+barGap) - barGap
		s.text(left-8, by+gh/2+4, anchorEnd, classGroupLabel, clip(g.Label, labelW-14))
		for _, b := range g.Bars {
			end := px(b.Value)
			tip := g.Label + ": " + barText(b)
			if b.Series != "" {
				tip = g.Label + " — " + b.Series + ": " + barText(b)
			}
			s.printf(`<rect class="%s" data-series="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`+"\n",
				classBar, esc(b.Series), num(min(zero, end)), num(by), num(math.Abs(end-zero)), num(barH), barColor(b), esc(tip))
			// A negative bar's value goes right of the zero line, clear of the labels.
			s.text(max(end, zero)+4, by+barH-4, anchorStart, classValue, barText(b))
			by += barH + barGap
		}
		by += groupGap - barGap
	}
	s.line(zero, plotTop, zero, plotBottom, classAxis)
	s.line(left, plotBottom, right, plotBottom, classAxis)
	for i, r := range c.Refs {
		rx, ly := px(r.Value), top+float64(i+1)*refLabelH
		s.ref(rx, ly+2, rx, plotBottom, refPalette[i%len(refPalette)], r.Label, rx, ly, sideOf(rx, left, right))
	}
}

func barText(b bar) string {
	if b.Text != "" {
		return b.Text
	}
	return formatValue(b.Value)
}

// clip shortens a label to about w px; the <title> of its bars keeps it whole.
func clip(label string, w float64) string {
	r := []rune(label)
	n := int(w/charW + 1e-6) // w is a whole number of characters unless the column was capped
	if len(r) <= n || n < 2 {
		return label
	}
	return string(r[:n-1]) + "…"
}

func (c lineChart) points() int {
	n := 0
	for _, sr := range c.Series {
		n += len(sr.Points)
	}
	return n
}

func (c lineChart) height() float64 {
	h := panelTitleH + linePlotH + axisH + 8
	if len(c.Series) > 1 {
		h += legendH
	}
	return h
}

func (c lineChart) draw(s *svgWriter, x, y, w, h float64) {
	top := s.panelFrame(x, y, w, h, c.Title)
	var colors seriesColors
	for _, sr := range c.Series {
		colors.of(sr.Name, sr.Color)
	}
	if len(c.Series) > 1 {
		s.legend(x+10, top+12, w-20, colors.names, colors.colors)
		top += legendH
	}
	if c.points() == 0 {
		s.note(x+w/2, top+linePlotH/2, c.Note)
		return
	}
	xs := make([]float64, 0, c.points()+len(c.XRefs))
	ys := make([]float64, 0, c.points()+len(c.YRefs))
	for _, sr := range c.Series {
		for _, p := range sr.Points {
			xs, ys = append(xs, p.X), append(ys, p.Y)
		}
	}
	for _, r := range c.XRefs {
		xs = append(xs, r.Value)
	}
	for _, r := range c.YRefs {
		ys = append(ys, r.Value)
	}
	xa := newLinearAxis(xs, c.XFromZero, 6)
	var yPos func(float64) float64
	var yTicks []float64
	var yLabel func(float64) string
	if c.LogY {
		a := newLogAxis(ys)
		yPos, yTicks, yLabel = a.pos, a.ticks, a.label
	} else {
		a := newLinearAxis(ys, true, 5)
		yPos, yTicks, yLabel = a.pos, a.ticks, a.label
	}
	tickW := 0.0
	for _, t := range yTicks {
		tickW = max(tickW, float64(len(yLabel(t)))*smallCharW)
	}
	left, right := x+tickW+30, x+w-14
	plotTop, plotBottom := top+8, y+h-axisH
	px := func(v float64) float64 { return left + xa.pos(v)*(right-left) }
	py := func(v float64) float64 { return plotBottom - yPos(v)*(plotBottom-plotTop) }
	for _, t := range xa.ticks {
		s.xTick(px(t), plotTop, plotBottom, xa.label(t))
	}
	for _, t := range yTicks {
		s.line(left, py(t), right, py(t), classGrid)
		s.text(left-5, py(t)+4, anchorEnd, classTick, yLabel(t))
	}
	s.text((left+right)/2, plotBottom+30, anchorMiddle, classAxisLabel, c.XLabel)
	ly, lx := (plotTop+plotBottom)/2, x+14
	s.printf(`<text class="%s" x="%s" y="%s" text-anchor="middle" transform="rotate(-90 %s %s)">%s</text>`+"\n",
		classAxisLabel, num(lx), num(ly), num(lx), num(ly), esc(c.YLabel))
	s.line(left, plotBottom, right, plotBottom, classAxis)
	s.line(left, plotTop, left, plotBottom, classAxis)
	for _, sr := range c.Series {
		s.series(sr, colors.of(sr.Name, sr.Color), px, py)
	}
	for i, r := range c.XRefs {
		rx := px(r.Value)
		s.ref(rx, plotTop, rx, plotBottom, refPalette[i%len(refPalette)], r.Label, rx, plotTop+12+float64(i)*refLabelH, sideOf(rx, left, right))
	}
	for i, r := range c.YRefs {
		ry := py(r.Value)
		// Labelled at the right end: a distribution is at 100% there, above the line.
		s.ref(left, ry, right, ry, refPalette[(len(c.XRefs)+i)%len(refPalette)], r.Label, right, ry-4, anchorEnd)
	}
}

// series draws a line through the points (steps for a distribution) and a marker on each.
func (s *svgWriter) series(sr lineSeries, color string, px, py func(float64) float64) {
	if len(sr.Points) > 1 {
		var d strings.Builder
		for i, p := range sr.Points {
			switch {
			case i == 0:
				fmt.Fprintf(&d, "M%s %s", num(px(p.X)), num(py(p.Y)))
			case sr.Step:
				fmt.Fprintf(&d, " H%s V%s", num(px(p.X)), num(py(p.Y)))
			default:
				fmt.Fprintf(&d, " L%s %s", num(px(p.X)), num(py(p.Y)))
			}
		}
		dash := ""
		if sr.Dashed {
			dash = ` stroke-dasharray="5 3"`
		}
		s.printf(`<path class="series" d="%s" stroke="%s"%s/>`+"\n", d.String(), color, dash)
	}
	r := markerR
	if len(sr.Points) > denseSeries {
		r = denseMarkerR
	}
	for _, p := range sr.Points {
		s.printf(`<circle class="%s" cx="%s" cy="%s" r="%s" fill="%s"><title>%s: %s, %s</title></circle>`+"\n",
			classPoint, num(px(p.X)), num(py(p.Y)), num(r), color, esc(sr.Name), formatValue(p.X), formatValue(p.Y))
	}
}
