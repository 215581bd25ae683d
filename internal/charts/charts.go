// Package charts draws the pictures of the benchmark and reliability
// reports with gonum.org/v1/plot, which carries its own fonts: every chart
// has a title, labelled axes with ticks and a legend, so that it reads on
// its own, without the table beside it.
package charts

import (
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Colours, the same in every chart.
var (
	grey   = color.RGBA{150, 150, 150, 255}
	green  = color.RGBA{60, 160, 80, 255}
	red    = color.RGBA{210, 60, 60, 255}
	blue   = color.RGBA{70, 110, 200, 255}
	orange = color.RGBA{230, 140, 30, 255}
	black  = color.RGBA{0, 0, 0, 255}
	shade  = color.NRGBA{250, 200, 120, 110}
)

// Width is every chart's width; heights follow the number of rows.
const Width = 9 * vg.Inch

// DPI is the PNG's resolution: Width is 1350 pixels.
const DPI = 150

// Bar is one line of a ratio chart.
type Bar struct {
	Label    string  // e.g. "redis · read · ~100 B"
	Value    float64 // e.g. the throughput as a ratio to plain reverse_proxy
	Target   float64 // the least Value that meets the target; 0: no target
	Baseline bool    // the line the others are measured against
}

// Met reports whether b meets its target, and whether it has one.
func (b Bar) Met() (met, ok bool) {
	if b.Target == 0 || b.Baseline {
		return false, false
	}
	return b.Value >= b.Target, true
}

// Ratios is a horizontal bar chart, one labelled bar per line top to bottom
// in the given order, coloured baseline / target met / target missed / no
// target, with a marker at each target and the x axis from 0 to at least
// 1.0. Each bar carries its value as text at its end.
func Ratios(title, xLabel string, bars []Bar) (*Chart, error) {
	if len(bars) == 0 {
		return nil, errors.New("ratio chart: no bars")
	}
	p := plot.New()
	leg := newLegend()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.X.Min = 0
	xmax := 1.0
	for _, b := range bars {
		xmax = max(xmax, b.Value, b.Target)
	}
	p.X.Max = xmax * 1.12 // room for the value labels
	p.X.Tick.Marker = stepTicks{step: tickStep(p.X.Max)}
	p.Add(plotter.NewGrid())

	n := len(bars)
	row := func(i int) float64 { return float64(n - 1 - i) } // first bar on top
	labels := make([]string, n)
	categories := []struct {
		name  string
		color color.Color
		seen  bool
	}{{"plain reverse_proxy (the baseline)", grey, false}, {"target met", green, false}, {"target missed", red, false}, {"no target", blue, false}}
	var targets plotter.XYs
	var valueLabels plotter.XYLabels
	for i, b := range bars {
		labels[n-1-i] = b.Label
		cat := 3
		if b.Baseline {
			cat = 0
		} else if met, ok := b.Met(); ok && met {
			cat = 1
		} else if ok {
			cat = 2
		}
		bc, err := plotter.NewBarChart(plotter.Values{b.Value}, vg.Points(11))
		if err != nil {
			return nil, fmt.Errorf("ratio chart: %w", err)
		}
		bc.Horizontal, bc.XMin, bc.Color = true, row(i), categories[cat].color
		bc.LineStyle.Width = 0
		p.Add(bc)
		if !categories[cat].seen {
			categories[cat].seen = true
			leg.Add(categories[cat].name, bc)
		}
		if b.Target > 0 && !b.Baseline {
			targets = append(targets, plotter.XY{X: b.Target, Y: row(i)})
		}
		// Right of the bar, or of its target marker when that is further.
		at := b.Value
		if b.Target > at && !b.Baseline {
			at = b.Target + 0.01*xmax
		}
		valueLabels.XYs = append(valueLabels.XYs, plotter.XY{X: at, Y: row(i)})
		valueLabels.Labels = append(valueLabels.Labels, fmt.Sprintf(" %.2f", b.Value))
	}
	one, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.6}, {X: 1, Y: float64(n) - 0.4}})
	if err != nil {
		return nil, err
	}
	one.LineStyle = draw.LineStyle{Color: black, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	p.Add(one)
	leg.Add("1.0 = plain reverse_proxy", one)
	if len(targets) > 0 {
		s, err := plotter.NewScatter(targets)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle = draw.GlyphStyle{Shape: barGlyph{}, Color: black, Radius: vg.Points(7)}
		p.Add(s)
		leg.Add("target", s)
	}
	vl, err := plotter.NewLabels(valueLabels)
	if err != nil {
		return nil, err
	}
	for i := range vl.TextStyle {
		vl.TextStyle[i].YAlign = draw.YCenter
		vl.TextStyle[i].Font.Size = vg.Points(8)
	}
	p.Add(vl)
	p.NominalY(labels...)
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
	return newChart(p, leg, rowsHeight(n)), nil
}

