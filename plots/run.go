package plots

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// maxLinePoints bounds the points of one drawn line; longer series are
// decimated (see decimate).
const maxLinePoints = 2000

// LatencyCDF draws each group's push latency CDF (log x) from the
// summary's latency_cdf points, with its p50 and p99 marked and labelled.
// Groups with no latency points are left out; it fails when none has any.
func LatencyCDF(groups []GroupSummary) (*Figure, error) {
	p := newPlot("Push latency CDF", "push latency (s)", "fraction of pushes delivered")
	leg := newSideLegend()
	var notes []any
	xmin, xmax := math.Inf(1), math.Inf(-1)
	n := 0
	for i, g := range groups {
		var xys plotter.XYs
		for _, pt := range g.LatencyCDF {
			if len(pt) == 2 && pt[0] > 0 && finite(pt[0]) && finite(pt[1]) {
				xys = append(xys, plotter.XY{X: pt[0], Y: pt[1]})
			}
		}
		if len(xys) == 0 {
			continue
		}
		n++
		xys = decimate(xys, maxLinePoints)
		ls, gs := seriesStyle(i)
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("plots: latency CDF %s: %w", g.Name, err)
		}
		l.LineStyle = ls
		l.StepStyle = plotter.PostStep
		p.Add(l)
		q := quantileMarks(g, gs)
		p.Add(q)
		notes = append(notes, q)
		leg.add(g.Name, l, ringThumb{gs})
		xmin, xmax = min(xmin, xys[0].X), max(xmax, xys[len(xys)-1].X)
		for _, x := range q.X {
			xmin, xmax = min(xmin, x), max(xmax, x)
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("plots: latency CDF: no group has latency_cdf points")
	}
	p.X.Min, p.X.Max = xmin, xmax
	if xmax/xmin >= 10 {
		// Log only when latencies span a decade: inside one, a log axis
		// has no round values to label.
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = secondTicks{}
	}
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	return &Figure{Name: "latency-cdf", Panels: []*plot.Plot{p}, legend: leg, sideW: leg.width(), notes: notes}, nil
}

// quantileMarks marks a group's p50 and p99 latency on its CDF.
func quantileMarks(g GroupSummary, gs draw.GlyphStyle) marks {
	gs.Radius = vg.Points(3.5)
	m := marks{Glyph: gs, Text: smallText(gs.Color), Offset: vg.Point{X: vg.Points(4), Y: vg.Points(-8)}}
	for _, q := range []struct {
		name string
		x, y float64
	}{{"p50", g.LatencyS.P50, 0.5}, {"p99", g.LatencyS.P99, 0.99}} {
		if q.x > 0 && finite(q.x) {
			m.X = append(m.X, q.x)
			m.Y = append(m.Y, q.y)
			m.Labels = append(m.Labels, q.name+" "+fmtNum(q.x)+" s")
		}
	}
	return m
}

// EnergyCauses is the stacking order of the energy breakdown; causes not
// listed follow in name order.
var EnergyCauses = []string{"keepalive", "push", "reconnect", "idle"}

var causeColors = map[string]int{"keepalive": 0, "reconnect": 1, "push": 3, "idle": 5}

// EnergyBreakdown draws stacked bars of each group's energy per
// device-day by cause.
func EnergyBreakdown(groups []GroupSummary) (*Figure, error) {
	if len(groups) == 0 {
		return nil, fmt.Errorf("plots: energy breakdown: no groups")
	}
	causes := slices.Clone(EnergyCauses)
	var extra []string
	for _, g := range groups {
		for c := range g.EnergyByCauseJPerDeviceDay {
			if !slices.Contains(causes, c) && !slices.Contains(extra, c) {
				extra = append(extra, c)
			}
		}
	}
	slices.Sort(extra)
	causes = append(causes, extra...)
	p := newPlot("Energy by cause", "", "energy (J per device-day)")
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.Name
		if g.Strategy != "" && g.Strategy != g.Name {
			names[i] += " (" + g.Strategy + ")"
		}
	}
	leg := newSideLegend()
	var below *plotter.BarChart
	width := vg.Points(min(40, 300/float64(len(groups))))
	var bars []*plotter.BarChart
	for ci, c := range causes {
		vals := make(plotter.Values, len(groups))
		for i, g := range groups {
			v := g.EnergyByCauseJPerDeviceDay[c]
			if !finite(v) || v < 0 {
				return nil, fmt.Errorf("plots: energy breakdown: group %s: energy_by_cause_j_per_device_day.%s = %g", g.Name, c, v)
			}
			vals[i] = v
		}
		b, err := causeBar(vals, width, c, ci, below)
		if err != nil {
			return nil, fmt.Errorf("plots: energy breakdown: %w", err)
		}
		below = b
		bars = append(bars, b)
		p.Add(b)
	}
	for i := len(bars) - 1; i >= 0; i-- { // legend top-down like the stack
		leg.add(causes[i], bars[i])
	}
	tot := marks{Text: smallText(colBlack), Offset: vg.Point{X: -vg.Points(8), Y: vg.Points(3)}}
	for i, g := range groups {
		var sum float64
		for _, c := range causes {
			sum += g.EnergyByCauseJPerDeviceDay[c]
		}
		tot.X = append(tot.X, float64(i))
		tot.Y = append(tot.Y, sum)
		tot.Labels = append(tot.Labels, fmtNum(sum)+" J")
	}
	p.Add(tot)
	p.Y.Min = 0
	p.Y.Max *= 1.08 // room for the totals
	p.NominalX(names...)
	return &Figure{Name: "energy", Panels: []*plot.Plot{p}, legend: leg, sideW: leg.width(), notes: []any{tot}}, nil
}

