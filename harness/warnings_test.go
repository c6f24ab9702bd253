package harness

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/scenarios"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 64512: "64,512", 1000000: "1,000,000", -2016: "-2,016"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestCapacityText spells out each capacity model from a preset's real
// configuration.
func TestCapacityText(t *testing.T) {
	quota := nat.Preset("cgnat-pba-tight")
	quota.Ports.BlockSize, quota.Ports.BlocksPerSubscriber = 0, 0
	capped := nat.Preset("carrier-30min")
	capped.MaxMappings = 1000
	for _, tc := range []struct {
		cfg  nat.Config
		want string
	}{
		{nat.Preset("cgnat-typical"), "4 public addresses x 64,512 ports / 128-port blocks = 2,016 subscribers"},
		{nat.Preset("cgnat-pba-tight"), "4 public addresses x 64,512 ports / 64-port blocks = 4,032 subscribers"},
		{quota, "4 public addresses x 64,512 ports / 63-port quota = 4,096 subscribers at full quota"},
		{nat.Preset("cloud-aws"), "1 public address x 64,512 ports = 64,512 subscribers"},
		{capped, "max_mappings 1,000 = 1,000 subscribers"},
	} {
		if got := capacityText(tc.cfg.Capacity()); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.cfg.Name, got, tc.want)
		}
	}
}

func load(t *testing.T, src string, sets ...string) *scenarios.Scenario {
	t.Helper()
	s, err := (&scenarios.Loader{Sets: sets}).Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const twoNets = `name: t
duration: 10m
networks:
  cell:
    kind: cellular
    nat: [{preset: cgnat-typical, public_addresses: 2}]
  home:
    kind: wifi
    nat: [{preset: home-router-openwrt, scope: per-device}, {preset: cgnat-pba-tight, public_addresses: 1, overrides: {ports: {min: 1024, max: 33279}}}]
groups:
  commuters:
    count: 600
    schedule: {slots: [{at: 0s, network: home}, {at: 8h, network: cell}]}
    strategy: {name: fixed, interval: 60s}
  fixed:
    count: 500
    network: cell
    strategy: {name: fixed, interval: 3h}
  learners:
    count: 1
    network: cell
    strategy: {name: apns-model}
`

// TestWarnings counts the devices that may sit behind a layer (a group on
// a schedule counts on every network it visits), checks per-device layers
// not at all, and warns about fixed keep-alives only.
func TestWarnings(t *testing.T) {
	got, err := Warnings(load(t, twoNets))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"networks.cell.nat[0] (cgnat-typical): 1,101 devices share it but it holds 1,008 subscribers: 2 public addresses x 64,512 ports / 128-port blocks = 1,008 subscribers; public_addresses: 3 would hold them",
		"networks.home.nat[1] (cgnat-pba-tight): 600 devices share it but it holds 504 subscribers: 1 public address x 32,256 ports / 64-port blocks = 504 subscribers; public_addresses: 2 would hold them",
		"groups.fixed: keep-alive interval 3h is above the 2h4m TCP idle timeout of networks.cell.nat[0] (cgnat-typical): a connection idle that long loses its NAT mapping before the next keep-alive",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Warnings:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got, _ = Warnings(load(t, twoNets, "networks.cell.nat[0].public_addresses=3", "networks.home.nat[1].public_addresses=2", "groups.fixed.strategy.interval=1h"))
	if len(got) != 0 {
		t.Errorf("sized pools and a short keep-alive still warn: %q", got)
	}
	// A QUIC group's keep-alive is held against the UDP stream timeout
	// (cgnat-typical's 5 min), not TCP's 2h4m.
	quic := []string{"networks.cell.nat[0].public_addresses=3", "networks.home.nat[1].public_addresses=2", "groups.fixed.transport={name: quic, idle_timeout: 1h, server_idle_timeout: 1h}"}
	got, _ = Warnings(load(t, twoNets, append(quic, "groups.fixed.strategy.interval=10m")...))
	want = []string{"groups.fixed: keep-alive interval 10m is above the 5m UDP idle timeout of networks.cell.nat[0] (cgnat-typical): a connection idle that long loses its NAT mapping before the next keep-alive"}
	if !slices.Equal(got, want) {
		t.Errorf("QUIC at 10m:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got, _ = Warnings(load(t, twoNets, append(quic, "groups.fixed.strategy.interval=4m")...)); len(got) != 0 {
		t.Errorf("QUIC at 4m, under the 5m UDP timeout, warns: %q", got)
	}
}

// TestBigPool runs a layer whose pool does not fit in a /24: its
// addresses come from 198.19.0.0/16 and the devices connect through them.
func TestBigPool(t *testing.T) {
	s := load(t, `name: t
duration: 5m
networks:
  cell:
    kind: cellular
    nat: [{preset: cgnat-typical, public_addresses: 300}]
groups:
  phones:
    count: 3
    network: cell
    strategy: {name: fixed, interval: 60s}
workload:
  phones: {poisson: {rate_per_hour: 60}}
timeline:
  - {at: 2m, type: public-address-change, network: cell}
outputs: {formats: [json]}
`)
	r, err := build(s, Options{}, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	pool := r.layers[0].tables[0].Config().PublicAddrs
	r.w.Close()
	if len(pool) != 300 || pool[0] != netip.MustParseAddr("198.19.0.1") || pool[299] != netip.MustParseAddr("198.19.1.44") {
		t.Fatalf("pool of %d from %v to %v, want 300 from 198.19.0.1 to 198.19.1.44", len(pool), pool[0], pool[len(pool)-1])
	}
	res, err := Run(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g := res.Group("phones"); g.PushesSent == 0 || g.DeliveryRatio < 0.5 || res.Summary.Warnings != nil {
		t.Errorf("phones: %d sent, delivery %.2f, warnings %q", g.PushesSent, g.DeliveryRatio, res.Summary.Warnings)
	}
}

// TestScaleScenariosAreSized checks that the scale benchmarks' CGNATs are
// sized for their devices: they load and give no warning.
func TestScaleScenariosAreSized(t *testing.T) {
	for _, f := range []string{"cgnat-100k.yaml", "cgnat-1m.yaml"} {
		s := small(t, "bench/"+f)
		ws, err := Warnings(s)
		if err != nil || len(ws) != 0 {
			t.Errorf("%s: warnings %q, error %v", f, ws, err)
		}
	}
}

// An own app's keep-alive is held against its own transport's NAT timeout:
// the app on QUIC at 10 m against cgnat-typical's 5 m UDP timeout warns;
// the group's 4 m TCP keep-alive and the TCP app that inherits it do not.
func TestWarningsPerApp(t *testing.T) {
	s := load(t, `name: t
duration: 10m
networks:
  cell: {kind: cellular, nat: [{preset: cgnat-typical}]}
groups:
  g:
    count: 2
    network: cell
    strategy: {name: fixed, interval: 4m}
    apps:
      - {name: mail, connection: own}
      - {name: chat, connection: own, strategy: {name: fixed, interval: 10m}, transport: {name: quic, idle_timeout: 1h, server_idle_timeout: 1h}}
`)
	got, _ := Warnings(s)
	want := []string{"groups.g.apps[1] (chat): keep-alive interval 10m is above the 5m UDP idle timeout of networks.cell.nat[0] (cgnat-typical): a connection idle that long loses its NAT mapping before the next keep-alive"}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
