package plots

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The presence metrics of sweep.csv (written for scenarios that track
// presence, docs/results.md).
const (
	MetricDetectionP50 = "server_detection_p50_s"
	MetricDetectionP99 = "server_detection_p99_s"
	MetricNATTimeout   = "nat_timeout_s"
)

// PresenceCurve is one series of the presence figure: per heartbeat
// interval X (seconds, ascending), the server's detection time p50 and
// p99 and the energy per device-day (means over replicates; NaN where the
// sweep has no value).
type PresenceCurve struct {
	Label          string
	X              []float64
	P50, P99       []float64
	Energy         []float64
	NATTimeoutS    float64 // the shortest NAT timeout on the series' network; NaN: none
	detectedPoints int
}

// HasPresence reports whether a sweep carries the presence metrics.
func HasPresence(s *SweepSummary) bool {
	return slices.ContainsFunc(s.Rows, func(r SweepStat) bool { return r.Metric == MetricDetectionP50 })
}

// PresenceCurves groups a sweep's presence metrics into one curve per
// series (other parameters' values, and group when there are several),
// along the heartbeat interval parameter x.
func PresenceCurves(s *SweepSummary, x string) ([]PresenceCurve, error) {
	xi := slices.Index(s.Params, x)
	if xi < 0 {
		return nil, fmt.Errorf("plots: presence: sweep has no parameter %q (have %s)", x, strings.Join(s.Params, ", "))
	}
	groups := map[string]bool{}
	for _, r := range s.Rows {
		groups[r.Group] = true
	}
	type pt struct{ p50, p99, e, nat float64 }
	var order []string
	byLabel := map[string]map[float64]*pt{}
	for _, r := range s.Rows {
		switch r.Metric {
		case MetricDetectionP50, MetricDetectionP99, MetricEnergy, MetricNATTimeout:
		default:
			continue
		}
		xv, err := parseParam(x, r.Params[xi])
		if err != nil {
			return nil, fmt.Errorf("%w (point %d)", err, r.Point)
		}
		label := seriesLabel(s, xi, r, len(groups) > 1)
		pts := byLabel[label]
		if pts == nil {
			pts = map[float64]*pt{}
			byLabel[label] = pts
			order = append(order, label)
		}
		p := pts[xv]
		if p == nil {
			p = &pt{nan, nan, nan, nan}
			pts[xv] = p
		}
		switch r.Metric {
		case MetricDetectionP50:
			p.p50 = r.Mean
		case MetricDetectionP99:
			p.p99 = r.Mean
		case MetricEnergy:
			p.e = r.Mean
		case MetricNATTimeout:
			p.nat = r.Mean
		}
	}
	slices.SortStableFunc(order, naturalCmp)
	var curves []PresenceCurve
	for _, l := range order {
		pts := byLabel[l]
		c := PresenceCurve{Label: l, NATTimeoutS: nan}
		for xv := range pts {
			c.X = append(c.X, xv)
		}
		slices.Sort(c.X)
		for _, xv := range c.X {
			p := pts[xv]
			c.P50, c.P99, c.Energy = append(c.P50, p.p50), append(c.P99, p.p99), append(c.Energy, p.e)
			if finite(p.nat) && !(p.nat >= c.NATTimeoutS) {
				c.NATTimeoutS = p.nat
			}
			if finite(p.p50) {
				c.detectedPoints++
			}
		}
		if c.detectedPoints > 0 {
			curves = append(curves, c)
		}
	}
	if len(curves) == 0 {
		return nil, fmt.Errorf("plots: presence: the sweep has no %s values (run a sweep of a scenario whose devices vanish)", MetricDetectionP50)
	}
	return curves, nil
}

// Presence draws the presence figure of a sweep of heartbeat intervals:
// the server's detection time (p50 solid, p99 dashed) above the energy per
// device-day, against the interval, with the network's NAT timeout marked
// in both panels: the price of "detect within N seconds". The x parameter
// is PickAxes's X (a path naming an interval, e.g. a tied
// strategy.interval+push_keepalive axis).
func Presence(s *SweepSummary) (*Figure, error) {
	axes, err := PickAxes(s.Params)
	if err != nil {
		return nil, err
	}
	curves, err := PresenceCurves(s, axes.X)
	if err != nil {
		return nil, err
	}
	top := newPlot("Presence: server detection time and its cost", "", "server detection (s)")
	bot := newPlot("", "heartbeat interval (s)", "energy (J per device-day)")
	leg := newSideLegend()
	xmin, xmax := math.Inf(1), math.Inf(-1)
	var nats []float64
	var notes []any
	for i, c := range curves {
		ls, gs := seriesStyle(i)
		dashed := ls
		dashed.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		xmin, xmax = min(xmin, c.X[0]), max(xmax, c.X[len(c.X)-1])
		for _, l := range []struct {
			p    *plot.Plot
			y    []float64
			line draw.LineStyle
			name string
		}{{top, c.P50, ls, c.Label + " p50"}, {top, c.P99, dashed, c.Label + " p99"}, {bot, c.Energy, ls, ""}} {
			line, _ := xyLine(c.X, l.y, l.y, l.y)
			if len(line) == 0 {
				continue
			}
			lp, sp, err := plotter.NewLinePoints(line)
			if err != nil {
				return nil, fmt.Errorf("plots: presence %s: %w", c.Label, err)
			}
			lp.LineStyle, sp.GlyphStyle = l.line, gs
			l.p.Add(lp, sp)
			if l.name != "" {
				leg.add(l.name, lp, sp)
			}
		}
		if finite(c.NATTimeoutS) && !slices.Contains(nats, c.NATTimeoutS) {
			nats = append(nats, c.NATTimeoutS)
		}
	}
	slices.Sort(nats)
	ns := draw.LineStyle{Color: colGrey, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(1), vg.Points(2)}}
	for _, n := range nats {
		// The timeout is marked even beyond the swept intervals: where the
		// intervals stop short of it is part of the answer.
		xmin, xmax = min(xmin, n), max(xmax, n)
		ts := smallText(colGrey)
		ts.XAlign = draw.XRight // the timeout is often the right edge
		l := vLine{X: n, Style: ns, Label: "NAT timeout " + fmtNum(n) + " s", Text: ts}
		top.Add(l)
		bot.Add(vLine{X: n, Style: ns})
		notes = append(notes, l)
	}
	if len(nats) > 0 {
		leg.add("NAT timeout", vLineThumb{ns})
	}
	logX := xmin > 0 && xmax/xmin >= 10
	for _, p := range []*plot.Plot{top, bot} {
		intervalAxis(p, xmin, xmax, logX)
		if p.Y.Min > 0 {
			p.Y.Min = 0
		}
		p.Add(plotter.NewGrid())
	}
	top.X.Tick.Label.Color = transparent
	return &Figure{Name: "presence", Panels: []*plot.Plot{top, bot}, legend: leg, sideW: leg.width(), Height: 14 * vg.Centimeter, notes: notes}, nil
}
