package plots

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Metric names in sweep files (docs/results.md).
const (
	MetricDelivery = "delivery_ratio"
	// MetricOnTime is the share of pushes delivered within the on-time
	// deadline; the sweep figures prefer it to MetricDelivery.
	MetricOnTime = "ontime_ratio"
	// MetricOnTimeS is the on-time deadline in seconds.
	MetricOnTimeS = "on_time_s"
	MetricEnergy  = "energy_j_per_device_day"
	MetricLatency = "latency_p50_s"
)

// DefaultKneeTolerance is the knee's tolerance on the ratio: one
// percentage point below the best.
const DefaultKneeTolerance = 0.01

// DefaultTarget is the on-time (or delivery) ratio a keep-alive interval
// must reach on every series to be an operating point, and a heat map
// cell to count as surviving.
const DefaultTarget = 0.99

// Knee returns the index of the knee of a trade-off curve: starting from
// the interval with the best ratio (the shortest one if several tie),
// walk towards longer intervals; the knee is the longest interval reached
// before the first point whose ratio falls more than tol below the best.
// Points must be sorted by x; NaN ratios are skipped. It returns -1 when
// no ratio is a number.
//
// "Stays within tolerance" rather than "any point within tolerance": a
// long interval that is lucky in a noisy replicate after the curve has
// already fallen does not move the knee.
func Knee(x, ratio []float64, tol float64) int {
	best, bi := math.Inf(-1), -1
	for i, d := range ratio {
		if finite(d) && d > best {
			best, bi = d, i
		}
	}
	if bi < 0 {
		return -1
	}
	knee := bi
	for i := bi + 1; i < len(x) && i < len(ratio); i++ {
		if !finite(ratio[i]) {
			continue
		}
		if ratio[i] < best-tol {
			break
		}
		knee = i
	}
	return knee
}

// Curve is one series of the trade-off figure: the on-time (or delivery)
// ratio and energy against keep-alive interval, with 95% confidence
// intervals.
type Curve struct {
	// Label names the series: the values of the series parameters and the
	// group.
	Label string
	// X are the keep-alive intervals in seconds, ascending.
	X []float64
	// Ratio is the mean of the curve's ratio metric (RatioMetric's) at
	// each X, with its 95% confidence interval (NaN when the sweep has no
	// value).
	Ratio, RatioLo, RatioHi []float64
	// Energy in joules per device-day, mean and 95% confidence interval.
	Energy, EnergyLo, EnergyHi []float64
	// Knee is the index of the curve's knee (see Knee), -1 if none.
	Knee int
}

// RatioMetric returns the ratio the sweep figures judge a point by:
// MetricOnTime when the sweep has it, else MetricDelivery (results
// written before the on-time metric existed), and the on-time deadline in
// seconds when the sweep records one value for it (NaN otherwise).
func RatioMetric(s *SweepSummary) (metric string, deadlineS float64) {
	metric, deadlineS = MetricDelivery, nan
	seen := false
	for _, r := range s.Rows {
		switch r.Metric {
		case MetricOnTime:
			metric = MetricOnTime
		case MetricOnTimeS:
			if !finite(r.Mean) {
				continue
			}
			if !seen {
				deadlineS, seen = r.Mean, true
			} else if r.Mean != deadlineS {
				deadlineS = nan // the deadline varies: no single value to print
			}
		}
	}
	if metric != MetricOnTime {
		deadlineS = nan
	}
	return metric, deadlineS
}

// ratioTitle is the axis title of a ratio metric, with the deadline.
func ratioTitle(metric string, deadlineS float64) string {
	if metric != MetricOnTime {
		return metricTitle(metric)
	}
	if finite(deadlineS) {
		return "on-time ratio (≤ " + fmtNum(deadlineS) + " s)"
	}
	return "on-time ratio (within deadline)"
}

