package plots

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
)

func TestLatencyCDFMarksQuantiles(t *testing.T) {
	s := synthSummary()
	f, err := LatencyCDF(s.Groups)
	if err != nil {
		t.Fatal(err)
	}
	var got []marks
	for _, pl := range f.notes {
		if m, ok := pl.(marks); ok {
			got = append(got, m)
		}
	}
	if len(got) != len(s.Groups) {
		t.Fatalf("%d quantile mark sets, want one per group", len(got))
	}
	for i, g := range s.Groups {
		m := got[i]
		if len(m.X) != 2 || m.X[0] != g.LatencyS.P50 || m.X[1] != g.LatencyS.P99 || m.Y[0] != 0.5 || m.Y[1] != 0.99 {
			t.Errorf("group %s marks at %v,%v; want p50 %g at 0.5 and p99 %g at 0.99", g.Name, m.X, m.Y, g.LatencyS.P50, g.LatencyS.P99)
		}
		if !strings.HasPrefix(m.Labels[1], "p99 ") {
			t.Errorf("label %q", m.Labels[1])
		}
	}
	if f.Panels[0].X.Min <= 0 {
		t.Errorf("log axis minimum %g", f.Panels[0].X.Min)
	}
	checkGolden(t, f)
}

func TestLatencyCDFNoData(t *testing.T) {
	if _, err := LatencyCDF([]GroupSummary{{Name: "g"}}); err == nil {
		t.Error("no error for groups without latency points")
	}
}

func TestEnergyBreakdown(t *testing.T) {
	s := synthSummary()
	f, err := EnergyBreakdown(s.Groups)
	if err != nil {
		t.Fatal(err)
	}
	// The stack's top equals each group's total.
	if y := f.Panels[0].Y.Max; y < 300 {
		t.Errorf("y max %g below the tallest stack (300 J)", y)
	}
	var tot marks
	for _, pl := range f.notes {
		if m, ok := pl.(marks); ok {
			tot = m
		}
	}
	if len(tot.Y) != 2 || tot.Y[0] != 300 || tot.Y[1] != 200 {
		t.Errorf("totals %v, want [300 200]", tot.Y)
	}
	checkGolden(t, f)
	bad := synthSummary().Groups
	bad[0].EnergyByCauseJPerDeviceDay["push"] = math.NaN()
	if _, err := EnergyBreakdown(bad); err == nil || !strings.Contains(err.Error(), "push") {
		t.Errorf("err = %v, want one naming the bad cause", err)
	}
}

// synthTimeseries is a day in 60 s buckets: 100 devices connected, a NAT
// reboot at 12 h drops them all and they reconnect in a storm; an adaptive
// group's interval climbs towards the 300 s CGNAT timeout.
func synthTimeseries() []Sample {
	var out []Sample
	for t := 0.0; t < 86400; t += 60 {
		conn, rec, half := 100.0, 0.0, 0.0
		if t >= 43200 && t < 43200+600 {
			conn, half = 100*(t-43200)/600, 100-100*(t-43200)/600
			rec = 10
		}
		iv := 280 - 250*math.Exp(-t/7200)
		out = append(out,
			Sample{t, "all", MetricServerOpen, conn + half},
			Sample{t, "all", MetricServerHalfOpen, half},
			Sample{t, "phones", MetricConnected, conn},
			Sample{t, "phones", MetricReconnects, rec},
			Sample{t, "adaptive", MetricMeanInterval, math.Round(iv)},
		)
	}
	return out
}

func TestServerView(t *testing.T) {
	f, err := ServerView(synthTimeseries())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Panels) != 2 || f.Panels[0].X.Max != f.Panels[1].X.Max {
		t.Fatalf("panels do not share x")
	}
	// The storm is 10 reconnects per 60 s bucket = 10 per minute.
	if y := f.Panels[1].Y.Max; math.Abs(y-10) > 1e-9 {
		t.Errorf("peak reconnect rate %g per minute, want 10", y)
	}
	checkGolden(t, f)
}

func TestConvergence(t *testing.T) {
	s := synthSummary()
	f, err := Convergence(synthTimeseries(), s.NATs)
	if err != nil {
		t.Fatal(err)
	}
	var ys []float64
	for _, pl := range f.notes {
		if h, ok := pl.(hLine); ok {
			ys = append(ys, h.Y)
		}
	}
	if fmt.Sprint(ys) != "[3600 300]" {
		t.Errorf("timeout lines at %v, want [3600 300]", ys)
	}
	checkGolden(t, f)
	if _, err := Convergence(nil, nil); err == nil {
		t.Error("no error without mean_interval_s samples")
	}
}

func TestDecimateKeepsSpikes(t *testing.T) {
	xys := make(plotter.XYs, 100000)
	for i := range xys {
		xys[i] = plotter.XY{X: float64(i)}
	}
	xys[54321].Y = 99
	d := decimate(xys, 1000)
	if len(d) > 1002 {
		t.Fatalf("%d points after decimation", len(d))
	}
	found := false
	for i, p := range d {
		if p.Y == 99 {
			found = true
		}
		if i > 0 && p.X < d[i-1].X {
			t.Fatal("decimation broke x order")
		}
	}
	if !found {
		t.Error("spike lost")
	}
}