// causeBar is the bar chart of cause, the ci-th of its stack, in the
// cause's colour, stacked on below (nil for the bottom of the stack).
func causeBar(vals plotter.Values, width vg.Length, cause string, ci int, below *plotter.BarChart) (*plotter.BarChart, error) {
	b, err := plotter.NewBarChart(vals, width)
	if err != nil {
		return nil, err
	}
	idx, ok := causeColors[cause]
	if !ok {
		idx = 4 + ci
	}
	b.Color = Palette[idx%len(Palette)]
	b.LineStyle = draw.LineStyle{Color: colBlack, Width: vg.Points(0.5)}
	if below != nil {
		b.StackOn(below)
	}
	return b, nil
}

// Timeseries metric names (docs/results.md).
const (
	MetricServerOpen     = "server_open_conns"
	MetricServerHalfOpen = "server_half_open_conns"
	MetricConnected      = "connected_devices"
	MetricReconnects     = "reconnects"
	MetricMeanInterval   = "mean_interval_s"
)

// series is one (group, metric) line of timeseries.csv, ordered by time.
type series struct {
	group, metric string
	xys           plotter.XYs
}

// splitSeries groups samples by group and metric, in first-seen order,
// each sorted by time.
func splitSeries(samples []Sample, metrics ...string) []series {
	var out []series
	idx := map[[2]string]int{}
	for _, s := range samples {
		if len(metrics) > 0 && !slices.Contains(metrics, s.Metric) {
			continue
		}
		k := [2]string{s.Group, s.Metric}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, series{group: s.Group, metric: s.Metric})
		}
		out[i].xys = append(out[i].xys, plotter.XY{X: s.TS, Y: s.Value})
	}
	for i := range out {
		slices.SortStableFunc(out[i].xys, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
	}
	return out
}