// Group is one line of a grouped chart: one value per series.
type Group struct {
	Label  string
	Values []float64
}

// Grouped is a horizontal chart of groups of bars, one group per line top
// to bottom in the given order, one bar per series, each bar labelled with
// its value in unit. mark, when positive, draws a dashed line at that value
// (the baseline's first series, say) across the chart.
func Grouped(title, xLabel, unit string, series []string, groups []Group, mark float64, markLabel string) (*Chart, error) {
	if len(groups) == 0 || len(series) == 0 {
		return nil, errors.New("grouped chart: no data")
	}
	p := plot.New()
	leg := newLegend()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.X.Min = 0
	xmax := mark
	for _, g := range groups {
		if len(g.Values) != len(series) {
			return nil, fmt.Errorf("grouped chart: %q has %d values for %d series", g.Label, len(g.Values), len(series))
		}
		for _, v := range g.Values {
			xmax = max(xmax, v)
		}
	}
	if xmax <= 0 {
		xmax = 1
	}
	p.X.Max = xmax * 1.15
	p.X.Tick.Marker = stepTicks{step: tickStep(p.X.Max)}
	p.Add(plotter.NewGrid())
	n := len(groups)
	labels := make([]string, n)
	palette := []color.Color{blue, orange, green, red}
	const barW = 7
	for s, name := range series {
		vals := make(plotter.Values, n)
		for i, g := range groups {
			vals[n-1-i] = g.Values[s]
			labels[n-1-i] = g.Label
		}
		bc, err := plotter.NewBarChart(vals, vg.Points(barW))
		if err != nil {
			return nil, fmt.Errorf("grouped chart: %w", err)
		}
		bc.Horizontal, bc.Color = true, palette[s%len(palette)]
		bc.LineStyle.Width = 0
		// Series top to bottom within a group, as the legend lists them.
		bc.Offset = vg.Points(barW) * vg.Length(float64(len(series)-1)/2-float64(s))
		p.Add(bc)
		leg.Add(name, bc)
		var xyl plotter.XYLabels
		for i, v := range vals {
			xyl.XYs = append(xyl.XYs, plotter.XY{X: v, Y: float64(i)})
			xyl.Labels = append(xyl.Labels, " "+formatValue(v)+unit)
		}
		vl, err := plotter.NewLabels(xyl)
		if err != nil {
			return nil, err
		}
		vl.Offset = vg.Point{Y: bc.Offset}
		for i := range vl.TextStyle {
			vl.TextStyle[i].YAlign = draw.YCenter
			vl.TextStyle[i].Font.Size = vg.Points(7)
		}
		p.Add(vl)
	}
	if mark > 0 {
		l, err := plotter.NewLine(plotter.XYs{{X: mark, Y: -0.6}, {X: mark, Y: float64(n) - 0.4}})
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: black, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
		p.Add(l)
		leg.Add(markLabel, l)
	}
	p.NominalY(labels...)
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
	return newChart(p, leg, rowsHeight(n)*vg.Length(max(1, float64(len(series))/1.6))), nil
}

// Span is a stretch of time on a timeline, in seconds from its start.
type Span struct {
	From, To float64
	Label    string // e.g. "Redis down"
}

// Line is one series of a timeline: a value per step.
type Line struct {
	Name   string
	Values []float64
}

// Timeline plots lines over time (x in seconds, one point per step) with
// each fault shaded and labelled.
func Timeline(title, yLabel string, step float64, lines []Line, faults []Span) (*Chart, error) {
	if len(lines) == 0 || step <= 0 {
		return nil, errors.New("timeline: no data")
	}
	p := plot.New()
	leg := newLegend()
	p.Title.Text = title
	p.X.Label.Text = "seconds since the load started"
	p.Y.Label.Text = yLabel
	p.X.Min, p.Y.Min = 0, 0
	ymax, xmax := 1.0, 0.0
	for _, l := range lines {
		for _, v := range l.Values {
			ymax = max(ymax, v)
		}
		xmax = max(xmax, float64(len(l.Values))*step)
	}
	p.Y.Max = ymax * 1.15
	p.Y.Tick.Marker = stepTicks{step: tickStep(p.Y.Max)}
	p.X.Max = xmax
	p.X.Tick.Marker = stepTicks{step: tickStep(xmax)}
	p.Add(plotter.NewGrid())
	labelled := map[string]bool{}
	for _, f := range faults {
		poly, err := plotter.NewPolygon(plotter.XYs{{X: f.From, Y: 0}, {X: f.To, Y: 0}, {X: f.To, Y: p.Y.Max}, {X: f.From, Y: p.Y.Max}})
		if err != nil {
			return nil, err
		}
		poly.Color = shade
		poly.LineStyle.Width = 0
		p.Add(poly)
		if !labelled[f.Label] { // a label once, however often its fault recurs
			labelled[f.Label] = true
			leg.Add(f.Label, poly)
		}
		for _, x := range []float64{f.From, f.To} {
			edge, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: p.Y.Max}})
			if err != nil {
				return nil, err
			}
			edge.LineStyle = draw.LineStyle{Color: orange, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
			p.Add(edge)
		}
	}
	palette := []color.Color{green, red, blue, orange}
	for i, l := range lines {
		xys := make(plotter.XYs, len(l.Values))
		for j, v := range l.Values {
			xys[j] = plotter.XY{X: (float64(j) + 0.5) * step, Y: v}
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("timeline %q: %w", l.Name, err)
		}
		line.LineStyle = draw.LineStyle{Color: palette[i%len(palette)], Width: vg.Points(1.5)}
		p.Add(line)
		leg.Add(l.Name, line)
	}
	return newChart(p, leg, 4*vg.Inch), nil
}