// Curves groups a sweep summary into trade-off curves: one per
// combination of the series parameters' values and group, x along
// axes.X, the ratio being RatioMetric's. Rows of the heat map's y
// parameter are series too, so a sweep of interval x timeout gives one
// curve per timeout.
func Curves(s *SweepSummary, axes SweepAxes, tol float64) ([]Curve, error) {
	xi := slices.Index(s.Params, axes.X)
	if xi < 0 {
		return nil, fmt.Errorf("plots: trade-off: sweep has no parameter %q (have %s)", axes.X, strings.Join(s.Params, ", "))
	}
	metric, _ := RatioMetric(s)
	groups := map[string]bool{}
	for _, r := range s.Rows {
		groups[r.Group] = true
	}
	type pt struct{ d, dlo, dhi, e, elo, ehi float64 }
	type series struct {
		label string
		pts   map[float64]*pt
	}
	var order []string
	byLabel := map[string]*series{}
	for _, r := range s.Rows {
		if r.Metric != metric && r.Metric != MetricEnergy {
			continue
		}
		x, err := parseParam(axes.X, r.Params[xi])
		if err != nil {
			return nil, fmt.Errorf("%w (point %d)", err, r.Point)
		}
		var parts []string
		for i, p := range s.Params {
			if i != xi {
				parts = append(parts, shortParam(p)+"="+r.Params[i])
			}
		}
		if len(groups) > 1 || len(parts) == 0 {
			parts = append(parts, r.Group)
		}
		label := strings.Join(parts, " ")
		se := byLabel[label]
		if se == nil {
			se = &series{label: label, pts: map[float64]*pt{}}
			byLabel[label] = se
			order = append(order, label)
		}
		p := se.pts[x]
		if p == nil {
			p = &pt{nan, nan, nan, nan, nan, nan}
			se.pts[x] = p
		}
		if r.Metric == metric {
			p.d, p.dlo, p.dhi = r.Mean, r.Lo, r.Hi
		} else {
			p.e, p.elo, p.ehi = r.Mean, r.Lo, r.Hi
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("plots: trade-off: sweep has no %s or %s rows", metric, MetricEnergy)
	}
	slices.SortStableFunc(order, func(a, b string) int { return naturalCmp(a, b) })
	curves := make([]Curve, 0, len(order))
	for _, l := range order {
		se := byLabel[l]
		c := Curve{Label: l}
		for x := range se.pts {
			c.X = append(c.X, x)
		}
		slices.Sort(c.X)
		for _, x := range c.X {
			p := se.pts[x]
			c.Ratio = append(c.Ratio, p.d)
			c.RatioLo = append(c.RatioLo, p.dlo)
			c.RatioHi = append(c.RatioHi, p.dhi)
			c.Energy = append(c.Energy, p.e)
			c.EnergyLo = append(c.EnergyLo, p.elo)
			c.EnergyHi = append(c.EnergyHi, p.ehi)
		}
		c.Knee = Knee(c.X, c.Ratio, tol)
		curves = append(curves, c)
	}
	return curves, nil
}

// Operating is the operating point of a trade-off: the longest keep-alive
// interval at which every series (every NAT population, every group)
// meets the target ratio.
type Operating struct {
	// X is the interval in seconds.
	X float64
	// Worst is the lowest mean ratio over the series at X, and WorstLabel
	// the series it belongs to.
	Worst      float64
	WorstLabel string
	// EnergyMin and EnergyMax bound the series' mean energy per
	// device-day at X (NaN when no series has energy there).
	EnergyMin, EnergyMax float64
}

// OperatingPoint returns the interval to run at: among the intervals at
// which every curve's mean ratio is at least target, the one whose
// worst-case energy (the most expensive series there) is lowest, ties
// going to the longer interval. ok is false when no interval qualifies.
// A curve without a value at an interval does not meet the target there:
// an operating point must hold for the whole population, so it is never
// chosen from a subset of it. Energy decides, not the interval's length,
// because a keep-alive just longer than a NAT's timeout can still meet an
// on-time target (each keep-alive fails and the device reconnects within
// the deadline) while costing far more than a shorter interval. Without
// energy data the longest qualifying interval is chosen.
func OperatingPoint(curves []Curve, target float64) (op Operating, ok bool) {
	xs := map[float64]bool{}
	for _, c := range curves {
		for _, x := range c.X {
			xs[x] = true
		}
	}
	cand := make([]float64, 0, len(xs))
	for x := range xs {
		cand = append(cand, x)
	}
	slices.Sort(cand)
	best := Operating{X: nan, Worst: nan, EnergyMin: nan, EnergyMax: nan}
	for i := len(cand) - 1; i >= 0 && len(curves) > 0; i-- {
		x := cand[i]
		o := Operating{X: x, Worst: math.Inf(1), EnergyMin: math.Inf(1), EnergyMax: math.Inf(-1)}
		holds := true
		for _, c := range curves {
			j, found := slices.BinarySearch(c.X, x)
			if !found || !finite(c.Ratio[j]) || c.Ratio[j] < target {
				holds = false
				break
			}
			if c.Ratio[j] < o.Worst {
				o.Worst, o.WorstLabel = c.Ratio[j], c.Label
			}
			if e := c.Energy[j]; finite(e) {
				o.EnergyMin, o.EnergyMax = min(o.EnergyMin, e), max(o.EnergyMax, e)
			}
		}
		if !holds {
			continue
		}
		if !finite(o.EnergyMin) {
			o.EnergyMin, o.EnergyMax = nan, nan
		}
		switch {
		case !ok:
			best, ok = o, true
		case finite(o.EnergyMax) && (!finite(best.EnergyMax) || o.EnergyMax < best.EnergyMax):
			best = o
		}
	}
	return best, ok
}

// TradeOffOptions configures TradeOff.
type TradeOffOptions struct {
	// Axes assigns the sweep's parameters; zero means PickAxes.
	Axes SweepAxes
	// Tolerance is the knee's tolerance on the ratio; zero means
	// DefaultKneeTolerance.
	Tolerance float64
	// Target is the ratio every series must reach at the operating point;
	// zero means DefaultTarget.
	Target float64
	// OperatingS is the chosen operating interval in seconds, marked on
	// both panels; zero means OperatingPoint's choice.
	OperatingS float64
}

// TradeOff draws the trade-off figure of a sweep: on-time ratio (delivery
// ratio for results without it) on top and energy per device-day below,
// against keep-alive interval, one line per series with its 95%
// confidence band, each curve's knee ringed, the target as a dotted line,
// and the operating point (the longest interval where every series meets
// the target) marked by a vertical line and annotated with its worst
// ratio and energy.
func TradeOff(s *SweepSummary, o TradeOffOptions) (*Figure, error) {
	if o.Axes.X == "" {
		a, err := PickAxes(s.Params)
		if err != nil {
			return nil, err
		}
		o.Axes = a
	}
	if o.Tolerance <= 0 {
		o.Tolerance = DefaultKneeTolerance
	}
	if o.Target <= 0 {
		o.Target = DefaultTarget
	}
	curves, err := Curves(s, o.Axes, o.Tolerance)
	if err != nil {
		return nil, err
	}
	metric, deadline := RatioMetric(s)
	top := newPlot("Keep-alive trade-off", "", ratioTitle(metric, deadline))
	bot := newPlot("", "keep-alive interval (s)", "energy (J per device-day)")
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for _, c := range curves {
		xmin, xmax = min(xmin, c.X[0]), max(xmax, c.X[len(c.X)-1])
	}
	logX := xmin > 0 && xmax/xmin >= 10
	leg := newSideLegend()
	ringStyle := draw.GlyphStyle{Color: colBlack, Radius: vg.Points(5), Shape: draw.RingGlyph{}}
	for i, c := range curves {
		ls, gs := seriesStyle(i)
		for pi, pl := range []struct {
			p         *plot.Plot
			y, lo, hi []float64
		}{{top, c.Ratio, c.RatioLo, c.RatioHi}, {bot, c.Energy, c.EnergyLo, c.EnergyHi}} {
			line, band := xyLine(c.X, pl.y, pl.lo, pl.hi)
			if len(line) == 0 {
				continue
			}
			if len(band) > 2 {
				poly, err := plotter.NewPolygon(band)
				if err != nil {
					return nil, fmt.Errorf("plots: trade-off %s: %w", c.Label, err)
				}
				poly.Color = withAlpha(ls.Color, 0.18)
				poly.LineStyle.Width = 0
				pl.p.Add(poly)
			}
			lp, sp, err := plotter.NewLinePoints(line)
			if err != nil {
				return nil, fmt.Errorf("plots: trade-off %s: %w", c.Label, err)
			}
			lp.LineStyle, sp.GlyphStyle = ls, gs
			pl.p.Add(lp, sp)
			if pi == 0 {
				leg.add(c.Label, lp, sp)
			}
			if k := c.Knee; k >= 0 && finite(pl.y[k]) {
				m := marks{X: []float64{c.X[k]}, Y: []float64{pl.y[k]}, Glyph: ringStyle}
				pl.p.Add(m)
			}
		}
	}
	leg.add("knee (±"+fmtNum(o.Tolerance)+" of best)", ringThumb{ringStyle})
	var notes []any
	ts := draw.LineStyle{Color: colGrey, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(1), vg.Points(2)}}
	tl := hLine{Y: o.Target, Style: ts}
	top.Add(tl)
	notes = append(notes, tl)
	leg.add("target "+fmtNum(o.Target), hLineThumb{ts})
	vs := draw.LineStyle{Color: colBlack, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(2)}}
	if o.OperatingS > 0 {
		top.Add(vLine{X: o.OperatingS, Style: vs, Label: "chosen interval " + fmtNum(o.OperatingS) + " s", Text: smallText(colBlack), Low: true})
		bot.Add(vLine{X: o.OperatingS, Style: vs})
	} else if op, ok := OperatingPoint(curves, o.Target); ok {
		short := "on-time"
		if metric != MetricOnTime {
			short = "delivery"
		}
		label := fmt.Sprintf("operating point %s s: %s ≥ %s on all %d series (worst %.4g)",
			fmtNum(op.X), short, fmtNum(o.Target), len(curves), op.Worst)
		ol := vLine{X: op.X, Style: vs, Label: label, Text: smallText(colBlack), Low: true}
		top.Add(ol)
		notes = append(notes, ol, op)
		elabel := ""
		if finite(op.EnergyMax) {
			elabel = "energy " + fmtEnergy(op.EnergyMin) + "–" + fmtEnergy(op.EnergyMax) + " J/device-day over the series"
			if op.EnergyMin == op.EnergyMax {
				elabel = "energy " + fmtEnergy(op.EnergyMax) + " J/device-day"
			}
		}
		bot.Add(vLine{X: op.X, Style: vs, Label: elabel, Text: smallText(colBlack), Low: true})
		leg.add("operating point", vLineThumb{vs})
	} else {
		leg.add("no operating point: no interval", blankThumb{})
		leg.add("meets "+fmtNum(o.Target)+" on every series", blankThumb{})
	}
	for _, p := range []*plot.Plot{top, bot} {
		p.X.Min, p.X.Max = xmin, xmax
		if logX {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = secondTicks{}
		} else {
			pad := (xmax - xmin) * 0.03
			p.X.Min, p.X.Max = xmin-pad, xmax+pad
		}
		p.Add(plotter.NewGrid())
	}
	top.X.Tick.Label.Color = transparent
	top.Y.Max = math.Min(math.Max(top.Y.Max, 1), 1.0)
	if bot.Y.Min > 0 {
		bot.Y.Min = 0
	}
	return &Figure{Name: "tradeoff", Panels: []*plot.Plot{top, bot}, legend: leg, sideW: leg.width(), Height: 14 * vg.Centimeter, notes: notes}, nil
}

