package plots

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// DefaultSurvivalThreshold is the on-time (or delivery) ratio at or above
// which a heat map cell counts as "the connection survives" and is
// outlined: DefaultTarget, so a surviving cell is one that meets the
// trade-off's target.
const DefaultSurvivalThreshold = DefaultTarget

// HeatMapOptions configures HeatGrids and HeatMap.
type HeatMapOptions struct {
	// Axes assigns the sweep's parameters; zero means PickAxes. Axes.Y must
	// name a parameter.
	Axes SweepAxes
	// Metric is the cell colour: "" means the survival ratio (MetricOnTime
	// when the sweep has it, else MetricDelivery), or any metric of the
	// sweep, e.g. latency_p50_s.
	Metric string
	// Threshold is the survival threshold on the survival ratio; zero
	// means DefaultSurvivalThreshold.
	Threshold float64
}

func (o *HeatMapOptions) defaults(s *SweepSummary) error {
	params := s.Params
	if o.Axes.X == "" {
		a, err := PickAxes(params)
		if err != nil {
			return err
		}
		o.Axes = a
	}
	if o.Axes.Y == "" {
		return fmt.Errorf("plots: heat map: no swept parameter names a NAT timeout (want a path containing \"timeout\" or \"established\"; have %s)", strings.Join(params, ", "))
	}
	if o.Metric == "" {
		o.Metric, _ = RatioMetric(s)
	}
	if o.Threshold <= 0 {
		o.Threshold = DefaultSurvivalThreshold
	}
	return nil
}

// Grid is one heat map's data: the mean of a metric and of the survival
// ratio on the keep-alive interval x NAT timeout grid. Missing cells are
// NaN.
type Grid struct {
	// Label names the series (other parameters, group) the grid is for.
	Label string
	// Metric is the colour's metric.
	Metric string
	// SurviveMetric is the ratio that decides survival: MetricOnTime, or
	// MetricDelivery for sweeps written before it existed.
	SurviveMetric string
	// DeadlineS is the on-time deadline in seconds (NaN when unknown or
	// not one value).
	DeadlineS float64
	// X are the keep-alive intervals and Y the NAT timeouts, in seconds,
	// ascending.
	X, Y []float64
	// Z[i][j] is the metric's mean at X[i], Y[j]; Survive[i][j] the
	// survival ratio's.
	Z, Survive [][]float64
}

