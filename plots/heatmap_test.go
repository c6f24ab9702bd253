package plots

import (
	"image/color"
	"math"
	"slices"
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
	if g.SurviveMetric != MetricOnTime || !contains(f.Panels[0].Title.Text, "outlined: on-time ratio ≥ 0.99") {
		t.Errorf("survival by %s, title %q; want the on-time ratio", g.SurviveMetric, f.Panels[0].Title.Text)
	}
	checkGolden(t, f)
}

// TestHeatMapLateIsNotSurvival: 900 s behind a 300 s NAT delivers 99.5%
// of pushes in the end (QoS 1 redelivery) but only 20% on time; its cell
// must not be outlined. Results without the on-time metric fall back to
// delivery ratio, which is all they have.
func TestHeatMapLateIsNotSurvival(t *testing.T) {
	cellOf := func(g Grid, x, y float64) (int, int) { return slices.Index(g.X, x), slices.Index(g.Y, y) }
	outlined := func(g Grid, i, j int) bool {
		for _, r := range survivors(&g, DefaultSurvivalThreshold) {
			if int(r.X0+0.5) == i && int(r.Y0+0.5) == j {
				return true
			}
		}
		return false
	}
	grids, err := HeatGrids(readSynthSweep(t), HeatMapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := grids[0]
	i, j := cellOf(g, 900, 300)
	if g.Metric != MetricOnTime || math.Abs(g.Z[i][j]-0.2) > 1e-9 {
		t.Errorf("colour metric %s = %g at 900 s/300 s, want on-time 0.2", g.Metric, g.Z[i][j])
	}
	if outlined(g, i, j) {
		t.Error("900 s behind a 300 s NAT is outlined as surviving, but only 20% of pushes are on time")
	}
	if i, j := cellOf(g, 240, 300); !outlined(g, i, j) {
		t.Error("240 s behind a 300 s NAT is not outlined")
	}
	f, err := HeatMap(g, HeatMapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.side.Y.Label.Text; got != "on-time ratio (≤ 60 s)" {
		t.Errorf("colour bar label %q, want the on-time ratio with its deadline", got)
	}
	// Old results: delivery ratio is the survival measure.
	old, err := HeatGrids(readSynthSweepFormat(t, false), HeatMapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if old[0].SurviveMetric != MetricDelivery || old[0].Metric != MetricDelivery {
		t.Errorf("sweep without ontime_ratio: survival %s, colour %s; want delivery_ratio", old[0].SurviveMetric, old[0].Metric)
	}
}

// TestHeatPaletteUniform checks the heat map palette's claims
// (docs/plots.md): CIELAB lightness rises strictly from black to white,
// for normal vision and as a deuteranope sees it (Machado et al. 2009),
// and no step between neighbouring colours is much smaller than the
// average, so equal differences in value look about equally different.
func TestHeatPaletteUniform(t *testing.T) {
	g := Grid{Metric: MetricOnTime}
	cols := heatColorMap(&g).Palette(heatLevels).Colors()
	for _, sim := range []struct {
		name string
		f    func(r, g, b float64) (float64, float64, float64)
		min  float64 // smallest step / mean step
	}{{"normal vision", func(r, g, b float64) (float64, float64, float64) { return r, g, b }, 0.6}, {"deuteranopia", deuteranope, 0.45}} {
		var prev [3]float64
		var steps []float64
		for i, c := range cols {
			r, gg, b, _ := c.RGBA()
			lab := cielab(sim.f(float64(r)/0xffff, float64(gg)/0xffff, float64(b)/0xffff))
			if i > 0 {
				if lab[0] <= prev[0] {
					t.Errorf("%s: lightness falls or stalls at level %d (%.1f after %.1f)", sim.name, i, lab[0], prev[0])
				}
				steps = append(steps, math.Sqrt((lab[0]-prev[0])*(lab[0]-prev[0])+(lab[1]-prev[1])*(lab[1]-prev[1])+(lab[2]-prev[2])*(lab[2]-prev[2])))
			}
			prev = lab
		}
		mean, least := 0.0, math.Inf(1)
		for _, d := range steps {
			mean += d / float64(len(steps))
			least = min(least, d)
		}
		if least < sim.min*mean {
			t.Errorf("%s: smallest colour step %.2f is under %.2f of the mean step %.2f", sim.name, least, sim.min, mean)
		}
	}
}

// srgbLinear and srgbEncode convert between sRGB and linear light.
func srgbLinear(c float64) float64 {
	if c <= 0.04045 {
		return c / 12.92
	}
	return math.Pow((c+0.055)/1.055, 2.4)
}

func srgbEncode(c float64) float64 {
	c = math.Max(0, math.Min(1, c))
	if c <= 0.0031308 {
		return 12.92 * c
	}
	return 1.055*math.Pow(c, 1/2.4) - 0.055
}

// cielab converts sRGB in [0, 1] to CIELAB (D65).
func cielab(r, g, b float64) [3]float64 {
	r, g, b = srgbLinear(r), srgbLinear(g), srgbLinear(b)
	x := (0.4124*r + 0.3576*g + 0.1805*b) / 0.95047
	y := 0.2126*r + 0.7152*g + 0.0722*b
	z := (0.0193*r + 0.1192*g + 0.9505*b) / 1.08883
	f := func(t float64) float64 {
		if t > 0.008856 {
			return math.Cbrt(t)
		}
		return 7.787*t + 16.0/116
	}
	return [3]float64{116*f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))}
}

// deuteranope simulates full deuteranopia (Machado, Oliveira and
// Fernandes 2009, severity 1.0) on an sRGB colour.
func deuteranope(r, g, b float64) (float64, float64, float64) {
	r, g, b = srgbLinear(r), srgbLinear(g), srgbLinear(b)
	return srgbEncode(0.367322*r + 0.860646*g - 0.227968*b),
		srgbEncode(0.280085*r + 0.672501*g + 0.047413*b),
		srgbEncode(-0.011820*r + 0.042940*g + 0.968881*b)
}

func TestHeatMapNeedsTimeoutAxis(t *testing.T) {
	s := &SweepSummary{Params: []string{"groups.phones.strategy.interval"}}
	if _, err := HeatGrids(s, HeatMapOptions{}); err == nil || !contains(err.Error(), "timeout") {
		t.Errorf("err = %v, want one naming the missing timeout axis", err)
	}
}
