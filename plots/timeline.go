package plots

import (
	"fmt"
	"image/color"
	"io"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// MaxTimelineDevices is the most devices one timeline figure shows; more
// would not be readable.
const MaxTimelineDevices = 6

// DefaultLateS is the push latency above which the timeline marks a
// delivered push as late: longer than a live connection's round trips, so
// the push waited for a reconnect.
const DefaultLateS = 5.0

// Span is an interval of virtual time in seconds with a label: a
// connection (Label is the reason it went down, "" if still up at the
// end) or a NAT mapping (Label is the network).
type Span struct {
	Start, End float64
	Label      string
}

// Push states on a timeline.
const (
	PushDelivered = "delivered"
	PushLate      = "late"
	PushLost      = "lost"
)

// PushMark is one push to a device: sent at SentS, delivered at DoneS
// (lost pushes: DoneS = SentS).
type PushMark struct {
	ID           int64
	SentS, DoneS float64
	State        string
}

// Mark is an instant with a label (a network change and its network).
type Mark struct {
	T     float64
	Label string
}

// Timeline is one device's history, built from events.jsonl.
type Timeline struct {
	Device string
	// EndS is the end of the timeline in seconds; open spans end here.
	EndS float64
	// Conns are the connection's up periods.
	Conns []Span
	// Layers are the NAT layers seen, in order of first appearance, and
	// Mappings their mappings' lifetimes.
	Layers   []string
	Mappings map[string][]Span
	// KeepAliveOK and KeepAliveFailed are the times of keep-alive outcomes.
	KeepAliveOK, KeepAliveFailed []float64
	Pushes                       []PushMark
	NetworkChanges               []Mark
}

// BuildTimelines reads the events of the named devices (at most
// MaxTimelineDevices) from an events.jsonl stream and returns their
// timelines in the order named. Spans still open end at endS or at the
// last event, whichever is later. Pushes delivered later than lateS
// (zero: DefaultLateS) are late; pushes neither delivered nor lost by the
// end count as lost.
func BuildTimelines(r io.Reader, name string, devices []string, endS, lateS float64) ([]Timeline, error) {
	if len(devices) == 0 {
		return nil, fmt.Errorf("plots: timeline: no devices named")
	}
	if len(devices) > MaxTimelineDevices {
		return nil, fmt.Errorf("plots: timeline of %d devices: at most %d fit in one figure; name fewer", len(devices), MaxTimelineDevices)
	}
	if lateS <= 0 {
		lateS = DefaultLateS
	}
	type state struct {
		tl      Timeline
		upAt    float64
		up      bool
		open    map[string][]Span // open mappings per layer, oldest first
		pending map[int64]float64
		seen    bool
	}
	st := map[string]*state{}
	for _, d := range devices {
		if st[d] != nil {
			return nil, fmt.Errorf("plots: timeline: device %s named twice", d)
		}
		st[d] = &state{tl: Timeline{Device: d, Mappings: map[string][]Span{}}, open: map[string][]Span{}, pending: map[int64]float64{}}
	}
	err := ScanEvents(r, name, devices, func(e Event) error {
		s := st[e.Device]
		s.seen = true
		t := &s.tl
		t.EndS = max(t.EndS, e.TS)
		switch e.Kind {
		case "conn_up":
			if !s.up {
				s.up, s.upAt = true, e.TS
			}
		case "conn_down":
			if s.up {
				t.Conns = append(t.Conns, Span{Start: s.upAt, End: e.TS, Label: e.Reason})
				s.up = false
			}
		case "keepalive_ok":
			t.KeepAliveOK = append(t.KeepAliveOK, e.TS)
		case "keepalive_failed":
			t.KeepAliveFailed = append(t.KeepAliveFailed, e.TS)
		case "mapping_created":
			if e.Layer == "" {
				return fmt.Errorf("mapping_created without layer")
			}
			if !slices.Contains(t.Layers, e.Layer) {
				t.Layers = append(t.Layers, e.Layer)
			}
			s.open[e.Layer] = append(s.open[e.Layer], Span{Start: e.TS, Label: e.Network})
		case "mapping_expired":
			if o := s.open[e.Layer]; len(o) > 0 {
				m := o[0]
				m.End = e.TS
				t.Mappings[e.Layer] = append(t.Mappings[e.Layer], m)
				s.open[e.Layer] = o[1:]
			}
		case "push_sent":
			s.pending[e.ID] = e.TS
		case "push_delivered":
			sent := e.TS - e.LatencyS
			delete(s.pending, e.ID)
			state := PushDelivered
			if e.LatencyS > lateS {
				state = PushLate
			}
			t.Pushes = append(t.Pushes, PushMark{ID: e.ID, SentS: sent, DoneS: e.TS, State: state})
		case "push_lost":
			sent, ok := s.pending[e.ID]
			if !ok {
				sent = e.TS
			}
			delete(s.pending, e.ID)
			t.Pushes = append(t.Pushes, PushMark{ID: e.ID, SentS: sent, DoneS: sent, State: PushLost})
		case "network_change":
			t.NetworkChanges = append(t.NetworkChanges, Mark{T: e.TS, Label: e.Network})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Timeline, 0, len(devices))
	for _, d := range devices {
		s := st[d]
		if !s.seen {
			return nil, fmt.Errorf("plots: timeline: %s has no events for device %s", name, d)
		}
		t := &s.tl
		t.EndS = max(t.EndS, endS)
		if s.up {
			t.Conns = append(t.Conns, Span{Start: s.upAt, End: t.EndS})
		}
		for _, l := range t.Layers {
			for _, m := range s.open[l] {
				m.End = t.EndS
				t.Mappings[l] = append(t.Mappings[l], m)
			}
			slices.SortStableFunc(t.Mappings[l], func(a, b Span) int { return compareFloat(a.Start, b.Start) })
		}
		ids := make([]int64, 0, len(s.pending))
		for id := range s.pending {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			t.Pushes = append(t.Pushes, PushMark{ID: id, SentS: s.pending[id], DoneS: s.pending[id], State: PushLost})
		}
		slices.SortStableFunc(t.Pushes, func(a, b PushMark) int { return compareFloat(a.SentS, b.SentS) })
		out = append(out, *t)
	}
	return out, nil
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// DeviceTimeline draws one panel per device, sharing the time axis: rows
// for pushes, the connection (up periods, with the reason each ended and
// keep-alive outcomes as ticks) and each NAT layer's mapping lifetimes;
// network changes are vertical lines.
func DeviceTimeline(tls []Timeline) (*Figure, error) {
	if len(tls) == 0 {
		return nil, fmt.Errorf("plots: timeline: no devices")
	}
	if len(tls) > MaxTimelineDevices {
		return nil, fmt.Errorf("plots: timeline of %d devices: at most %d fit in one figure", len(tls), MaxTimelineDevices)
	}
	end := 0.0
	for _, t := range tls {
		end = max(end, t.EndS)
	}
	div, unit := timeUnit(end)
	var panels []*plot.Plot
	connColor, kaColor := Palette[0], colBlack
	layerColors := []int{2, 3, 4, 5}
	ptOK := draw.GlyphStyle{Color: Palette[2], Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
	ptLate := draw.GlyphStyle{Color: Palette[3], Radius: vg.Points(3), Shape: draw.TriangleGlyph{}}
	ptLost := draw.GlyphStyle{Color: Palette[1], Radius: vg.Points(3), Shape: draw.CrossGlyph{}}
	kaOK := draw.GlyphStyle{Color: kaColor, Radius: vg.Points(4), Shape: tickGlyph{}}
	kaFail := draw.GlyphStyle{Color: Palette[1], Radius: vg.Points(3.5), Shape: draw.CrossGlyph{}}
	netStyle := draw.LineStyle{Color: Palette[4], Width: vg.Points(1), Dashes: []vg.Length{vg.Points(3), vg.Points(2)}}
	allLayers := []string{}
	for _, t := range tls {
		for _, l := range t.Layers {
			if !slices.Contains(allLayers, l) {
				allLayers = append(allLayers, l)
			}
		}
	}
	for i, t := range tls {
		p := newPlot(t.Device, "", "")
		p.Title.TextStyle = smallText(colBlack)
		p.Title.TextStyle.Font.Size = vg.Points(9)
		p.Title.TextStyle.XAlign, p.Title.TextStyle.YAlign = draw.XCenter, draw.YTop
		rows := []string{"pushes", "connection"}
		for _, l := range allLayers {
			rows = append(rows, "NAT "+l)
		}
		const h = 0.3
		var up []rect
		for _, c := range t.Conns {
			up = append(up, rect{c.Start / div, c.End / div, 1 - h, 1 + h})
		}
		p.Add(rects{R: up, Fill: withAlpha(connColor, 0.55), Line: draw.LineStyle{Color: connColor, Width: vg.Points(0.5)}})
		for li, l := range allLayers {
			var ms []rect
			y := float64(2 + li)
			for _, m := range t.Mappings[l] {
				ms = append(ms, rect{m.Start / div, m.End / div, y - h, y + h})
			}
			col := Palette[layerColors[li%len(layerColors)]]
			p.Add(rects{R: ms, Fill: withAlpha(col, 0.45), Line: draw.LineStyle{Color: col, Width: vg.Points(0.7)}})
		}
		reasons := marks{Text: smallText(colBlack), Offset: vg.Point{X: vg.Points(1), Y: vg.Points(5)}, Glyph: draw.GlyphStyle{Radius: 0, Shape: draw.CircleGlyph{}, Color: colBlack}}
		for _, c := range t.Conns {
			if c.Label != "" {
				reasons.X = append(reasons.X, c.End/div)
				reasons.Y = append(reasons.Y, 1+h)
				reasons.Labels = append(reasons.Labels, c.Label)
			}
		}
		p.Add(reasons)
		p.Add(timeMarks(t.KeepAliveOK, div, 1, kaOK), timeMarks(t.KeepAliveFailed, div, 1, kaFail))
		var lateLines []rect
		var ok, late, lost []float64
		for _, pm := range t.Pushes {
			switch pm.State {
			case PushDelivered:
				ok = append(ok, pm.SentS)
			case PushLate:
				late = append(late, pm.SentS)
				lateLines = append(lateLines, rect{pm.SentS / div, pm.DoneS / div, 0, 0})
			default:
				lost = append(lost, pm.SentS)
			}
		}
		p.Add(rects{R: lateLines, Line: draw.LineStyle{Color: ptLate.Color, Width: vg.Points(1)}})
		p.Add(timeMarks(ok, div, 0, ptOK), timeMarks(late, div, 0, ptLate), timeMarks(lost, div, 0, ptLost))
		for _, n := range t.NetworkChanges {
			p.Add(vLine{X: n.T / div, Style: netStyle, Label: n.Label, Text: smallText(netStyle.Color)})
		}
		p.NominalY(rows...)
		p.Y.Min, p.Y.Max = -0.6, float64(len(rows))-0.4
		p.X.Min, p.X.Max = 0, end/div
		p.Add(plotter.NewGrid())
		if i == len(tls)-1 {
			p.X.Label.Text = "virtual time (" + unit + ")"
		} else {
			p.X.Tick.Label.Color = transparent
		}
		panels = append(panels, p)
	}
	leg := newSideLegend()
	leg.add("connection up", rectThumb{withAlpha(connColor, 0.55)})
	for li, l := range allLayers {
		leg.add("mapping: "+l, rectThumb{withAlpha(Palette[layerColors[li%len(layerColors)]], 0.45)})
	}
	leg.add("keep-alive ok", ringThumb{kaOK})
	leg.add("keep-alive failed", ringThumb{kaFail})
	leg.add("push delivered", ringThumb{ptOK})
	leg.add("push late (> "+fmtNum(DefaultLateS)+" s)", ringThumb{ptLate})
	leg.add("push lost", ringThumb{ptLost})
	if hasNetworkChanges(tls) {
		leg.add("network change", lineThumb{netStyle})
	}
	rowH := 2.2 + 0.5*float64(len(allLayers))
	return &Figure{Name: "timeline", Panels: panels, legend: leg, sideW: leg.width(),
		Height: vg.Length(float64(len(tls))*rowH+1.5) * vg.Centimeter}, nil
}

func hasNetworkChanges(tls []Timeline) bool {
	for _, t := range tls {
		if len(t.NetworkChanges) > 0 {
			return true
		}
	}
	return false
}

// timeMarks places glyphs at times ts (seconds) on row y.
func timeMarks(ts []float64, div, y float64, g draw.GlyphStyle) marks {
	m := marks{Glyph: g, X: make([]float64, len(ts)), Y: make([]float64, len(ts))}
	for i, t := range ts {
		m.X[i], m.Y[i] = t/div, y
	}
	return m
}

type rectThumb struct{ c color.Color }

func (r rectThumb) Thumbnail(c *draw.Canvas) {
	d := *c
	d.Min.Y += vg.Points(2)
	d.Max.Y -= vg.Points(2)
	c.FillPolygon(r.c, []vg.Point{d.Min, {X: d.Max.X, Y: d.Min.Y}, d.Max, {X: d.Min.X, Y: d.Max.Y}})
}

type lineThumb struct{ s draw.LineStyle }

func (l lineThumb) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(l.s, c.Min.X, y, c.Max.X, y)
}