// HeatGrids builds one Grid per combination of the series parameters'
// values and group.
func HeatGrids(s *SweepSummary, o HeatMapOptions) ([]Grid, error) {
	if err := o.defaults(s); err != nil {
		return nil, err
	}
	surv, deadline := RatioMetric(s)
	xi, yi := slices.Index(s.Params, o.Axes.X), slices.Index(s.Params, o.Axes.Y)
	if xi < 0 || yi < 0 {
		return nil, fmt.Errorf("plots: heat map: sweep lacks %q or %q (have %s)", o.Axes.X, o.Axes.Y, strings.Join(s.Params, ", "))
	}
	type cell struct{ x, y float64 }
	type acc struct {
		z, d   map[cell]float64
		xs, ys map[float64]bool
	}
	var order []string
	accs := map[string]*acc{}
	for _, r := range s.Rows {
		if r.Metric != o.Metric && r.Metric != surv {
			continue
		}
		x, err := parseParam(o.Axes.X, r.Params[xi])
		if err != nil {
			return nil, err
		}
		y, err := parseParam(o.Axes.Y, r.Params[yi])
		if err != nil {
			return nil, err
		}
		var parts []string
		for i, p := range s.Params {
			if i != xi && i != yi {
				parts = append(parts, shortParam(p)+"="+r.Params[i])
			}
		}
		parts = append(parts, r.Group)
		l := strings.Join(parts, " ")
		a := accs[l]
		if a == nil {
			a = &acc{map[cell]float64{}, map[cell]float64{}, map[float64]bool{}, map[float64]bool{}}
			accs[l] = a
			order = append(order, l)
		}
		a.xs[x], a.ys[y] = true, true
		if r.Metric == o.Metric {
			a.z[cell{x, y}] = r.Mean
		}
		if r.Metric == surv {
			a.d[cell{x, y}] = r.Mean
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("plots: heat map: sweep has no %s rows", o.Metric)
	}
	slices.SortStableFunc(order, naturalCmp)
	var grids []Grid
	for _, l := range order {
		a := accs[l]
		g := Grid{Label: l, Metric: o.Metric, SurviveMetric: surv, DeadlineS: deadline}
		for x := range a.xs {
			g.X = append(g.X, x)
		}
		for y := range a.ys {
			g.Y = append(g.Y, y)
		}
		slices.Sort(g.X)
		slices.Sort(g.Y)
		g.Z = make([][]float64, len(g.X))
		g.Survive = make([][]float64, len(g.X))
		for i, x := range g.X {
			g.Z[i] = make([]float64, len(g.Y))
			g.Survive[i] = make([]float64, len(g.Y))
			for j, y := range g.Y {
				g.Z[i][j], g.Survive[i][j] = nan, nan
				if v, ok := a.z[cell{x, y}]; ok {
					g.Z[i][j] = v
				}
				if v, ok := a.d[cell{x, y}]; ok {
					g.Survive[i][j] = v
				}
			}
		}
		grids = append(grids, g)
	}
	return grids, nil
}

// gridXYZ presents a Grid to gonum's heat map in index coordinates, so
// cells are equally wide however the swept values are spaced; the axes
// carry the real values as tick labels.
type gridXYZ struct{ g *Grid }

func (g gridXYZ) Dims() (c, r int)   { return len(g.g.X), len(g.g.Y) }
func (g gridXYZ) Z(c, r int) float64 { return g.g.Z[c][r] }
func (g gridXYZ) X(c int) float64    { return float64(c) }
func (g gridXYZ) Y(r int) float64    { return float64(r) }
func (g gridXYZ) zRange() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, col := range g.g.Z {
		for _, v := range col {
			if finite(v) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	return lo, hi
}

// heatLevels is the number of colours of the heat map palette.
const heatLevels = 64

// heatColorMap returns the colour map of a grid: Moreland's black body
// (black, red, yellow, white), whose CIELAB lightness rises monotonically
// from 0 to 100 with steps of nearly even size, also for deuteranopes, so
// it reads in greyscale and for colour-blind readers (docs/plots.md;
// TestHeatPaletteUniform). Ratios span [0, 1]; other metrics their data.
func heatColorMap(g *Grid) palette.ColorMap {
	cm := moreland.BlackBody()
	lo, hi := 0.0, 1.0
	if g.Metric != MetricDelivery && g.Metric != MetricOnTime {
		lo, hi = gridXYZ{g}.zRange()
		if !finite(lo) {
			lo, hi = 0, 1
		}
		if hi == lo {
			lo, hi = lo-0.5, hi+0.5
		}
	}
	cm.SetMin(lo)
	cm.SetMax(hi)
	return cm
}

// cellColor is the colour the heat map gives value v under cm, computed
// the way gonum's HeatMap does.
func cellColor(cm palette.ColorMap, v float64) color.Color {
	pal := cm.Palette(heatLevels).Colors()
	ps := float64(len(pal)-1) / (cm.Max() - cm.Min())
	return pal[int((v-cm.Min())*ps+0.5)]
}

// HeatMap draws one grid: keep-alive interval across, NAT timeout up, the
// metric as colour with a colour bar, and the cells where the connection
// survives (on-time ratio, or delivery ratio for older results, >=
// threshold) outlined.
func HeatMap(g Grid, o HeatMapOptions) (*Figure, error) {
	if o.Threshold <= 0 {
		o.Threshold = DefaultSurvivalThreshold
	}
	if len(g.X) == 0 || len(g.Y) == 0 {
		return nil, fmt.Errorf("plots: heat map %s: empty grid", g.Label)
	}
	cm := heatColorMap(&g)
	title := "Survival: " + gridTitle(&g, g.Metric)
	if g.Label != "" {
		title += ", " + g.Label
	}
	survive := g.SurviveMetric
	if survive == "" {
		survive = MetricDelivery
	}
	title += "\noutlined: " + shortRatio(survive) + " ≥ " + fmtNum(o.Threshold)
	p := newPlot(title, "keep-alive interval (s)", "NAT idle timeout (s)")
	h := plotter.NewHeatMap(gridXYZ{&g}, cm.Palette(heatLevels))
	h.Min, h.Max = cm.Min(), cm.Max()
	h.NaN = color.RGBA{0xd0, 0xd0, 0xd0, 0xff}
	p.Add(h)
	alive := survivors(&g, o.Threshold)
	p.Add(rects{R: alive, Line: draw.LineStyle{Color: colBlack, Width: vg.Points(2)}},
		rects{R: alive, Line: draw.LineStyle{Color: color.White, Width: vg.Points(0.7)}})
	p.X.Tick.Marker = indexTicks(g.X)
	p.Y.Tick.Marker = indexTicks(g.Y)
	p.X.Min, p.X.Max = -0.5, float64(len(g.X))-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(len(g.Y))-0.5
	p.X.Padding, p.Y.Padding = 0, 0

	bar := newPlot("", "", gridTitle(&g, g.Metric))
	bar.Add(&plotter.ColorBar{ColorMap: cm, Vertical: true, Colors: heatLevels})
	bar.HideX()
	bar.Y.Padding = 0
	name := "heatmap"
	if g.Label != "" {
		name += "-" + slug(g.Label)
	}
	return &Figure{Name: name, Panels: []*plot.Plot{p}, side: bar, sideW: 2.2 * vg.Centimeter, Height: 11 * vg.Centimeter}, nil
}

// gridTitle is the title of a grid metric, with the deadline for the
// on-time ratio.
func gridTitle(g *Grid, m string) string {
	if m == MetricOnTime {
		return ratioTitle(m, g.DeadlineS)
	}
	return metricTitle(m)
}

// shortRatio names a ratio metric in running text.
func shortRatio(m string) string {
	if m == MetricOnTime {
		return "on-time ratio"
	}
	return metricTitle(m)
}

// indexTicks labels index coordinates with the values they stand for,
// thinning labels when there are many.
func indexTicks(vals []float64) plot.ConstantTicks {
	step := (len(vals) + 11) / 12
	ts := make(plot.ConstantTicks, len(vals))
	for i, v := range vals {
		ts[i] = plot.Tick{Value: float64(i)}
		if i%step == 0 {
			ts[i].Label = fmtNum(v)
		}
	}
	return ts
}

// metricTitle returns an axis title with unit for a metric column name.
func metricTitle(m string) string {
	switch m {
	case MetricDelivery:
		return "delivery ratio"
	case MetricOnTime:
		return "on-time ratio"
	case MetricEnergy:
		return "energy (J per device-day)"
	case "latency_p50_s":
		return "median push latency (s)"
	case "latency_p99_s":
		return "p99 push latency (s)"
	case "keepalives_per_device_hour":
		return "keep-alives per device-hour"
	case "reconnects_per_device_day":
		return "reconnects per device-day"
	case "mean_interval_s":
		return "mean keep-alive interval (s)"
	}
	return m
}

// slug turns a label into a file-name part.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		case r == '=' || r == ' ' || r == '_' || r == '/':
			b.WriteByte('_')
		}
	}
	return b.String()
}

// survivors returns the cells, in index coordinates, whose survival ratio
// is at least threshold: where the connection survives.
func survivors(g *Grid, threshold float64) []rect {
	var alive []rect
	for i := range g.X {
		for j := range g.Y {
			if d := g.Survive[i][j]; finite(d) && d >= threshold {
				fi, fj := float64(i), float64(j)
				alive = append(alive, rect{fi - 0.5, fi + 0.5, fj - 0.5, fj + 0.5})
			}
		}
	}
	return alive
}
