package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The charts are grouped bar charts laid out here, in Go, and drawn by the
// page template as inline SVG: the page needs no script and no library,
// and the same Report always gives the same bytes (the golden test).

// Chart geometry, in SVG user units (the SVG scales to the page width).
const (
	chartW      = 760
	chartH      = 330
	plotLeft    = 78   // room for tick labels and the rotated y-axis title
	plotRight   = 16   // chartW - plotRight is the plot's right edge
	plotTop     = 40   // room for the legend
	plotBottom  = 64   // room for group labels and the x-axis title
	groupFill   = 0.72 // share of a group's width taken by its bars
	labelOffset = 5    // value label's gap above its bar or whisker
)

// Series colours: the Okabe–Ito palette, which stays distinguishable with
// the common colour-vision deficiencies, in shades that read on the
// page's dark panels. Every bar also carries its value as text and the
// legend names each colour, so colour is never the only cue.
const (
	colSkyBlue    = "#56B4E9"
	colOrange     = "#E69F00"
	colPurple     = "#CC79A7"
	colVermillion = "#D55E00"
	colYellow     = "#F0E442"
)

// series is one bar per group in a chart.
type series struct {
	Name  string
	Color string
}

// chartSpec is what a chart shows; layout turns it into a chart.
type chartSpec struct {
	ID, Title, Desc string
	XTitle, YTitle  string
	Series          []series
	Groups          []string
	// Values[g][s] is group g's bar of series s; nil means no figure
	// (drawn as "n/a", not as a zero bar).
	Values [][]*Spread
	Log    bool                 // log10 y axis (latencies spanning decades)
	Label  func(float64) string // a value as written on its bar and axis
	// Suffix[g][s], if set, is appended to a bar's label ("?" when missed
	// may be an undercount).
	Suffix [][]string
	// Ref, if set, draws a dashed reference line at that value.
	Ref      *float64
	RefLabel string
	MinTop   float64 // the y axis reaches at least this far (linear axes)
	Integer  bool    // linear ticks on whole numbers (counts)
}

// chart is a laid-out chart, ready for the template.
type chart struct {
	ID, Title, Desc  string
	W, H             int
	PlotX0, PlotX1   float64
	PlotY0, PlotY1   float64 // top, bottom
	XTitle, YTitle   string
	XTitleX, XTitleY float64
	YTitleX, YTitleY float64
	Ticks            []tick
	Groups           []groupLabel
	Bars             []bar
	Legend           []legendItem
	Ref              *refLine
	Empty            string // shown instead of bars when there is nothing to draw
}

type tick struct {
	Y     float64
	Label string
}

type groupLabel struct {
	X     float64
	Label string
}

type bar struct {
	X, Y, W, H float64
	Color      string
	Label      string  // value written above the bar
	LabelX     float64 // centre of the bar
	LabelY     float64
	Title      string // tooltip and accessible name: series, group, value and spread
	Whisker    *whisker
}

// whisker is the min–max spread over runs, drawn across the bar.
type whisker struct {
	X, Y0, Y1, Cap0, Cap1 float64
}

type legendItem struct {
	X     float64
	Color string
	Label string
}

type refLine struct {
	Y     float64
	Label string
	// Its legend entry: a dashed stroke from LabelX to LineX1, then the
	// label at TextX.
	LabelX, LineX1, TextX float64
}

