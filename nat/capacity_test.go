package nat

import (
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

func poolOf(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
	}
	return out
}

// TestCapacityModels checks one case per capacity model against a table
// that allocates: the computed number of subscribers get a port and the
// next one is refused.
func TestCapacityModels(t *testing.T) {
	cases := []struct {
		name  string
		cfg   func() Config
		model CapacityModel
		subs  int
	}{
		{"blocks: cgnat-typical as shipped", func() Config { return Preset("cgnat-typical") }, CapacityBlocks, 4 * 504},
		{"blocks: partial block at the end of the range is unused", func() Config {
			c := Preset("cgnat-typical")
			c.PublicAddrs = poolOf(3)
			c.Ports.Min, c.Ports.Max = 1024, 1024+999 // 1000 ports, 7 whole blocks of 128
			return c
		}, CapacityBlocks, 3 * 7},
		{"quota without blocks", func() Config {
			c := Preset("cgnat-typical")
			c.Ports.BlockSize, c.Ports.BlocksPerSubscriber = 0, 0
			c.Ports.PerSubscriber = 1000
			c.PublicAddrs = poolOf(2)
			return c
		}, CapacityQuota, 2 * 64},
		{"ports: one port per subscriber", func() Config {
			c := Preset("carrier-aggressive")
			c.PublicAddrs = poolOf(2)
			return c
		}, CapacityPorts, 2 * 64512},
		{"mappings cap", func() Config {
			c := Preset("carrier-aggressive")
			c.MaxMappings = 500
			return c
		}, CapacityMappings, 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.cfg().Capacity()
			if k.Model != tc.model || k.Subscribers != tc.subs {
				t.Fatalf("Capacity() = %v %d subscribers (%+v), want %v %d", k.Model, k.Subscribers, k, tc.model, tc.subs)
			}
		})
	}
}

// TestCapacityMatchesAllocation fills a small PBA table and a small
// mappings-capped table with one subscriber after another: exactly
// Capacity().Subscribers get a port.
func TestCapacityMatchesAllocation(t *testing.T) {
	for _, name := range []string{"blocks", "mappings"} {
		t.Run(name, func(t *testing.T) {
			c := Preset("cgnat-typical")
			c.Name = name
			c.PublicAddrs = poolOf(2)
			c.Ports.Min, c.Ports.Max = 2000, 2000+5*128-1 // 5 blocks per address
			if name == "mappings" {
				c.MaxMappings = 7
			}
			want := c.Capacity().Subscribers
			tb, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for i := range want + 5 {
				in := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 40000)
				pkt := tcpPkt(in, ap("192.0.2.10:443"), header.TCPFlagSyn, 1, 0, nil)
				if v := tb.Process(time.Unix(0, 0), Outbound, pkt); v.Forward {
					got++
				}
			}
			if got != want {
				t.Errorf("%d subscribers got a port, Capacity() says %d", got, want)
			}
		})
	}
}

func TestNearestPresets(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"cgnat-typcal", []string{"cgnat-typical"}},
		{"cgnat", []string{"cgnat-typical", "cgnat-pba-tight"}},
		{"linux-conntrak", []string{"linux-conntrack"}},
		{"cloud-gpc", []string{"cloud-gcp", "cloud-aws"}},
		{"nothing-like-it", nil},
	} {
		got := NearestPresets(tc.name)
		if len(got) != len(tc.want) {
			t.Errorf("NearestPresets(%q) = %q, want %q", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("NearestPresets(%q) = %q, want %q", tc.name, got, tc.want)
			}
		}
	}
	if _, err := LookupPreset("cgnat-typcal"); err == nil || err.Error() != `nat: unknown preset "cgnat-typcal" (did you mean "cgnat-typical"?)` {
		t.Errorf("LookupPreset error = %v", err)
	}
	if got := editDistance("kitten", "sitting"); got != 3 {
		t.Errorf("editDistance(kitten, sitting) = %d, want 3", got)
	}
}
