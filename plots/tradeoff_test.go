package plots

import (
	"os"
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
			if !(c.DeliveryLo[j] <= c.Delivery[j] && c.Delivery[j] <= c.DeliveryHi[j]) {
				t.Errorf("%s x=%g: CI [%g, %g] does not hold mean %g", c.Label, c.X[j], c.DeliveryLo[j], c.DeliveryHi[j], c.Delivery[j])
			}
		}
	}
	// Energy falls with the interval, so the cheapest knee is the longest:
	// the 1800 s timeout's 1200 s interval.
	ci, pi := OperatingPoint(curves)
	if ci < 0 || curves[ci].X[pi] != 1200 {
		t.Errorf("OperatingPoint = curve %d point %d", ci, pi)
	}
}

func TestTradeOffRender(t *testing.T) {
	s := readSynthSweep(t)
	f, err := TradeOff(s, TradeOffOptions{})
	if err != nil {
		t.Fatal(err)
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