// blankThumb is an empty legend thumbnail, for a legend line of text.
type blankThumb struct{}

func (blankThumb) Thumbnail(*draw.Canvas) {}

// hLineThumb draws a horizontal line style as a legend thumbnail.
type hLineThumb struct{ s draw.LineStyle }

func (h hLineThumb) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(h.s, c.Min.X, y, c.Max.X, y)
}

// vLineThumb draws a vertical line style as a legend thumbnail.
type vLineThumb struct{ s draw.LineStyle }

func (v vLineThumb) Thumbnail(c *draw.Canvas) {
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(v.s, x, c.Min.Y, x, c.Max.Y)
}

// ringThumb draws a glyph as a legend thumbnail.
type ringThumb struct{ s draw.GlyphStyle }

func (r ringThumb) Thumbnail(c *draw.Canvas) { c.DrawGlyph(r.s, c.Center()) }

// xyLine returns the finite points of a series and, when the confidence
// bounds are finite, the band polygon (lower edge forwards, upper edge
// backwards).
func xyLine(x, y, lo, hi []float64) (line plotter.XYs, band plotter.XYs) {
	var upper plotter.XYs
	for i := range x {
		if !finite(y[i]) {
			continue
		}
		line = append(line, plotter.XY{X: x[i], Y: y[i]})
		if finite(lo[i]) && finite(hi[i]) {
			band = append(band, plotter.XY{X: x[i], Y: lo[i]})
			upper = append(upper, plotter.XY{X: x[i], Y: hi[i]})
		}
	}
	for i := len(upper) - 1; i >= 0; i-- {
		band = append(band, upper[i])
	}
	return line, band
}

