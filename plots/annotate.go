package plots

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// vLine is a vertical line at X across the data area, with an optional
// label beside its top end. It does not widen the axes.
type vLine struct {
	X     float64
	Style draw.LineStyle
	Label string
	Text  draw.TextStyle
	// Low puts the label at the bottom instead of the top.
	Low bool
}

func (l vLine) Plot(c draw.Canvas, p *plot.Plot) {
	tx, _ := p.Transforms(&c)
	x := tx(l.X)
	if !c.ContainsX(x) {
		return
	}
	c.StrokeLine2(l.Style, x, c.Min.Y, x, c.Max.Y)
	if l.Label != "" {
		y := c.Max.Y - l.Text.Height(l.Label) - vg.Points(1)
		if l.Low {
			y = c.Min.Y + vg.Points(2)
		}
		dx := vg.Points(2)
		if l.Text.XAlign == draw.XRight { // label to the left of the line
			dx = -dx
		}
		c.FillText(l.Text, vg.Point{X: x + dx, Y: y}, l.Label)
	}
}

// hLine is a horizontal line at Y across the data area, labelled above its
// right end. It widens the y axis to include Y.
type hLine struct {
	Y     float64
	Style draw.LineStyle
	Label string
	Text  draw.TextStyle
}

func (l hLine) Plot(c draw.Canvas, p *plot.Plot) {
	_, ty := p.Transforms(&c)
	y := ty(l.Y)
	c.StrokeLine2(l.Style, c.Min.X, y, c.Max.X, y)
	if l.Label != "" {
		t := l.Text
		t.XAlign = draw.XRight
		c.FillText(t, vg.Point{X: c.Max.X - vg.Points(2), Y: y + vg.Points(2)}, l.Label)
	}
}

func (l hLine) DataRange() (xmin, xmax, ymin, ymax float64) {
	return inf, -inf, l.Y, l.Y
}

// marks are glyphs at data points with optional labels beside them. They
// do not widen the axes.
type marks struct {
	X, Y   []float64
	Glyph  draw.GlyphStyle
	Labels []string
	Text   draw.TextStyle
	Offset vg.Point
}

func (m marks) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	for i := range m.X {
		pt := vg.Point{X: tx(m.X[i]), Y: ty(m.Y[i])}
		if !c.Contains(pt) {
			continue
		}
		c.DrawGlyph(m.Glyph, pt)
		if i < len(m.Labels) && m.Labels[i] != "" {
			c.FillText(m.Text, pt.Add(m.Offset), m.Labels[i])
		}
	}
}

// rect is an axis-aligned rectangle in data coordinates.
type rect struct{ X0, X1, Y0, Y1 float64 }

// rects fills and/or outlines rectangles given in data coordinates.
type rects struct {
	R    []rect
	Fill color.Color
	Line draw.LineStyle
	// Widen makes the rectangles count in the axes' ranges.
	Widen bool
}

func (r rects) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	for _, q := range r.R {
		x0, x1 := tx(q.X0), tx(q.X1)
		y0, y1 := ty(q.Y0), ty(q.Y1)
		x0, x1 = max(x0, c.Min.X), min(x1, c.Max.X)
		if x1 < x0 {
			continue
		}
		pts := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
		if r.Fill != nil {
			c.FillPolygon(r.Fill, pts)
		}
		if r.Line.Width > 0 {
			c.StrokeLines(r.Line, append(pts, pts[0]))
		}
	}
}

func (r rects) DataRange() (xmin, xmax, ymin, ymax float64) {
	if !r.Widen || len(r.R) == 0 {
		return inf, -inf, inf, -inf
	}
	xmin, ymin = r.R[0].X0, r.R[0].Y0
	xmax, ymax = r.R[0].X1, r.R[0].Y1
	for _, q := range r.R[1:] {
		xmin, xmax = min(xmin, q.X0), max(xmax, q.X1)
		ymin, ymax = min(ymin, q.Y0), max(ymax, q.Y1)
	}
	return
}

// tickGlyph is a short vertical stroke, for events on a timeline.
type tickGlyph struct{}

func (tickGlyph) DrawGlyph(c *draw.Canvas, s draw.GlyphStyle, p vg.Point) {
	ls := draw.LineStyle{Color: s.Color, Width: vg.Points(0.8)}
	c.StrokeLine2(ls, p.X, p.Y-s.Radius, p.X, p.Y+s.Radius)
}
