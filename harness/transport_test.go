package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsim/natsim/plots"
	"github.com/natsim/natsim/scenarios"
)

// A sweep over a group's transport.name draws TCP and QUIC as two curves
// of the trade-off figure. QUIC's 30 s idle timeout closes a connection
// whose PINGs are 60 s apart, so its curve pays reconnects where TCP's
// does not.
func TestSweepOverTransportDrawsBothCurves(t *testing.T) {
	s, err := scenarios.Load("t.yaml", []byte(`name: transports
duration: 30m
networks:
  carrier: {kind: cellular, nat: [{preset: cgnat-typical}]}
groups:
  phones:
    count: 4
    network: carrier
    strategy: {name: fixed, interval: 20s}
    alarm: {model: exact}
workload:
  phones: {poisson: {rate_per_hour: 12}}
outputs: {formats: [json, csv]}
sweep:
  grid:
    groups.phones.strategy.interval: [20s, 60s]
    groups.phones.transport.name: [tcp, quic]
`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := Sweep(context.Background(), s, dir, SweepOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Runs != 4 {
		t.Fatalf("%d runs", sum.Runs)
	}
	f, err := os.Open(filepath.Join(dir, "sweep_summary.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ss, err := plots.ReadSweepSummary(f, "sweep_summary.csv")
	if err != nil {
		t.Fatal(err)
	}
	axes, err := plots.PickAxes(ss.Params)
	if err != nil {
		t.Fatal(err)
	}
	curves, err := plots.Curves(ss, axes, plots.DefaultKneeTolerance)
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, c := range curves {
		labels = append(labels, c.Label)
	}
	if strings.Join(labels, ",") != "transport=quic,transport=tcp" {
		t.Fatalf("curves %v", labels)
	}
	files, err := plots.Render(dir, plots.Options{Figures: []string{"tradeoff"}})
	if err != nil || len(files) == 0 {
		t.Fatalf("render: %v %v", files, err)
	}
	// At 60 s the QUIC connection closes on its 30 s idle timeout and
	// reconnects about every 31 s; TCP's connection lives on.
	reconnects := map[string]float64{}
	for _, r := range ss.Rows {
		if r.Metric == "reconnects_per_device_day" && ss.Param(r, "groups.phones.strategy.interval") == "60" {
			reconnects[ss.Param(r, "groups.phones.transport.name")] = r.Mean
		}
	}
	// 30 min / ~31 s is about 58 reconnects, 2,800 per device-day.
	if reconnects["tcp"] != 0 || reconnects["quic"] < 2000 {
		t.Errorf("reconnects per device-day at 60 s: %v", reconnects)
	}
}
