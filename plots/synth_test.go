package plots

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Synthetic results written by the tests, following docs/results.md.

var (
	synthIntervals = []float64{30, 60, 120, 240, 300, 480, 600, 900, 1200, 1800}
	synthTimeouts  = []float64{120, 300, 600, 1800}
)

// synthOnTime is the model behind the synthetic sweep: the connection
// survives while the interval is below the NAT timeout; past it, only the
// pushes that happen to find the connection up arrive on time.
func synthOnTime(interval, timeout float64) float64 {
	if interval < timeout {
		return 0.998
	}
	return 0.6 * timeout / interval
}

// synthDelivery is the eventual delivery ratio of the synthetic sweep:
// with QoS 1 and persistent sessions nearly every push arrives in the
// end, late or not, so it barely moves where the on-time ratio collapses.
func synthDelivery(interval, timeout float64) float64 {
	if interval < timeout {
		return 0.9995
	}
	return 0.995
}

func synthEnergy(interval float64) float64 { return 20 + 0.5*86400/interval }

// writeSynthSweep writes sweep.csv with reps replicates per point of the
// interval x timeout grid and returns its path: the current format, with
// ontime_ratio and on_time_s (60 s) columns.
func writeSynthSweep(t testing.TB, dir string, intervals, timeouts []float64, reps int) string {
	return writeSynthSweepFormat(t, dir, intervals, timeouts, reps, true)
}

// writeSynthSweepFormat writes sweep.csv, with the on-time columns or
// (onTime false) as results written before they existed, whose only
// survival measure is delivery_ratio (which then follows synthOnTime).
func writeSynthSweepFormat(t testing.TB, dir string, intervals, timeouts []float64, reps int, onTime bool) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("point,replicate,seed,groups.phones.strategy.interval,nats.cgnat.timeouts.tcp_established,group,delivery_ratio,latency_p50_s,latency_p99_s,energy_j_per_device_day,keepalives_per_device_hour,reconnects_per_device_day,mean_interval_s")
	if onTime {
		b.WriteString(",ontime_ratio,on_time_s")
	}
	b.WriteString("\n")
	point := 0
	for _, to := range timeouts {
		for _, iv := range intervals {
			for r := range reps {
				jit := 0.002 * float64(r-reps/2)
				ot := math.Min(1, synthOnTime(iv, to)+jit)
				d := ot
				if onTime {
					d = math.Min(1, synthDelivery(iv, to)+jit/10)
				}
				e := synthEnergy(iv) * (1 + jit)
				fmt.Fprintf(&b, "%d,%d,%d,%g,%g,phones,%g,%g,%g,%g,%g,%g,%g", point, r, 1000+point*reps+r, iv, to, d, 0.2, 3.5, e, 3600/iv, 0.1, iv)
				if onTime {
					fmt.Fprintf(&b, ",%g,60", ot)
				}
				b.WriteString("\n")
			}
			point++
		}
	}
	p := filepath.Join(dir, SweepFile)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// synthSummary returns a run summary with two groups and a home NAT and a
// CGNAT.
func synthSummary() *Summary {
	cdf := func(scale float64) [][]float64 {
		var pts [][]float64
		for i := 1; i <= 200; i++ {
			f := float64(i) / 200
			pts = append(pts, []float64{scale * math.Pow(10, 3*f-1.5), f})
		}
		return pts
	}
	return &Summary{
		SchemaVersion: 1, Scenario: "synthetic", Seed: 7, Clock: "virtual", VirtualS: 86400, Devices: 200,
		Groups: []GroupSummary{
			{Name: "fixed", Devices: 100, Strategy: "fixed", Network: "cgnat", PushesSent: 1000, PushesDelivered: 990, DeliveryRatio: 0.99,
				LatencyS: Quantiles{Mean: 1, P50: 0.2, P90: 2, P99: 12, P999: 25, Max: 30}, LatencyCDF: cdf(1),
				EnergyJPerDeviceDay: 300, EnergyByCauseJPerDeviceDay: map[string]float64{"keepalive": 150, "push": 50, "reconnect": 30, "idle": 70}},
			{Name: "adaptive", Devices: 100, Strategy: "adaptive", Network: "cgnat", PushesSent: 1000, PushesDelivered: 950, DeliveryRatio: 0.95,
				LatencyS: Quantiles{Mean: 3, P50: 0.5, P90: 6, P99: 40, P999: 80, Max: 95}, LatencyCDF: cdf(3),
				EnergyJPerDeviceDay: 200, EnergyByCauseJPerDeviceDay: map[string]float64{"keepalive": 60, "push": 50, "reconnect": 20, "idle": 70},
				FinalIntervalS: &IntervalStats{Mean: 280, P50: 285}},
		},
		NATs: []NATSummary{
			{Network: "cgnat", Layer: "home", Preset: "home-router", IdleTimeoutS: 3600},
			{Network: "cgnat", Layer: "cgnat", Preset: "carrier-a", IdleTimeoutS: 300},
		},
	}
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readSynthSweep(t testing.TB) *SweepSummary {
	t.Helper()
	return readSynthSweepFormat(t, true)
}

// readSynthSweepFormat is readSynthSweep for either format (see
// writeSynthSweepFormat).
func readSynthSweepFormat(t testing.TB, onTime bool) *SweepSummary {
	t.Helper()
	return readSweepFile(t, writeSynthSweepFormat(t, t.TempDir(), synthIntervals, synthTimeouts, 3, onTime))
}

// readSweepFile reads the sweep.csv at p.
func readSweepFile(t testing.TB, p string) *SweepSummary {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := ReadSweep(f, p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