// ServerView draws the server over time: open and half-open connections
// and connected devices (top), and the reconnect rate per minute (bottom),
// where storms after a NAT reboot show. Reconnects are counts per bucket;
// the bucket is the spacing of the samples.
func ServerView(samples []Sample) (*Figure, error) {
	all := splitSeries(samples, MetricServerOpen, MetricServerHalfOpen, MetricConnected, MetricReconnects)
	// Sum per-group connected devices and reconnects into totals.
	sum := func(metric string) plotter.XYs {
		acc := map[float64]float64{}
		for _, s := range all {
			if s.metric == metric {
				for _, p := range s.xys {
					acc[p.X] += p.Y
				}
			}
		}
		var xys plotter.XYs
		for x, y := range acc {
			xys = append(xys, plotter.XY{X: x, Y: y})
		}
		slices.SortFunc(xys, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		return xys
	}
	lines := []struct {
		label string
		xys   plotter.XYs
	}{{"open connections", sum(MetricServerOpen)}, {"half-open connections", sum(MetricServerHalfOpen)}, {"connected devices", sum(MetricConnected)}}
	rec := sum(MetricReconnects)
	if len(lines[0].xys) == 0 && len(rec) == 0 {
		return nil, fmt.Errorf("plots: server view: timeseries has no %s or %s samples", MetricServerOpen, MetricReconnects)
	}
	span := 0.0
	for _, l := range lines {
		if n := len(l.xys); n > 0 {
			span = max(span, l.xys[n-1].X)
		}
	}
	if n := len(rec); n > 0 {
		span = max(span, rec[n-1].X)
	}
	div, unit := timeUnit(span)
	top := newPlot("Server view", "", "connections")
	bot := newPlot("", "virtual time ("+unit+")", "reconnects per minute")
	leg := newSideLegend()
	for i, l := range lines {
		if len(l.xys) == 0 {
			continue
		}
		ls, _ := seriesStyle(i)
		ln, err := plotter.NewLine(scaleX(decimate(l.xys, maxLinePoints), div))
		if err != nil {
			return nil, fmt.Errorf("plots: server view %s: %w", l.label, err)
		}
		ln.LineStyle = ls
		top.Add(ln)
		leg.add(l.label, ln)
	}
	if len(rec) > 0 {
		// timeseries.csv has reconnect rows only for buckets with
		// reconnects: the bucket is the spacing of all samples, and
		// missing buckets are zero.
		var times plotter.XYs
		for _, s := range all {
			times = append(times, s.xys...)
		}
		slices.SortFunc(times, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		bucket := minStep(times)
		byT := map[float64]float64{}
		for _, p := range rec {
			byT[p.X] = p.Y
		}
		var rate plotter.XYs
		if n := span / bucket; n <= 1e6 {
			for i := 0; float64(i) <= n; i++ {
				t := float64(i) * bucket
				rate = append(rate, plotter.XY{X: t, Y: byT[t] / bucket * 60})
				delete(byT, t)
			}
		}
		for t, y := range byT { // off the grid: keep as they are
			rate = append(rate, plotter.XY{X: t, Y: y / bucket * 60})
		}
		slices.SortFunc(rate, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		ls, _ := seriesStyle(3)
		ln, err := plotter.NewLine(scaleX(decimate(rate, maxLinePoints), div))
		if err != nil {
			return nil, fmt.Errorf("plots: server view reconnects: %w", err)
		}
		ln.LineStyle = ls
		ln.StepStyle = plotter.PostStep
		ln.FillColor = withAlpha(ls.Color, 0.25)
		bot.Add(ln)
		leg.add("reconnects", ln)
	}
	for _, p := range []*plot.Plot{top, bot} {
		p.X.Min, p.X.Max = 0, span/div
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
	}
	top.X.Tick.Label.Color = transparent
	return &Figure{Name: "server", Panels: []*plot.Plot{top, bot}, legend: leg, sideW: leg.width(), Height: 12 * vg.Centimeter}, nil
}

// Convergence draws the learned keep-alive interval over time for each
// group that reports mean_interval_s, against the NAT idle timeouts of the
// summary's NATs (horizontal lines): an adaptive strategy should settle
// just below the shortest one on its path.
func Convergence(samples []Sample, nats []NATSummary) (*Figure, error) {
	ss := splitSeries(samples, MetricMeanInterval)
	if len(ss) == 0 {
		return nil, fmt.Errorf("plots: convergence: timeseries has no %s samples", MetricMeanInterval)
	}
	span := 0.0
	for _, s := range ss {
		span = max(span, s.xys[len(s.xys)-1].X)
	}
	div, unit := timeUnit(span)
	p := newPlot("Strategy convergence", "virtual time ("+unit+")", "keep-alive interval (s)")
	leg := newSideLegend()
	for i, s := range ss {
		ls, _ := seriesStyle(i)
		ln, err := plotter.NewLine(scaleX(decimate(s.xys, maxLinePoints), div))
		if err != nil {
			return nil, fmt.Errorf("plots: convergence %s: %w", s.group, err)
		}
		ln.LineStyle = ls
		ln.StepStyle = plotter.PostStep
		p.Add(ln)
		leg.add(s.group, ln)
	}
	var notes []any
	seen := map[string]bool{}
	for _, n := range nats {
		if n.IdleTimeoutS <= 0 || !finite(n.IdleTimeoutS) {
			continue
		}
		label := n.Layer + " NAT timeout " + fmtNum(n.IdleTimeoutS) + " s"
		if n.Network != "" {
			label = n.Network + "/" + label
		}
		if seen[label] {
			continue
		}
		seen[label] = true
		h := hLine{Y: n.IdleTimeoutS, Label: label, Text: smallText(colGrey),
			Style: draw.LineStyle{Color: colGrey, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}}
		p.Add(h)
		notes = append(notes, h)
	}
	p.X.Min, p.X.Max = 0, span/div
	p.Y.Min = 0
	p.Y.Max *= 1.05
	p.Add(plotter.NewGrid())
	return &Figure{Name: "convergence", Panels: []*plot.Plot{p}, legend: leg, sideW: leg.width(), notes: notes}, nil
}

// scaleX divides the x values by div (seconds to the axis unit).
func scaleX(xys plotter.XYs, div float64) plotter.XYs {
	out := make(plotter.XYs, len(xys))
	for i, p := range xys {
		out[i] = plotter.XY{X: p.X / div, Y: p.Y}
	}
	return out
}

// minStep returns the smallest positive spacing of the x values, the
// timeseries bucket; 1 when there is none.
func minStep(xys plotter.XYs) float64 {
	step := math.Inf(1)
	for i := 1; i < len(xys); i++ {
		if d := xys[i].X - xys[i-1].X; d > 0 {
			step = min(step, d)
		}
	}
	if math.IsInf(step, 1) {
		return 1
	}
	return step
}

// decimate keeps at most about n points of a line ordered by x: it splits
// the points into n/2 runs and keeps each run's minimum and maximum in
// order, so spikes (reconnect storms) survive.
func decimate(xys plotter.XYs, n int) plotter.XYs {
	if len(xys) <= n || n < 4 {
		return xys
	}
	runs := n / 2
	out := make(plotter.XYs, 0, n+2)
	for r := range runs {
		lo, hi := r*len(xys)/runs, (r+1)*len(xys)/runs
		mi, ma := lo, lo
		for i := lo; i < hi; i++ {
			if xys[i].Y < xys[mi].Y {
				mi = i
			}
			if xys[i].Y > xys[ma].Y {
				ma = i
			}
		}
		out = append(out, xys[min(mi, ma)])
		if mi != ma {
			out = append(out, xys[max(mi, ma)])
		}
	}
	return out
}