// layout places spec's bars, ticks, labels and legend.
func layout(spec chartSpec) chart {
	c := chart{
		ID: spec.ID, Title: spec.Title, Desc: spec.Desc,
		W: chartW, H: chartH,
		PlotX0: plotLeft, PlotX1: chartW - plotRight,
		PlotY0: plotTop, PlotY1: chartH - plotBottom,
		XTitle: spec.XTitle, YTitle: spec.YTitle,
	}
	c.XTitleX, c.XTitleY = (c.PlotX0+c.PlotX1)/2, chartH-10
	c.YTitleX, c.YTitleY = 16, (c.PlotY0+c.PlotY1)/2

	x := plotLeft + 4.0 // the legend's next entry
	for _, s := range spec.Series {
		c.Legend = append(c.Legend, legendItem{X: x, Color: s.Color, Label: s.Name})
		// Legend entries are spaced by their text: ~7 units a character at
		// the legend's font size, plus the swatch and a gap.
		x += 32 + 7*float64(len([]rune(s.Name)))
	}

	// The y range covers every bar and whisker, and the reference line.
	hi := spec.MinTop
	lo := math.Inf(1) // smallest positive value, for the log axis
	for _, g := range spec.Values {
		for _, v := range g {
			if v == nil {
				continue
			}
			hi = math.Max(hi, v.Max)
			for _, f := range []float64{v.Min, v.Median, v.Max} {
				if f > 0 {
					lo = math.Min(lo, f)
				}
			}
		}
	}
	if spec.Ref != nil {
		hi = math.Max(hi, *spec.Ref*1.1)
	}
	var y func(float64) float64
	plotH := c.PlotY1 - c.PlotY0
	if spec.Log {
		if math.IsInf(lo, 1) {
			lo, hi = 1, 10
		}
		d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if d1 <= d0 {
			d1 = d0 + 1
		}
		y = func(v float64) float64 {
			if v <= 0 {
				return c.PlotY1 // zero has no place on a log axis: draw no bar
			}
			return c.PlotY1 - (math.Log10(v)-d0)/(d1-d0)*plotH
		}
		for d := d0; d <= d1; d++ {
			v := math.Pow(10, d)
			c.Ticks = append(c.Ticks, tick{Y: y(v), Label: spec.Label(v)})
		}
	} else {
		step := niceStep(hi, spec.Integer)
		top := math.Ceil(hi/step) * step
		if top <= 0 {
			top = step
		}
		y = func(v float64) float64 { return c.PlotY1 - v/top*plotH }
		for i := 0; float64(i)*step <= top+step/1e9; i++ {
			v := float64(i) * step
			c.Ticks = append(c.Ticks, tick{Y: y(v), Label: spec.Label(v)})
		}
	}
	if spec.Ref != nil {
		// Drawn under the bars and named in the legend, after the series:
		// a label on the line itself would collide with bars near 1.0.
		c.Ref = &refLine{Y: y(*spec.Ref), Label: spec.RefLabel, LabelX: x, LineX1: x + 22, TextX: x + 28}
	}

	if len(spec.Groups) == 0 {
		c.Empty = "no strategy in this report"
		return c
	}
	groupW := (c.PlotX1 - c.PlotX0) / float64(len(spec.Groups))
	barW := groupW * groupFill / float64(len(spec.Series))
	for g, name := range spec.Groups {
		gx := c.PlotX0 + groupW*float64(g)
		c.Groups = append(c.Groups, groupLabel{X: gx + groupW/2, Label: name})
		x0 := gx + groupW*(1-groupFill)/2
		for s, ser := range spec.Series {
			b := bar{X: x0 + barW*float64(s), W: barW, Color: ser.Color}
			b.LabelX = b.X + barW/2
			v := spec.Values[g][s]
			if v == nil {
				b.Y, b.Label = c.PlotY1, "n/a"
				b.LabelY = c.PlotY1 - labelOffset
				b.Title = fmt.Sprintf("%s, %s: no figure", ser.Name, name)
				c.Bars = append(c.Bars, b)
				continue
			}
			b.Y = y(v.Median)
			b.H = c.PlotY1 - b.Y
			b.Label = spec.Label(v.Median)
			if spec.Suffix != nil {
				b.Label += spec.Suffix[g][s]
			}
			top := b.Y
			b.Title = fmt.Sprintf("%s, %s: %s", ser.Name, name, b.Label)
			if v.Min != v.Max {
				w := &whisker{X: b.LabelX, Y0: y(v.Min), Y1: y(v.Max), Cap0: b.LabelX - barW/4, Cap1: b.LabelX + barW/4}
				b.Whisker = w
				top = math.Min(top, w.Y1)
				b.Title += fmt.Sprintf(" (median; runs ranged %s–%s)", spec.Label(v.Min), spec.Label(v.Max))
			}
			b.LabelY = top - labelOffset
			c.Bars = append(c.Bars, b)
		}
	}
	return c
}

// niceStep is a tick step of 1, 2 or 5 × 10^n giving about five ticks up
// to hi; whole numbers only when integer is set.
func niceStep(hi float64, integer bool) float64 {
	if hi <= 0 {
		return 1
	}
	raw := hi / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	if integer && step < 1 {
		step = 1
	}
	return step
}

// durLabel writes nanoseconds in the unit that keeps it short on a bar:
// 850µs, 12ms, 1.5s.
func durLabel(ns float64) string {
	switch {
	case ns == 0:
		return "0"
	case ns < 1e3:
		return trim(ns, "ns")
	case ns < 1e6:
		return trim(ns/1e3, "µs")
	case ns < 1e9:
		return trim(ns/1e6, "ms")
	}
	return trim(ns/1e9, "s")
}

// trim prints v with three significant figures at most and no trailing
// zeros: 1.5, 12.3, 850.
func trim(v float64, unit string) string {
	prec := 2
	switch {
	case v >= 100:
		prec = 0
	case v >= 10:
		prec = 1
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + unit
}

// ratioLabel writes a ratio to the baseline: 0.98×.
func ratioLabel(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "×" }

// countLabel writes a count; a median of two runs may be a half.
func countLabel(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
