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

// A QUIC group's events and summary fields: idle closes (PINGs 40 s
// apart against a 30 s idle timeout), a stateless reset after the
// listener restarts, and nothing of the kind on the TCP group.
func TestQUICEventsAndSummary(t *testing.T) {
	s, err := scenarios.Load("t.yaml", []byte(`name: quic-events
duration: 5m
networks:
  carrier: {kind: cellular, nat: [{preset: cgnat-typical}]}
groups:
  idle:
    count: 1
    network: carrier
    strategy: {name: fixed, interval: 40s}
    alarm: {model: exact}
    transport: {name: quic}
  reset:
    count: 1
    network: carrier
    strategy: {name: fixed, interval: 10s}
    alarm: {model: exact}
    transport: {name: quic}
  tcp:
    count: 1
    network: carrier
    strategy: {name: fixed, interval: 10s}
timeline:
  - {at: 2m, type: quic-server-restart, group: reset}
`))
	if err != nil {
		t.Fatal(err)
	}
	if w := s.Warnings(); len(w) != 1 || !strings.Contains(w[0].Error(), "groups.idle.strategy.interval: warning: keep-alive interval 40s") {
		t.Errorf("warnings %v", w)
	}
	res, err := Run(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := res.Write(dir); err != nil {
		t.Fatal(err)
	}
	ev, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind":"quic_idle_timeout","device":"idle/0"`, `"kind":"quic_stateless_reset","device":"reset/0"`, `"reason":"quic_idle_timeout"`} {
		if !strings.Contains(string(ev), want) {
			t.Errorf("events.jsonl lacks %s", want)
		}
	}
	idle, reset, tcp := res.Group("idle"), res.Group("reset"), res.Group("tcp")
	// Connected at ~0.2 s, idle close 30 s after the last packet, a 1 s
	// backoff: a cycle of about 31 s in 300 s.
	if idle.QUICIdleCloses == nil || *idle.QUICIdleCloses < 8 || *idle.QUICIdleCloses > 10 {
		t.Errorf("idle closes %v", idle.QUICIdleCloses)
	}
	if reset.QUICStatelessResets == nil || *reset.QUICStatelessResets != 1 || reset.Transport != "quic" {
		t.Errorf("reset group %+v", reset)
	}
	if tcp.Transport != "" || tcp.QUICMigrations != nil {
		t.Errorf("tcp group has QUIC fields: %+v", tcp)
	}
}

// Every QUIC listener is a push server to the NAT observer, not only the
// one whose port happens to equal the TCP listener's: the second QUIC
// group (UDP 5224) gets its mapping events and detection delays too. PINGs
// every 25 s through a 20 s UDP mapping: the migrating group outlives every
// mapping loss (no detection delay), the group whose server does not
// migrate dies at its 30 s idle timeout after the loss.
func TestEveryQUICListenerIsAPushServer(t *testing.T) {
	res, dir := runAndWrite(t, `name: quic-listeners
duration: 10m
networks:
  carrier:
    kind: cellular
    nat: [{preset: cgnat-typical, overrides: {udp: {initial: 20s, established: 20s}}}]
groups:
  a-migrating:
    count: 2
    network: carrier
    strategy: {name: fixed, interval: 25s}
    alarm: {model: exact}
    transport: {name: quic}
  b-stuck:
    count: 2
    network: carrier
    strategy: {name: fixed, interval: 25s}
    alarm: {model: exact}
    transport: {name: quic, migration: false}
`)
	ev, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a-migrating/0", "b-stuck/0"} {
		for _, kind := range []string{"mapping_created", "mapping_expired"} {
			if !strings.Contains(string(ev), `"kind":"`+kind+`","device":"`+d+`"`) {
				t.Errorf("events.jsonl has no %s of %s", kind, d)
			}
		}
	}
	a, b := res.Group("a-migrating"), res.Group("b-stuck")
	if a.QUICMigrations == nil || *a.QUICMigrations == 0 || a.DetectionDelayS.Max != 0 {
		t.Errorf("a-migrating: migrations %v, detection delay %+v; want migrations and no detection delay", a.QUICMigrations, a.DetectionDelayS)
	}
	// The mapping dies 20 s after the last packet; the next PING, 5 s
	// later, is the last the client's idle timer counts from: detection
	// about 5 + 30 s after the loss, less the PING's own round trip.
	if d := b.DetectionDelayS; d.P50 < 30 || d.Max > 40 || b.QUICIdleCloses == nil || *b.QUICIdleCloses == 0 {
		t.Errorf("b-stuck: detection delay %+v, idle closes %v; want about 35 s after each mapping loss", d, b.QUICIdleCloses)
	}
}

// runAndWrite runs src and writes its results, returning both.
func runAndWrite(t *testing.T, src string) (*Result, string) {
	t.Helper()
	res, err := Run(context.Background(), loadString(t, src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := res.Write(dir); err != nil {
		t.Fatal(err)
	}
	return res, dir
}
