package harness

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsim/natsim/plots"
	"github.com/natsim/natsim/scenarios"
)

// appsScenario is a small scenario: three apps, two on the shared
// connection and one with its own, on LTE behind a CGNAT.
const appsScenario = `name: apps
duration: 2h
seed: 5
networks:
  lte:
    kind: cellular
    nat: [{preset: cgnat-typical, scope: shared, overrides: {tcp: {established: 600s}}}]
groups:
  phones:
    count: 3
    network: lte
    strategy: {name: fixed, interval: 240s}
    apps:
      - {name: chat, workload: {poisson: {rate_per_hour: 4}}}
      - {name: mail, workload: {fixed: {every: 20m}}}
      - {name: tg, connection: own, strategy: {name: fixed, interval: 120s}, workload: {poisson: {rate_per_hour: 3}}}
`

func TestAppsSharedAndOwn(t *testing.T) {
	s, err := scenarios.Load("apps.yaml", []byte(appsScenario))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res := runTo(t, s, dir)
	g := res.Group("phones")
	if g.ConnectionsPerDevice != 2 || len(g.Connections) != 2 || g.Connections[0].Name != "shared" || g.Connections[1].Name != "tg" {
		t.Fatalf("connections: %d per device, %+v; want shared and tg", g.ConnectionsPerDevice, g.Connections)
	}
	if g.NATPortsPerSubscriber == nil || g.NATPortsPerSubscriber.Max != 2 || g.NATPortsPerSubscriber.P50 != 2 {
		t.Errorf("nat_ports_per_subscriber = %+v, want 2 (one per connection)", g.NATPortsPerSubscriber)
	}
	// Keep-alives: shared every 240 s (15/h), tg's own every 120 s (30/h);
	// the device's total is both.
	shared, tg := g.Connections[0], g.Connections[1]
	if shared.KeepalivesPerDeviceHour < 13 || shared.KeepalivesPerDeviceHour > 15.5 || tg.KeepalivesPerDeviceHour < 27 || tg.KeepalivesPerDeviceHour > 30.5 {
		t.Errorf("keep-alives per device-hour: shared %.2f, tg %.2f; want about 15 and 30", shared.KeepalivesPerDeviceHour, tg.KeepalivesPerDeviceHour)
	}
	if d := g.KeepalivesPerDeviceHour - shared.KeepalivesPerDeviceHour - tg.KeepalivesPerDeviceHour; d > 1e-9 || d < -1e-9 {
		t.Errorf("group keep-alives %.3f are not the connections' sum", g.KeepalivesPerDeviceHour)
	}
	// Every app's pushes arrive, each counted once, for its own app.
	sent, delivered := 0, 0
	for _, a := range g.Apps {
		if a.PushesSent == 0 || a.PushesDelivered != a.PushesSent {
			t.Errorf("app %s: %d of %d pushes delivered", a.Name, a.PushesDelivered, a.PushesSent)
		}
		sent += a.PushesSent
		delivered += a.PushesDelivered
	}
	if sent != g.PushesSent || delivered != g.PushesDelivered {
		t.Errorf("apps sum to %d/%d pushes, group %d/%d", delivered, sent, g.PushesDelivered, g.PushesSent)
	}
	if g.Apps[2].Connection != "own" || g.Apps[2].Strategy != "fixed" || g.Apps[0].Connection != "shared" || g.Apps[0].KeepalivesPerDeviceHour != 0 {
		t.Errorf("apps: %+v", g.Apps)
	}
	// One radio: the connections' energy is the device's above idle.
	var conns float64
	for _, c := range g.Connections {
		conns += c.EnergyJPerDeviceDay
	}
	if above := g.EnergyJPerDeviceDay - g.EnergyByCauseJPerDeviceDay["idle"]; conns < above*0.999 || conns > above*1.001 {
		t.Errorf("connections' energy %.1f J/day, device above idle %.1f", conns, above)
	}
	if tg.EnergyJPerDeviceDay <= 0 || g.Apps[2].EnergyJPerDeviceDay != tg.EnergyJPerDeviceDay {
		t.Errorf("own app energy %.1f, its connection %.1f", g.Apps[2].EnergyJPerDeviceDay, tg.EnergyJPerDeviceDay)
	}
	// Per-app expectation metrics.
	for _, m := range []string{"delivery_ratio", "latency_s.p99", "keepalives_per_device_hour", "energy_j_per_device_day"} {
		if _, ok := res.Metric(m, "phones/tg"); !ok {
			t.Errorf("metric %s@phones/tg missing", m)
		}
	}
	if v, ok := res.Metric("nat_ports_per_subscriber.max", "phones"); !ok || v != 2 {
		t.Errorf("nat_ports_per_subscriber.max@phones = %v", v)
	}
	// devices.csv carries the per-device totals; events name the app.
	csv, _ := os.ReadFile(filepath.Join(dir, DevicesFile))
	lines := strings.Split(string(csv), "\n")
	if !strings.HasSuffix(lines[0], ",connections,nat_ports_peak,radio_on_s") || !strings.Contains(lines[1], ",2,2,") {
		t.Errorf("devices.csv:\n%s\n%s", lines[0], lines[1])
	}
	ev, _ := os.ReadFile(filepath.Join(dir, EventsFile))
	if !bytes.Contains(ev, []byte(`"kind":"keepalive_sent","device":"phones/0","app":"tg"`)) || !bytes.Contains(ev, []byte(`"app":"mail"`)) {
		t.Error("events.jsonl does not name the apps")
	}
	// summary.json reads back through plots.
	back, err := plots.ReadSummary(filepath.Join(dir, SummaryFile))
	if err != nil || len(back.Groups[0].Apps) != 3 || back.Groups[0].NATPortsPerSubscriber == nil {
		t.Errorf("summary read back: %v", err)
	}
	// Deterministic.
	dir2 := t.TempDir()
	runTo(t, s, dir2)
	a, b := dirFiles(t, dir), dirFiles(t, dir2)
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Errorf("%s differs between two runs of the same seed", name)
		}
	}
}

