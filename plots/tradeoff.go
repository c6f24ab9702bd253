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
	MetricEnergy   = "energy_j_per_device_day"
	MetricLatency  = "latency_p50_s"
)

// DefaultKneeTolerance is the knee's tolerance on delivery ratio: one
// percentage point below the best.
const DefaultKneeTolerance = 0.01

// Knee returns the index of the knee of a trade-off curve: starting from
// the interval with the best delivery ratio (the shortest one if several
// tie), walk towards longer intervals; the knee is the longest interval
// reached before the first point whose delivery ratio falls more than tol
// below the best. Points must be sorted by x; NaN ratios are skipped. It
// returns -1 when no ratio is a number.
//
// "Stays within tolerance" rather than "any point within tolerance": a
// long interval that is lucky in a noisy replicate after the curve has
// already fallen does not move the knee.
func Knee(x, delivery []float64, tol float64) int {
	best, bi := math.Inf(-1), -1
	for i, d := range delivery {
		if finite(d) && d > best {
			best, bi = d, i
		}
	}
	if bi < 0 {
		return -1
	}
	knee := bi
	for i := bi + 1; i < len(x) && i < len(delivery); i++ {
		if !finite(delivery[i]) {
			continue
		}
		if delivery[i] < best-tol {
			break
		}
		knee = i
	}
	return knee
}

// Curve is one series of the trade-off figure: delivery ratio and energy
// against keep-alive interval, with 95% confidence intervals.
type Curve struct {
	// Label names the series: the values of the series parameters and the
	// group.
	Label string
	// X are the keep-alive intervals in seconds, ascending.
	X []float64
	// Delivery ratio mean and 95% confidence interval at each X (NaN when
	// the sweep has no value).
	Delivery, DeliveryLo, DeliveryHi []float64
	// Energy in joules per device-day, mean and 95% confidence interval.
	Energy, EnergyLo, EnergyHi []float64
	// Knee is the index of the curve's knee (see Knee), -1 if none.
	Knee int
}

// Curves groups a sweep summary into trade-off curves: one per
// combination of the series parameters' values and group, x along
// axes.X. Rows of the heat map's y parameter are series too, so a sweep
// of interval x timeout gives one curve per timeout.
func Curves(s *SweepSummary, axes SweepAxes, tol float64) ([]Curve, error) {
	xi := slices.Index(s.Params, axes.X)
	if xi < 0 {
		return nil, fmt.Errorf("plots: trade-off: sweep has no parameter %q (have %s)", axes.X, strings.Join(s.Params, ", "))
	}
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
		if r.Metric != MetricDelivery && r.Metric != MetricEnergy {
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
		if r.Metric == MetricDelivery {
			p.d, p.dlo, p.dhi = r.Mean, r.Lo, r.Hi
		} else {
			p.e, p.elo, p.ehi = r.Mean, r.Lo, r.Hi
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("plots: trade-off: sweep has no %s or %s rows", MetricDelivery, MetricEnergy)
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
			c.Delivery = append(c.Delivery, p.d)
			c.DeliveryLo = append(c.DeliveryLo, p.dlo)
			c.DeliveryHi = append(c.DeliveryHi, p.dhi)
			c.Energy = append(c.Energy, p.e)
			c.EnergyLo = append(c.EnergyLo, p.elo)
			c.EnergyHi = append(c.EnergyHi, p.ehi)
		}
		c.Knee = Knee(c.X, c.Delivery, tol)
		curves = append(curves, c)
	}
	return curves, nil
}

// OperatingPoint picks the operating point among the curves' knees: the
// knee with the lowest mean energy per device-day (ties: the longer
// interval, then the first curve). It returns the curve's index and the
// point's index, or -1, -1 when no curve has a knee.
func OperatingPoint(curves []Curve) (curve, point int) {
	curve, point = -1, -1
	best := math.Inf(1)
	for ci, c := range curves {
		k := c.Knee
		if k < 0 {
			continue
		}
		e := c.Energy[k]
		if !finite(e) {
			e = math.Inf(1) // a knee without energy still beats no knee
		}
		if curve < 0 || e < best || (e == best && c.X[k] > curves[curve].X[point]) {
			curve, point, best = ci, k, e
		}
	}
	return curve, point
}

// TradeOffOptions configures TradeOff.
type TradeOffOptions struct {
	// Axes assigns the sweep's parameters; zero means PickAxes.
	Axes SweepAxes
	// Tolerance is the knee's tolerance on delivery ratio; zero means
	// DefaultKneeTolerance.
	Tolerance float64
	// OperatingS is the chosen operating interval in seconds, marked on
	// both panels; zero means OperatingPoint's choice.
	OperatingS float64
}

// TradeOff draws the trade-off figure of a sweep: delivery ratio (top) and
// energy per device-day (bottom) against keep-alive interval, one line per
// series with its 95% confidence band, each curve's knee ringed and the
// operating point marked by a vertical line.
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
	curves, err := Curves(s, o.Axes, o.Tolerance)
	if err != nil {
		return nil, err
	}
	top := newPlot("Keep-alive trade-off", "", "delivery ratio")
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
		}{{top, c.Delivery, c.DeliveryLo, c.DeliveryHi}, {bot, c.Energy, c.EnergyLo, c.EnergyHi}} {
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
	op := o.OperatingS
	if op == 0 {
		if ci, pi := OperatingPoint(curves); ci >= 0 {
			op = curves[ci].X[pi]
		}
	}
	if op > 0 {
		vs := draw.LineStyle{Color: colBlack, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(2)}}
		top.Add(vLine{X: op, Style: vs, Label: "operating point " + fmtNum(op) + " s", Text: smallText(colBlack), Low: true})
		bot.Add(vLine{X: op, Style: vs})
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
	return &Figure{Name: "tradeoff", Panels: []*plot.Plot{top, bot}, legend: leg, sideW: leg.width(), Height: 14 * vg.Centimeter}, nil
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

// shortParam returns the last element of a parameter path.
func shortParam(p string) string {
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
