package nat

import (
	"flag"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var bench1M = flag.Bool("nat.bench1m", false, "also run the 1M-mapping benchmarks (about 1.5 GB peak, slow to set up)")

// benchFlow returns the inside and remote endpoints of flow i: 1000
// flows per subscriber, so 1M flows are 1000 subscribers.
func benchFlow(i int) (netip.AddrPort, netip.AddrPort) {
	sub := i / 1000
	in := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(sub >> 8), byte(sub), 1}), uint16(10000+i%1000))
	return in, netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 7)}), 443)
}

// benchTable fills a table with n established TCP mappings and reports
// the heap growth per mapping.
func benchTable(b *testing.B, n int) *Table {
	cfg := Preset("linux-conntrack")
	cfg.PublicAddrs = nil
	for i := range 32 { // 32 x 64 512 ports: room for 1M EIM bindings
		cfg.PublicAddrs = append(cfg.PublicAddrs, netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}))
	}
	cfg.PairedPooling = true
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t := mustTable(cfg)
	buf := make([]byte, 40)
	for i := range n {
		in, rem := benchFlow(i)
		copy(buf, tcpPkt(in, rem, header.TCPFlagSyn, 1, 0, nil))
		if v := t.Process(t0, Outbound, buf); !v.Forward {
			b.Fatalf("fill %d: %v", i, v.Drop)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perMapping = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	return t
}

// perMapping is the heap growth per mapping of the last benchTable; it
// is reported after ResetTimer, which clears earlier metrics.
var perMapping float64

func benchSizes() []int {
	s := []int{1_000, 100_000}
	if *bench1M {
		s = append(s, 1_000_000)
	}
	return s
}

// BenchmarkEstablished measures the translation of an established flow's
// packet (outbound ACK) against a floor in the same run: parsing the same
// headers with the gvisor header package plus one lookup in the same map.
// Reported: ns/op (translation), floor-ns/op, x-floor (ratio), Mpps and
// B/mapping (heap growth while filling the table).
func BenchmarkEstablished(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("mappings=%d", n), func(b *testing.B) {
			t := benchTable(b, n)
			const k = 1024 // packets of k flows spread over the table
			pkts := make([][]byte, k)
			keys := make([]flowKey, k)
			for j := range k {
				in, rem := benchFlow((j * 7919) % n)
				pkts[j] = tcpPkt(in, rem, header.TCPFlagAck, 2, 1, nil)
				keys[j] = flowKey{proto: uint8(ProtoTCP), kind: keySession, lport: in.Port(), laddr: in.Addr().As4(), raddr: rem.Addr().As4(), rport: rem.Port()}
			}
			buf := make([]byte, 40)
			now := t0.Add(time.Second)

			// The floor, timed over the same number of packets.
			start := time.Now()
			hits := 0
			for i := 0; i < b.N; i++ {
				copy(buf, pkts[i&(k-1)])
				ip := header.IPv4(buf)
				if !ip.IsValid(len(buf)) || !ip.IsChecksumValid() {
					b.Fatal("invalid")
				}
				tcp := header.TCP(ip.Payload())
				key := flowKey{proto: ip.Protocol(), kind: keySession, lport: tcp.SourcePort(), laddr: ip.SourceAddress().As4(),
					raddr: ip.DestinationAddress().As4(), rport: tcp.DestinationPort()}
				if _, ok := t.byInside[key]; ok {
					hits++
				}
			}
			floor := float64(time.Since(start).Nanoseconds()) / float64(b.N)
			if hits != b.N {
				b.Fatalf("floor missed %d lookups", b.N-hits)
			}

			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(buf, pkts[i&(k-1)])
				if v := t.Process(now, Outbound, buf); !v.Forward {
					b.Fatalf("dropped: %v", v.Drop)
				}
			}
			b.StopTimer()
			op := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(floor, "floor-ns/op")
			b.ReportMetric(op/floor, "x-floor")
			b.ReportMetric(1e3/op, "Mpps")
			b.ReportMetric(perMapping, "B/mapping")
			if err := t.checkInvariants(); err != nil && n <= 100_000 {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkExpire measures expiring mappings through the deadline heap:
// per expired mapping, independent of the table size.
func BenchmarkExpire(b *testing.B) {
	cfg := Preset("linux-conntrack")
	t := mustTable(cfg)
	buf := make([]byte, 40)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		in, rem := benchFlow(i % 60000)
		copy(buf, udpPkt(in, rem, nil))
		at := t0.Add(time.Duration(i) * time.Millisecond)
		t.Process(at, Outbound, buf[:28])
		t.Expire(at)
	}
}