// shortParam returns the last element of a parameter path; a group's
// transport.name is "transport", so a sweep over it labels its curves
// transport=tcp and transport=quic.
func shortParam(p string) string {
	if strings.HasSuffix(p, ".transport.name") {
		return "transport"
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// naturalCmp orders labels so that numbers inside them sort by value
// ("timeout=60" before "timeout=300").
func naturalCmp(a, b string) int {
	for a != "" && b != "" {
		na, ra := leadingNumber(a)
		nb, rb := leadingNumber(b)
		if ra != a && rb != b {
			if c := cmp.Compare(na, nb); c != 0 {
				return c
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func leadingNumber(s string) (float64, string) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, s
	}
	var v float64
	if _, err := fmt.Sscan(s[:i], &v); err != nil {
		return 0, s
	}
	return v, s[i:]
}

// fmtNum formats a number briefly: no trailing zeros, at most 4
// significant digits.
func fmtNum(v float64) string {
	return fmt.Sprintf("%.4g", v)
}

// fmtEnergy formats joules without an exponent: 3 significant digits,
// whole joules from 1000 up.
func fmtEnergy(v float64) string {
	if math.Abs(v) >= 1000 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// sideLegend is a legend drawn in a figure's side strip; it remembers its
// labels to size the strip.
type sideLegend struct {
	plot.Legend
	labels []string
}

func newSideLegend() *sideLegend {
	l := &sideLegend{Legend: plot.NewLegend()}
	l.TextStyle = smallText(colBlack)
	l.Top, l.Left = true, true
	return l
}

func (l *sideLegend) add(name string, th ...plot.Thumbnailer) {
	for i, t := range th {
		th[i] = inset{t}
	}
	l.Add(name, th...)
	l.labels = append(l.labels, name)
}

// width estimates the side strip the legend needs.
func (l *sideLegend) width() vg.Length {
	var w vg.Length
	for _, e := range l.labels {
		w = max(w, l.TextStyle.Width(e))
	}
	return min(w+l.ThumbnailWidth+3*vg.Millimeter, 6*vg.Centimeter)
}

// inset draws a legend thumbnail a little narrower than its slot, so the
// label does not touch it.
type inset struct{ plot.Thumbnailer }

func (t inset) Thumbnail(c *draw.Canvas) {
	d := *c
	d.Max.X -= vg.Points(4)
	t.Thumbnailer.Thumbnail(&d)
}
