package plots

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Format is an output file format.
type Format string

// Output formats. PNG is a raster at Options.DPI; SVG and PDF are vector
// files with their fonts embedded.
const (
	PNG Format = "png"
	SVG Format = "svg"
	PDF Format = "pdf"
)

// ParseFormat returns the Format named by s ("png", "svg" or "pdf", any
// case, with or without a leading dot).
func ParseFormat(s string) (Format, error) {
	f := Format(strings.TrimPrefix(strings.ToLower(s), "."))
	switch f {
	case PNG, SVG, PDF:
		return f, nil
	}
	return "", fmt.Errorf("plots: unknown format %q (want png, svg or pdf)", s)
}

// Default figure size and raster resolution.
const (
	DefaultWidth  = 16 * vg.Centimeter
	DefaultHeight = 10 * vg.Centimeter
	DefaultDPI    = 144
)

// Figure is one drawable figure: a column of panels that share their x
// axis (aligned with plot.Align) and an optional side strip on the right
// for a legend or a colour bar, so that neither covers data.
type Figure struct {
	// Name is the file name stem Render uses, e.g. "tradeoff".
	Name string
	// Width and Height are the figure's size; zero means the defaults.
	Width, Height vg.Length
	// Panels are the panels from top to bottom.
	Panels []*plot.Plot

	legend  *sideLegend // drawn in the side strip when not nil
	side    *plot.Plot  // drawn in the side strip (colour bar) when not nil
	sideW   vg.Length
	heights []float64 // relative panel heights; nil means equal
	// notes keeps the annotations added to the panels (quantile marks,
	// timeout lines, totals), so tests can check where they are.
	notes []any
}

const sidePad = 2 * vg.Millimeter

// Draw draws the figure on c.
func (f *Figure) Draw(c draw.Canvas) {
	f.layout(c, true)
}

// layout draws the figure (when paint is set) and returns the canvas each
// panel was drawn on, so that tests can map data to pixels.
func (f *Figure) layout(c draw.Canvas, paint bool) []draw.Canvas {
	if paint {
		c.SetColor(whiteColor)
		c.Fill(c.Rectangle.Path())
	}
	main := c
	if f.legend != nil || f.side != nil {
		w := f.sideW
		if w == 0 {
			w = 3 * vg.Centimeter
		}
		main.Max.X -= w
		side := c
		side.Min.X = main.Max.X + sidePad
		side.Max.Y -= vg.Centimeter // below the first panel's title
		if paint {
			if f.legend != nil {
				f.legend.Draw(side)
			}
			if f.side != nil {
				f.side.Draw(side)
			}
		}
	}
	canvases := make([]draw.Canvas, len(f.Panels))
	if len(f.Panels) == 0 {
		return canvases
	}
	// plot.Align makes equal tiles; unequal heights come from aligning each
	// panel in a tile of its own share of the height and then aligning
	// their data canvases on x by hand.
	tiles := alignColumn(f.Panels, f.heights, main)
	for i, p := range f.Panels {
		canvases[i] = tiles[i]
		if paint {
			p.Draw(tiles[i])
		}
	}
	return canvases
}

// alignColumn lays out panels top to bottom with the given relative
// heights, aligning their data areas on x like plot.Align.
func alignColumn(ps []*plot.Plot, heights []float64, c draw.Canvas) []draw.Canvas {
	if heights == nil {
		col := make([][]*plot.Plot, len(ps))
		for i, p := range ps {
			col[i] = []*plot.Plot{p}
		}
		cs := plot.Align(col, draw.Tiles{Rows: len(ps), Cols: 1, PadY: vg.Millimeter, PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadRight: vg.Millimeter}, c)
		out := make([]draw.Canvas, len(ps))
		for i := range cs {
			out[i] = cs[i][0]
		}
		return out
	}
	var total float64
	for _, h := range heights {
		total += h
	}
	out := make([]draw.Canvas, len(ps))
	y := c.Max.Y
	full := c.Max.Y - c.Min.Y
	var left, right vg.Length
	for i, p := range ps {
		t := c
		t.Max.Y = y
		t.Min.Y = y - full*vg.Length(heights[i]/total)
		y = t.Min.Y
		out[i] = t
		dc := p.DataCanvas(t)
		left = max(left, dc.Min.X-t.Min.X)
		right = max(right, t.Max.X-dc.Max.X)
	}
	for i, p := range ps {
		dc := p.DataCanvas(out[i])
		out[i].Min.X += left - (dc.Min.X - out[i].Min.X)
		out[i].Max.X -= right - (out[i].Max.X - dc.Max.X)
	}
	return out
}

// size returns the figure's size with defaults applied.
func (f *Figure) size() (vg.Length, vg.Length) {
	w, h := f.Width, f.Height
	if w <= 0 {
		w = DefaultWidth
	}
	if h <= 0 {
		h = DefaultHeight
	}
	return w, h
}

// Encode writes the figure to w in format at dpi (PNG only; zero means
// DefaultDPI). The output depends on nothing but the figure: no timestamp,
// no random identifier.
func (f *Figure) Encode(w io.Writer, format Format, dpi int) error {
	width, height := f.size()
	var cw vg.CanvasWriterTo
	switch format {
	case PNG, "":
		if dpi <= 0 {
			dpi = DefaultDPI
		}
		cw = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(dpi))}
	case SVG:
		cw = vgsvg.NewWith(vgsvg.UseWH(width, height), vgsvg.EmbedFonts(true))
	case PDF:
		pdfDefaults.Do(func() {
			// fpdf stamps time.Now as CreationDate and leaves catalogue
			// order to map iteration unless told otherwise.
			epoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
			fpdf.SetDefaultCreationDate(epoch)
			fpdf.SetDefaultModificationDate(epoch)
			fpdf.SetDefaultCatalogSort(true)
		})
		pc := vgpdf.New(width, height)
		pc.EmbedFonts(true)
		cw = pc
	default:
		return fmt.Errorf("plots: figure %s: unknown format %q", f.Name, format)
	}
	f.Draw(draw.New(cw))
	if _, err := cw.WriteTo(w); err != nil {
		return fmt.Errorf("plots: figure %s: encode %s: %w", f.Name, format, err)
	}
	return nil
}

var pdfDefaults sync.Once

// Save writes the figure to path in the format its extension names.
func (f *Figure) Save(path string, dpi int) error {
	format, err := ParseFormat(filepath.Ext(path))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := f.Encode(&buf, format, dpi); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("plots: figure %s: %w", f.Name, err)
	}
	return nil
}
