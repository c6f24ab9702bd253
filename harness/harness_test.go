package harness

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/plots"
	"github.com/natsim/natsim/scenarios"
)

// small loads a library scenario scaled down for unit tests.
func small(t testing.TB, file string, sets ...string) *scenarios.Scenario {
	t.Helper()
	s, err := (&scenarios.Loader{Sets: sets}).LoadFile(filepath.Join("..", "scenarios", file))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runTo(t testing.TB, s *scenarios.Scenario, dir string) *Result {
	t.Helper()
	res, err := Run(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Write(dir); err != nil {
		t.Fatal(err)
	}
	return res
}

// dirFiles returns every file under dir by relative path.
func dirFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(dir, p)
			out[rel] = b
		}
		return nil
	})
	return out
}

func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	fa, fb := dirFiles(t, a), dirFiles(t, b)
	var na, nb []string
	for k := range fa {
		na = append(na, k)
	}
	for k := range fb {
		nb = append(nb, k)
	}
	slices.Sort(na)
	slices.Sort(nb)
	if !slices.Equal(na, nb) {
		t.Fatalf("file sets differ:\n%v\n%v", na, nb)
	}
	for _, k := range na {
		if !bytes.Equal(fa[k], fb[k]) {
			t.Errorf("%s differs", k)
		}
	}
}

func TestSameSeedSameBytesOtherSeedDiffers(t *testing.T) {
	sets := []string{"groups.phones.count=8", "duration=40m"}
	tmp := t.TempDir()
	a, b, c := filepath.Join(tmp, "a"), filepath.Join(tmp, "b"), filepath.Join(tmp, "c")
	runTo(t, small(t, "quickstart.yaml", sets...), a)
	runTo(t, small(t, "quickstart.yaml", sets...), b)
	sameFiles(t, a, b)
	for _, f := range []string{SummaryFile, DevicesFile, EventsFile, TimeseriesFile, PcapFile} {
		if _, err := os.Stat(filepath.Join(a, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	s := small(t, "quickstart.yaml", sets...)
	s.Seed = 99
	runTo(t, s, c)
	ea, _ := os.ReadFile(filepath.Join(a, EventsFile))
	ec, _ := os.ReadFile(filepath.Join(c, EventsFile))
	if bytes.Equal(ea, ec) {
		t.Error("seed 99 wrote the same events.jsonl as seed 1")
	}
}

func TestQuickstartMetrics(t *testing.T) {
	g := NewWithT(t)
	res := runTo(t, small(t, "quickstart.yaml", "groups.phones.count=10"), t.TempDir())
	g.Expect(res).To(PassExpectations())
	g.Expect(res).To(DeliverAtLeast(0.999))
	g.Expect(res).To(HaveLatencyBelow("p99", time.Second))
	gs := res.Group("phones")
	g.Expect(gs).NotTo(BeNil())
	g.Expect(gs.Devices).To(Equal(10))
	// 15-min exact alarms over 2 h: 7 keep-alives each (the 8th is due
	// just after the end), 3.5 per device-hour.
	g.Expect(gs.KeepalivesPerDeviceHour).To(BeNumerically("~", 3.5, 1e-9))
	g.Expect(gs.Reconnects).To(Equal(0))
	g.Expect(gs.PushesSent).To(BeNumerically(">", 0))
	g.Expect(res.Devices).To(HaveLen(10))
	g.Expect(res.Devices[3].Device).To(Equal("phones/3"))
	g.Expect(res.Summary.NATs).To(HaveLen(1))
	g.Expect(res.Summary.NATs[0].IdleTimeoutS).To(Equal(7440.0))
	g.Expect(res.Summary.NATs[0].MappingsCreated).To(BeNumerically(">=", 10))
}

func TestMatchersFailWithMessages(t *testing.T) {
	g := NewWithT(t)
	r := &Result{Summary: Summary{Groups: []GroupSummary{
		{Name: "a", PushesSent: 10, PushesDelivered: 9, DeliveryRatio: 0.9, LatencyS: Stats{P99: 7}, EnergyJPerDeviceDay: 50},
	}, Expectations: []ExpectationResult{{Expr: "reconnects == 0", Pass: false}}}}
	cases := []struct {
		m    interface{ Match(any) (bool, error) }
		want string
	}{
		{DeliverAtLeast(0.99), "a: delivered 9 of 10 (0.9)"},
		{HaveLatencyBelow("p99", 5*time.Second), "a: latency p99 7s"},
		{UseEnergyAtMost(10), "a: 50 J/device-day"},
		{PassExpectations(), `"reconnects == 0" measured no value`},
	}
	for _, c := range cases {
		ok, err := c.m.Match(r)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ok).To(BeFalse())
		msg := c.m.(interface{ FailureMessage(any) string }).FailureMessage(r)
		g.Expect(msg).To(ContainSubstring(c.want))
	}
	g.Expect(r).To(UseEnergyAtMost(60))
	g.Expect(r).To(HaveLatencyBelow("p99", 8*time.Second))
	_, err := DeliverAtLeast(1).Match("not a result")
	g.Expect(err).To(HaveOccurred())
	ok, _ := HaveLatencyBelow("p42", time.Second).Match(r)
	g.Expect(ok).To(BeFalse())
}

func TestOverrides(t *testing.T) {
	s, err := (&scenarios.Loader{}).Load("t.yaml", []byte(`
name: t
duration: 1h
networks:
  n:
    kind: cellular
    nat:
      - preset: cgnat-typical
        overrides: {tcp: {established: 300s, midstream: rst}, on_expiry: rst_inside, ports: {min: 2000}}
groups:
  g: {count: 1, network: n, strategy: fixed}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := nat.Preset("cgnat-typical")
	if err := applyOverrides(&cfg, s.Networks["n"].NAT[0].Overrides); err != nil {
		t.Fatal(err)
	}
	if cfg.TCP.Established != 300*time.Second || cfg.TCP.Midstream != nat.MidstreamRST || cfg.OnExpiry != nat.ExpiryRSTInside || cfg.Ports.Min != 2000 {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	bad, err := (&scenarios.Loader{}).Load("bad.yaml", []byte(`
name: t
duration: 1h
networks:
  n:
    kind: cellular
    nat:
      - preset: cgnat-typical
        overrides: {tcp: {establshed: 300s}}
groups:
  g: {count: 1, network: n, strategy: fixed}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), bad, Options{})
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:9:") || !strings.Contains(err.Error(), `unknown NAT field "establshed"`) {
		t.Errorf("want a positioned unknown-field error, got %v", err)
	}
	for _, v := range []string{"{tcp: {established: 30}}", "{on_expiry: loud}", "{hairpinning: maybe}"} {
		c := nat.Preset("cgnat-typical")
		s2, err := (&scenarios.Loader{Sets: []string{"networks.n.nat[0].overrides=" + v}}).Load("t.yaml", []byte(`
name: t
duration: 1h
networks:
  n: {kind: cellular, nat: [{preset: cgnat-typical}]}
groups:
  g: {count: 1, network: n, strategy: fixed}
`))
		if err != nil {
			t.Fatal(err)
		}
		if err := applyOverrides(&c, s2.Networks["n"].NAT[0].Overrides); err == nil {
			t.Errorf("%s: no error", v)
		}
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, small(t, "quickstart.yaml", "groups.phones.count=2"), Options{})
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("want a cancellation error, got %v", err)
	}
}