// A scenario without apps writes none of the apps fields or columns: its
// results are those of natsim before apps (the README gallery's figures,
// TestGallery, guard the values).
func TestNoAppsNoAppsFields(t *testing.T) {
	s := small(t, "quickstart.yaml", "duration=30m", "groups.phones.count=2")
	dir := t.TempDir()
	runTo(t, s, dir)
	b, _ := os.ReadFile(filepath.Join(dir, SummaryFile))
	var raw struct {
		Groups []map[string]json.RawMessage `json:"groups"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"apps", "connections", "connections_per_device", "nat_ports_per_subscriber"} {
		if _, ok := raw.Groups[0][k]; ok {
			t.Errorf("summary.json of a scenario without apps has %q", k)
		}
	}
	csv, _ := os.ReadFile(filepath.Join(dir, DevicesFile))
	if strings.Contains(strings.SplitN(string(csv), "\n", 2)[0], "connections") {
		t.Error("devices.csv of a scenario without apps has the apps columns")
	}
}

// After a handover every connection of a device reconnects: once with a
// shared connection, once per app with their own.
func TestAppsHandoverReconnectsEveryConnection(t *testing.T) {
	src := `name: apps-handover
duration: 1h
seed: 3
networks:
  lte: {kind: cellular, nat: [{preset: cgnat-typical, scope: shared}]}
  wifi: {kind: wifi, nat: [{preset: home-router-openwrt}]}
groups:
  shared:
    count: 2
    network: wifi
    strategy: {name: fixed, interval: 240s}
    apps: [{name: a}, {name: b}, {name: c}]
  own:
    count: 2
    network: wifi
    strategy: {name: fixed, interval: 240s}
    apps: [{name: a, connection: own}, {name: b, connection: own}, {name: c, connection: own}]
timeline:
  - {at: 30m, type: handover, group: shared, to: lte}
  - {at: 30m, type: handover, group: own, to: lte}
`
	s, err := scenarios.Load("h.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	res := runTo(t, s, t.TempDir())
	for _, c := range []struct {
		group string
		want  int
	}{{"shared", 2}, {"own", 6}} {
		g := res.Group(c.group)
		if g.Reconnects != c.want {
			t.Errorf("%s: %d reconnects after one handover of 2 devices, want %d", c.group, g.Reconnects, c.want)
		}
		for _, cs := range g.Connections {
			// Own apps launch in the first 10 min of the hour.
			if cs.ConnectedRatio < 0.8 {
				t.Errorf("%s: connection %s up %.3f of the run", c.group, cs.Name, cs.ConnectedRatio)
			}
		}
	}
}
