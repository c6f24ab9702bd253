package plots

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSynthPresenceSweep writes the sweep.csv of a presence sweep: a tied
// heartbeat axis (strategy interval and MQTT keep-alive K move together),
// two replicates, and the presence columns after the usual ones. The
// model: a device vanishing at a uniform instant is declared gone 0.5 K to
// 1.5 K later (p50 K, p99 1.49 K); energy falls as 1/K; the NAT times out
// at 300 s.
func writeSynthPresenceSweep(t testing.TB, dir string, ks []float64) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("point,replicate,seed,groups.phones.strategy.interval+groups.phones.push_keepalive,group,delivery_ratio,latency_p50_s,latency_p99_s,energy_j_per_device_day,keepalives_per_device_hour,reconnects_per_device_day,mean_interval_s,ontime_ratio,on_time_s,server_detection_p50_s,server_detection_p99_s,nat_timeout_s\n")
	for pt, k := range ks {
		for r := range 2 {
			jit := 1 + 0.01*float64(2*r-1)
			fmt.Fprintf(&b, "%d,%d,%d,%g,phones,1,0.1,0.3,%g,%g,0,%g,1,60,%g,%g,300\n", pt, r, 100+2*pt+r, k, synthEnergy(k)*jit, 3600/k, k, k*jit, 1.49*k*jit)
		}
	}
	p := filepath.Join(dir, SweepFile)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readSynthPresence(t *testing.T) *SweepSummary {
	t.Helper()
	return readSweepFile(t, writeSynthPresenceSweep(t, t.TempDir(), []float64{10, 20, 30, 60, 120, 240}))
}

func TestPresenceCurvesFromSweep(t *testing.T) {
	s := readSynthPresence(t)
	if !HasPresence(s) {
		t.Fatal("HasPresence is false")
	}
	cs, err := PresenceCurves(s, s.Params[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Label != "phones" || len(cs[0].X) != 6 {
		t.Fatalf("curves %+v, want one of 6 points for phones", cs)
	}
	c := cs[0]
	// Replicates 0.99 K and 1.01 K average to K.
	for i, k := range c.X {
		if d := c.P50[i] - k; d > 1e-9 || d < -1e-9 {
			t.Errorf("p50 at K=%g is %g, want K", k, c.P50[i])
		}
	}
	if c.NATTimeoutS != 300 {
		t.Errorf("NAT timeout %g, want 300", c.NATTimeoutS)
	}
}

func TestPresenceRender(t *testing.T) {
	f, err := Presence(readSynthPresence(t))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "presence" || len(f.Panels) != 2 {
		t.Fatalf("figure %s with %d panels", f.Name, len(f.Panels))
	}
	var line *vLine
	for _, n := range f.notes {
		if l, ok := n.(vLine); ok {
			line = &l
		}
	}
	if line == nil || line.X != 300 || line.Label != "NAT timeout 300 s" {
		t.Fatalf("NAT timeout mark %+v, want at 300 s", line)
	}
	// The timeout lies beyond the swept intervals: the axis reaches it.
	if f.Panels[0].X.Max < 300 {
		t.Errorf("x axis ends at %g, before the NAT timeout", f.Panels[0].X.Max)
	}
	checkGolden(t, f)
}

// A sweep without presence metrics has no presence figure; asked for by
// name, Render says why.
func TestPresenceNeedsPresenceMetrics(t *testing.T) {
	s := readSynthSweep(t)
	if HasPresence(s) {
		t.Fatal("HasPresence on a sweep without presence columns")
	}
	if _, err := Presence(s); err == nil || !strings.Contains(err.Error(), MetricDetectionP50) {
		t.Errorf("Presence: %v", err)
	}
	dir := t.TempDir()
	writeSynthSweep(t, dir, synthIntervals, synthTimeouts, 2)
	if _, err := Render(dir, Options{Figures: []string{"presence"}}); err == nil {
		t.Error("Render drew a presence figure from a sweep without presence metrics")
	}
	files, err := Render(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.Contains(f, "presence") {
			t.Errorf("default Render drew %s", f)
		}
	}
}