// Cancelling stops the world after the event in progress, not at the
// end of the sampling step (a step of a large world can take minutes):
// a cancel from inside the world at 30.5 s virtual ends the run there.
func TestRunCancelledMidStep(t *testing.T) {
	r, err := build(small(t, "quickstart.yaml", "groups.phones.count=2"), Options{}, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if step := r.bucketSize(); step <= 31*time.Second {
		t.Fatalf("sampling step %v: the test needs one longer than 31 s", step)
	}
	r.sched.At(r.start.Add(30500*time.Millisecond), func() {
		cancel()
		// The stop arrives from another goroutine, as a signal's does;
		// sleeping yields to it before the next event.
		time.Sleep(200 * time.Millisecond)
	})
	err = r.run(ctx)
	if err == nil || !strings.Contains(err.Error(), "cancelled at 30.5s virtual") {
		t.Fatalf("want a cancellation at 30.5s virtual, got %v", err)
	}
}

func TestMergedShardsEqualUnshardedSweep(t *testing.T) {
	sets := []string{"groups.phones.count=4", "duration=30m", "sweep.replicates=2",
		`sweep.grid={"groups.phones.strategy.interval": [120s, 15m], "networks.cell.nat[0].overrides.tcp.established": [300s, 7440s]}`}
	s := small(t, "sweep-interval.yaml", sets...)
	tmp := t.TempDir()
	whole := filepath.Join(tmp, "whole")
	sum, err := Sweep(context.Background(), s, whole, SweepOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Runs != 8 {
		t.Fatalf("runs = %d, want 8", sum.Runs)
	}
	var shards []string
	for i := range 3 {
		d := filepath.Join(tmp, "shard", string(rune('0'+i)))
		if _, err := Sweep(context.Background(), small(t, "sweep-interval.yaml", sets...), d, SweepOptions{Workers: 1, Shard: i, Shards: 3}); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, d)
	}
	merged := filepath.Join(tmp, "merged")
	// Shard order on the command line must not matter.
	if err := Merge(merged, shards[2], shards[0], shards[1]); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, whole, merged)
	b, _ := os.ReadFile(filepath.Join(whole, SweepFile))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "point,replicate,seed,groups.phones.strategy.interval,networks.cell.nat[0].overrides.tcp.established,group,delivery_ratio,latency_p50_s,latency_p99_s,energy_j_per_device_day,keepalives_per_device_hour,reconnects_per_device_day,mean_interval_s,ontime_ratio,on_time_s" {
		t.Errorf("sweep.csv header: %s", lines[0])
	}
	if len(lines) != 9 || !strings.HasPrefix(lines[1], "0,0,") || !strings.Contains(lines[1], ",120,300,phones,") {
		t.Errorf("sweep.csv rows:\n%s", b)
	}
	if err := Merge(filepath.Join(tmp, "dup"), shards[0], shards[0]); err != nil {
		t.Errorf("merging a shard with itself should be harmless: %v", err)
	}
}