// Chart is a plot with its legend below it and the height of both (the
// width is Width).
type Chart struct {
	Plot   *plot.Plot
	Legend *legend
	Height vg.Length
}

// legend counts its entries, to size the strip it is drawn in.
type legend struct {
	plot.Legend
	n int
}

func newLegend() *legend { return &legend{Legend: plot.NewLegend()} }

func (l *legend) Add(name string, thumbs ...plot.Thumbnailer) {
	l.Legend.Add(name, thumbs...)
	l.n++
}

// newChart puts the legend in a strip below the plot, where it hides no
// data, and makes the chart that much taller.
func newChart(p *plot.Plot, leg *legend, plotHeight vg.Length) *Chart {
	leg.Top, leg.Left = true, true
	leg.Padding = vg.Points(3)
	leg.TextStyle.Font.Size = vg.Points(9)
	return &Chart{Plot: p, Legend: leg, Height: plotHeight + legendHeight(leg)}
}

func legendHeight(l *legend) vg.Length {
	return vg.Length(l.n)*(l.TextStyle.Font.Size*1.5+l.Padding) + vg.Points(12)
}

// draw draws the plot above the legend's strip and the legend in it.
func (c *Chart) draw(dc draw.Canvas) {
	lh := legendHeight(c.Legend)
	c.Plot.Draw(draw.Crop(dc, 0, 0, lh, 0))
	c.Legend.Draw(draw.Crop(dc, vg.Points(24), 0, vg.Points(4), -(c.Height - lh)))
}

// Pixels is the PNG's size.
func (c *Chart) Pixels() (w, h int) {
	return int(Width.Dots(DPI) + 0.5), int(c.Height.Dots(DPI) + 0.5)
}

// Save writes the chart as a PNG to path, and as an SVG beside it when
// path ends in .png and svg is true.
func (c *Chart) Save(path string, svg bool) error {
	img := vgimg.NewWith(vgimg.UseWH(Width, c.Height), vgimg.UseDPI(DPI))
	c.draw(draw.New(img))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if svg && strings.HasSuffix(path, ".png") {
		svgc := vgsvg.New(Width, c.Height)
		c.draw(draw.New(svgc))
		f, err := os.Create(strings.TrimSuffix(path, ".png") + ".svg")
		if err != nil {
			return err
		}
		if _, err := svgc.WriteTo(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}

// Name is a file name made of s: lower case, dashes for the rest.
func Name(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}

// Dir makes sure the directory of path exists.
func Dir(path string) error { return os.MkdirAll(filepath.Dir(path), 0o755) }

const rowPoints = 26 // a bar row's height, in points

func rowsHeight(n int) vg.Length { return vg.Points(float64(n*rowPoints)) + 1.3*vg.Inch }

// tickStep is a round step giving 5 to 10 ticks up to xmax.
func tickStep(xmax float64) float64 {
	step := 0.05
	for _, s := range []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000} {
		step = s
		if xmax/s <= 10 {
			break
		}
	}
	return step
}

// stepTicks labels every step from 0.
type stepTicks struct{ step float64 }

func (s stepTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for v := 0.0; v <= max+s.step/1000; v += s.step {
		if v < min {
			continue
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: formatValue(v)})
	}
	return ticks
}

func formatValue(v float64) string {
	switch {
	case v == float64(int64(v)) && v >= 10:
		return fmt.Sprintf("%d", int64(v))
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	}
}

// barGlyph is a short vertical stroke: a target's position on a bar.
type barGlyph struct{}

func (barGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.StrokeLine2(draw.LineStyle{Color: sty.Color, Width: vg.Points(2.5)}, pt.X, pt.Y-sty.Radius, pt.X, pt.Y+sty.Radius)
}
