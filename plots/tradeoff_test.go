package plots

import (
	"math"
	"os"
	"slices"
	"testing"
)

func TestKnee(t *testing.T) {
	x := []float64{30, 60, 120, 240, 300, 600}
	for _, tc := range []struct {
		name string
		d    []float64
		tol  float64
		want int
	}{
		{"plateau then fall", []float64{0.99, 0.995, 0.99, 0.989, 0.5, 0.3}, 0.01, 3},
		{"lucky point after fall does not count", []float64{0.99, 0.99, 0.7, 0.99, 0.5, 0.3}, 0.01, 1},
		{"best in the middle", []float64{0.9, 0.95, 0.99, 0.985, 0.5, 0.3}, 0.01, 3},
		{"never falls", []float64{1, 1, 1, 1, 1, 1}, 0.01, 5},
		{"NaN skipped", []float64{1, nan, 1, 0.2, 0.1, 0}, 0.01, 2},
		{"all NaN", []float64{nan, nan, nan, nan, nan, nan}, 0.01, -1},
	} {
		if got := Knee(x, tc.d, tc.tol); got != tc.want {
			t.Errorf("%s: Knee = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestCurvesKneeFromData(t *testing.T) {
	s := readSynthSweep(t)
	axes, err := PickAxes(s.Params)
	if err != nil {
		t.Fatal(err)
	}
	if axes.X != "groups.phones.strategy.interval" || axes.Y != "nats.cgnat.timeouts.tcp_established" || len(axes.Series) != 0 {
		t.Fatalf("PickAxes = %+v", axes)
	}
	curves, err := Curves(s, axes, DefaultKneeTolerance)
	if err != nil {
		t.Fatal(err)
	}
	if len(curves) != len(synthTimeouts) {
		t.Fatalf("%d curves, want one per timeout (%d)", len(curves), len(synthTimeouts))
	}
	// The synthetic connection survives while interval < timeout, so each
	// curve's knee is the longest interval below its timeout.
	wantKnee := map[string]float64{
		"tcp_established=120": 60, "tcp_established=300": 240,
		"tcp_established=600": 480, "tcp_established=1800": 1200,
	}
	for i, c := range curves {
		if c.Label != []string{"tcp_established=120", "tcp_established=300", "tcp_established=600", "tcp_established=1800"}[i] {
			t.Errorf("curve %d label %q: want numeric order", i, c.Label)
		}
		if c.Knee < 0 || c.X[c.Knee] != wantKnee[c.Label] {
			t.Errorf("%s: knee at index %d, want interval %g", c.Label, c.Knee, wantKnee[c.Label])
		}
		for j := range c.X {
			if !(c.RatioLo[j] <= c.Ratio[j] && c.Ratio[j] <= c.RatioHi[j]) {
				t.Errorf("%s x=%g: CI [%g, %g] does not hold mean %g", c.Label, c.X[j], c.RatioLo[j], c.RatioHi[j], c.Ratio[j])
			}
		}
	}
	// The operating point must hold for the whole population: the longest
	// interval where the strictest NAT (120 s) still meets the target is
	// 60 s, although the cheapest knee (the old rule) is 1800 s's 1200 s.
	op, ok := OperatingPoint(curves, DefaultTarget)
	if !ok || op.X != 60 {
		t.Fatalf("OperatingPoint = %+v, %v; want 60 s", op, ok)
	}
	if op.WorstLabel != "tcp_established=120" || op.Worst < DefaultTarget {
		t.Errorf("worst series %q at %g, want tcp_established=120 at >= %g", op.WorstLabel, op.Worst, DefaultTarget)
	}
	if want := synthEnergy(60); math.Abs(op.EnergyMax-want) > 1e-6*want || math.Abs(op.EnergyMin-want) > 1e-6*want {
		t.Errorf("energy at the operating point %g..%g, want %g", op.EnergyMin, op.EnergyMax, want)
	}
	// Every series meets the target there, and no longer interval holds
	// on all of them: the definition, checked against the curves.
	for _, x := range synthIntervals {
		worst := math.Inf(1)
		for _, c := range curves {
			worst = min(worst, c.Ratio[slices.Index(c.X, x)])
		}
		if x > op.X && worst >= DefaultTarget {
			t.Errorf("interval %g s meets the target on every series (worst %g) but is longer than the operating point", x, worst)
		}
		if x == op.X && worst < DefaultTarget {
			t.Errorf("operating point %g s: worst series %g < target", x, worst)
		}
	}
}

// TestCurvesUseOnTime: with QoS 1 a dead connection still delivers
// nearly everything eventually; the curves must judge by the on-time
// ratio, and fall back to delivery ratio for sweeps without it.
func TestCurvesUseOnTime(t *testing.T) {
	for _, tc := range []struct {
		onTime bool
		metric string
	}{{true, MetricOnTime}, {false, MetricDelivery}} {
		s := readSynthSweepFormat(t, tc.onTime)
		m, deadline := RatioMetric(s)
		if m != tc.metric || (tc.onTime && deadline != 60) || (!tc.onTime && finite(deadline)) {
			t.Errorf("on-time columns %v: RatioMetric = %s, %g", tc.onTime, m, deadline)
		}
		curves, err := Curves(s, SweepAxes{X: "groups.phones.strategy.interval"}, DefaultKneeTolerance)
		if err != nil {
			t.Fatal(err)
		}
		// 900 s behind a 300 s NAT: on time 0.6*300/900 = 0.2.
		c := curves[1]
		if c.Label != "tcp_established=300" {
			t.Fatalf("curve 1 is %s", c.Label)
		}
		if r := c.Ratio[slices.Index(c.X, 900)]; math.Abs(r-0.2) > 1e-9 {
			t.Errorf("on-time columns %v: ratio at 900 s/300 s = %g, want the on-time 0.2", tc.onTime, r)
		}
	}
}

func TestOperatingPointWholePopulation(t *testing.T) {
	x := []float64{60, 120, 300, 600, 900}
	lenient := Curve{Label: "lenient", X: x, Ratio: []float64{1, 1, 1, 1, 1}, Energy: []float64{50, 40, 30, 20, 10}}
	strict := Curve{Label: "strict", X: x, Ratio: []float64{1, 0.995, 0.5, 0.4, 0.3}, Energy: []float64{52, 43, 60, 70, 80}}
	op, ok := OperatingPoint([]Curve{lenient, strict}, 0.99)
	if !ok || op.X != 120 || op.WorstLabel != "strict" || op.Worst != 0.995 || op.EnergyMin != 40 || op.EnergyMax != 43 {
		t.Errorf("OperatingPoint = %+v, %v; want 120 s, worst strict 0.995, energy 40..43", op, ok)
	}
	// A series that lacks an interval does not hold there.
	short := Curve{Label: "short", X: x[:1], Ratio: []float64{1}, Energy: []float64{50}}
	if op, ok := OperatingPoint([]Curve{lenient, short}, 0.99); !ok || op.X != 60 {
		t.Errorf("with a series swept only at 60 s: %+v, %v; want 60 s", op, ok)
	}
	if _, ok := OperatingPoint([]Curve{lenient, strict}, 1.01); ok {
		t.Error("an unreachable target gave an operating point")
	}
	// Just past a NAT's timeout every keep-alive fails but the device
	// reconnects within the deadline: the ratio holds at 310 s, yet the
	// reconnects cost more than keep-alives at 270 s, which wins.
	x = []float64{120, 270, 310}
	cheap := Curve{Label: "nat-1800", X: x, Ratio: []float64{1, 1, 1}, Energy: []float64{11000, 6000, 5700}}
	past := Curve{Label: "nat-300", X: x, Ratio: []float64{1, 1, 1}, Energy: []float64{11000, 6100, 11900}}
	if op, ok := OperatingPoint([]Curve{cheap, past}, 0.99); !ok || op.X != 270 || op.EnergyMax != 6100 {
		t.Errorf("OperatingPoint = %+v, %v; want 270 s (worst-case energy 6100 < 11900 at 310 s)", op, ok)
	}
	// Equal worst-case energy: the longer interval.
	flat := Curve{Label: "flat", X: x, Ratio: []float64{1, 1, 1}, Energy: []float64{5, 5, 5}}
	if op, _ := OperatingPoint([]Curve{flat}, 0.99); op.X != 310 {
		t.Errorf("with equal energy everywhere: %v s, want the longest, 310 s", op.X)
	}
}

func TestTradeOffRender(t *testing.T) {
	s := readSynthSweep(t)
	f, err := TradeOff(s, TradeOffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Panels[0].Y.Label.Text; got != "on-time ratio (≤ 60 s)" {
		t.Errorf("top panel y label %q, want the on-time ratio with its deadline", got)
	}
	var op *Operating
	var line *vLine
	for _, n := range f.notes {
		switch n := n.(type) {
		case Operating:
			op = &n
		case vLine:
			line = &n
		}
	}
	if op == nil || op.X != 60 || line == nil || line.X != 60 {
		t.Fatalf("operating point %+v, line %+v; want both at 60 s", op, line)
	}
	for _, want := range []string{"operating point 60 s", "on-time ≥ 0.99 on all 4 series", "worst 0.99"} {
		if !contains(line.Label, want) {
			t.Errorf("operating point label %q lacks %q", line.Label, want)
		}
	}
	checkGolden(t, f)
}

func TestReadSweepErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ body, want string }{
		{"", "empty file"},
		{"point,replicate,group\n", `missing column "seed"`},
		{"point,replicate,seed,x.interval,group,delivery_ratio\n0,0,1,30,g,abc\n", "sweep.csv:2: column delivery_ratio: \"abc\" is not a number"},
	} {
		p := dir + "/sweep.csv"
		os.WriteFile(p, []byte(tc.body), 0o644)
		f, _ := os.Open(p)
		_, err := ReadSweep(f, "sweep.csv")
		f.Close()
		if err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("body %q: err = %v, want %q", tc.body, err, tc.want)
		}
	}
}
