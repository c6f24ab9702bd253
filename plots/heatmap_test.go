package plots

import (
	"image/color"
	"testing"

	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// pixelAt renders f and returns the colour at data point (x, y) of panel.
func pixelAt(t *testing.T, f *Figure, panel int, x, y float64) color.Color {
	t.Helper()
	w, h := f.size()
	const dpi = 72 // one pixel per point
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	dc := draw.New(c)
	cs := f.layout(dc, true)
	p := f.Panels[panel]
	da := p.DataCanvas(cs[panel])
	tx, ty := p.Transforms(&da)
	img := c.Image()
	px, py := int(tx(x).Points()), img.Bounds().Dy()-int(ty(y).Points())
	return img.At(px, py)
}

func sameColor(a, b color.Color) bool {
	r1, g1, b1, _ := a.RGBA()
	r2, g2, b2, _ := b.RGBA()
	d := func(u, v uint32) bool { return u>>8 == v>>8 || u>>8 == v>>8+1 || u>>8+1 == v>>8 }
	return d(r1, r2) && d(g1, g2) && d(b1, b2)
}

func TestHeatGridsAndCellColour(t *testing.T) {
	s := readSynthSweep(t)
	grids, err := HeatGrids(s, HeatMapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(grids) != 1 || len(grids[0].X) != len(synthIntervals) || len(grids[0].Y) != len(synthTimeouts) {
		t.Fatalf("grids = %d, dims %dx%d", len(grids), len(grids[0].X), len(grids[0].Y))
	}
	g := grids[0]
	// Interval 600 s (index 6) under a 300 s timeout (index 1): the model
	// gives 0.6*300/600 = 0.3, replicates average out.
	if z := g.Z[6][1]; z < 0.299 || z > 0.301 {
		t.Fatalf("Z[600 s][300 s] = %g, want 0.3", z)
	}
	f, err := HeatMap(g, HeatMapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm := heatColorMap(&g)
	for _, c := range []struct{ i, j int }{{6, 1}, {0, 3}, {9, 0}} {
		want := cellColor(cm, g.Z[c.i][c.j])
		got := pixelAt(t, f, 0, float64(c.i), float64(c.j))
		if !sameColor(got, want) {
			t.Errorf("cell (%g s, %g s) value %g: pixel %v, want palette colour %v", g.X[c.i], g.Y[c.j], g.Z[c.i][c.j], got, want)
		}
	}
	// The outlined cells are those with interval < timeout: 2+4+6+9.
	alive := survivors(&g, DefaultSurvivalThreshold)
	if len(alive) != 21 {
		t.Errorf("%d surviving cells, want 21", len(alive))
	}
	for _, r := range alive {
		x, y := g.X[int(r.X0+0.5)], g.Y[int(r.Y0+0.5)]
		if x >= y {
			t.Errorf("cell (%g s, %g s) outlined, but the connection dies there", x, y)
		}
	}
	checkGolden(t, f)
}

func TestHeatMapNeedsTimeoutAxis(t *testing.T) {
	s := &SweepSummary{Params: []string{"groups.phones.strategy.interval"}}
	if _, err := HeatGrids(s, HeatMapOptions{}); err == nil || !contains(err.Error(), "timeout") {
		t.Errorf("err = %v, want one naming the missing timeout axis", err)
	}
}