func TestCI95(t *testing.T) {
	mu, lo, hi := ci95([]float64{1, 2, 3})
	// t(0.975, 2) = 4.302652729911275; s = 1; half-width 4.3027/sqrt(3).
	if mu != 2 || !near(hi-mu, 4.302652729911275/1.7320508075688772) || !near(mu-lo, hi-mu) {
		t.Errorf("ci95 = %v %v %v", mu, lo, hi)
	}
	if mu, lo, hi := ci95([]float64{5}); mu != 5 || lo != 5 || hi != 5 {
		t.Errorf("n=1: %v %v %v", mu, lo, hi)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestOnTimeRatio: 15 min behind a 300 s NAT delivers nearly every push
// eventually (QoS 1 redelivery) but few on time; a deadline longer than
// any latency makes the two ratios equal.
func TestOnTimeRatio(t *testing.T) {
	sets := []string{"groups.phones.count=10", "duration=2h", "groups.phones.strategy.interval=15m", "expect=[]",
		"networks.cell.nat[0].overrides.tcp.established=300s"}
	res := runTo(t, small(t, "sweep-interval.yaml", sets...), t.TempDir())
	g := res.Group("phones")
	ot, ok := res.Metric("ontime_ratio", "phones")
	if !ok || g.OnTimeRatio == nil || *g.OnTimeRatio != ot || g.OnTimeS != 60 {
		t.Fatalf("ontime_ratio metric %g (%v), summary %v, on_time_s %g", ot, ok, g.OnTimeRatio, g.OnTimeS)
	}
	if !(ot < g.DeliveryRatio-0.2) {
		t.Errorf("on-time %g, delivery %g: want most pushes late but delivered", ot, g.DeliveryRatio)
	}
	res = runTo(t, small(t, "sweep-interval.yaml", append(sets, "outputs.on_time=2h")...), t.TempDir())
	if g := res.Group("phones"); *g.OnTimeRatio != g.DeliveryRatio || g.OnTimeS != 7200 {
		t.Errorf("deadline 2h: on-time %g, delivery %g, on_time_s %g", *g.OnTimeRatio, g.DeliveryRatio, g.OnTimeS)
	}
	if _, err := scenarios.ParseExpectation("ontime_ratio@phones >= 0.999"); err != nil {
		t.Error(err)
	}
}

// outputs.formats chooses the result files a run writes.
func TestFormatsChooseTheFiles(t *testing.T) {
	s, err := (&scenarios.Loader{Sets: []string{"groups.phones.count=3", "duration=20m", "outputs.formats=[json]", "outputs.pcap=[]"}}).LoadFile(filepath.Join("..", "scenarios", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != SummaryFile {
		t.Errorf("outputs.formats [json] wrote %v, want only %s", names, SummaryFile)
	}
	// Without events.jsonl the events are counted, not kept: the summary
	// is the same.
	all, err := (&scenarios.Loader{Sets: []string{"groups.phones.count=3", "duration=20m", "outputs.pcap=[]"}}).LoadFile(filepath.Join("..", "scenarios", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ra, err := Run(context.Background(), all, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Summary.Events == 0 || r.Summary.Events != ra.Summary.Events {
		t.Errorf("summary events %d without events.jsonl, %d with; want the same, non-zero", r.Summary.Events, ra.Summary.Events)
	}
}

// The figure names a scenario may ask for are exactly the kinds of figure
// package plots draws.
func TestScenarioPlotNamesArePlotsFigures(t *testing.T) {
	if !slices.Equal(scenarios.Plots, plots.Figures) {
		t.Errorf("scenarios.Plots %v differ from plots.Figures %v", scenarios.Plots, plots.Figures)
	}
}
