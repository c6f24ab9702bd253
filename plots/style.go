package plots

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Okabe-Ito colours (Okabe & Ito, "Color Universal Design", 2002), ordered
// so that neighbouring series differ in luminance as well as hue. Yellow is
// left out of line series: it vanishes on white.
var (
	colBlack     = color.RGBA{0x00, 0x00, 0x00, 0xff}
	colOrange    = color.RGBA{0xe6, 0x9f, 0x00, 0xff}
	colSkyBlue   = color.RGBA{0x56, 0xb4, 0xe9, 0xff}
	colGreen     = color.RGBA{0x00, 0x9e, 0x73, 0xff}
	colYellow    = color.RGBA{0xf0, 0xe4, 0x42, 0xff}
	colBlue      = color.RGBA{0x00, 0x72, 0xb2, 0xff}
	colVermilion = color.RGBA{0xd5, 0x5e, 0x00, 0xff}
	colPurple    = color.RGBA{0xcc, 0x79, 0xa7, 0xff}
	colGrey      = color.RGBA{0x80, 0x80, 0x80, 0xff}
)

// Palette is the series palette every figure uses, in order: Okabe-Ito
// blue, vermilion, bluish green, orange, reddish purple, sky blue, black.
var Palette = []color.Color{colBlue, colVermilion, colGreen, colOrange, colPurple, colSkyBlue, colBlack}

// dashes pair with the palette: series i uses Palette[i%7] and
// dashes[i%len(dashes)], so series stay distinct in greyscale.
var dashes = [][]vg.Length{
	nil,
	{vg.Points(6), vg.Points(3)},
	{vg.Points(1.5), vg.Points(2)},
	{vg.Points(6), vg.Points(2), vg.Points(1.5), vg.Points(2)},
	{vg.Points(10), vg.Points(3)},
	{vg.Points(3), vg.Points(3)},
}

// glyphs pair with the palette the same way.
var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{},
	draw.PlusGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{},
}

// seriesStyle returns the colour, dash pattern and glyph of series i.
func seriesStyle(i int) (draw.LineStyle, draw.GlyphStyle) {
	c := Palette[i%len(Palette)]
	ls := draw.LineStyle{Color: c, Width: vg.Points(1.5), Dashes: dashes[i%len(dashes)]}
	gs := draw.GlyphStyle{Color: c, Radius: vg.Points(2.5), Shape: glyphs[i%len(glyphs)]}
	return ls, gs
}

// withAlpha returns c at the given opacity (premultiplied, as color.RGBA
// requires).
func withAlpha(c color.Color, a float64) color.Color {
	r, g, b, _ := c.RGBA()
	return color.RGBA{
		R: uint8(float64(r>>8) * a), G: uint8(float64(g>>8) * a),
		B: uint8(float64(b>>8) * a), A: uint8(255 * a),
	}
}

// fontSans is the typeface of every text: Liberation Sans, registered by
// gonum/plot from an embedded copy, so rendering never depends on the
// machine's fonts.
var fontSans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// newPlot returns a plot with the house fonts and a light grid.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(fontSans, 11)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(fontSans, 10)
		a.Tick.Label.Font = font.From(fontSans, 8)
	}
	p.Legend.TextStyle.Font = font.From(fontSans, 8)
	return p
}

// smallText returns a text style for annotations.
func smallText(c color.Color) draw.TextStyle {
	return draw.TextStyle{
		Color:   c,
		Font:    font.From(fontSans, 7),
		Handler: plot.DefaultTextHandler,
	}
}

// timeUnit picks the unit of a time axis spanning span seconds: seconds,
// minutes or hours, so tick labels stay short.
func timeUnit(span float64) (div float64, name string) {
	switch {
	case span >= 3*3600:
		return 3600, "h"
	case span >= 3*60:
		return 60, "min"
	}
	return 1, "s"
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

var whiteColor = color.White

// secondTicks marks a log-scaled axis of seconds at round durations
// (30 s, 1 min, 2 min, 5 min, ...) instead of powers of ten only.
type secondTicks struct{}

var roundSeconds = []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 14400, 28800, 86400}

func (secondTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for _, v := range roundSeconds {
		if v >= lo*0.999 && v <= hi*1.001 {
			ts = append(ts, plot.Tick{Value: v, Label: fmtNum(v)})
		}
	}
	if len(ts) > 8 { // keep every other label when crowded
		for i := range ts {
			if i%2 == 1 {
				ts[i].Label = ""
			}
		}
	}
	if len(ts) < 2 {
		return plot.LogTicks{Prec: -1}.Ticks(lo, hi)
	}
	return ts
}

var transparent = color.Transparent
