package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// BenchmarkAddressLayout measures, on gVisor alone, what it costs a
// stack to hold n device addresses in each of three layouts:
//
//   - nics: a NIC per address, each with its own default route (the
//     engine before the shared NIC);
//   - one-nic: one NIC holding every address (/32, never primary) and
//     one default route;
//   - one-nic+peer: the same, with the peer's (server's) address also
//     on the NIC, never primary, which is how the engine lays out a
//     device stack (see sharedNIC in world.go).
//
// For each it reports the cost of a connect (bind to one of the
// addresses, Connect to the server, which walks stack.FindRoute and
// emits the SYN, then Abort) and of one inbound packet (a UDP datagram
// to a bound socket on one of the addresses, delivered through the
// NIC and read), as ns and as a ratio to the floor: the same operation
// on a stack with one NIC and one address, measured in the same run.
// B/address is the heap the addresses, NICs and routes take.
//
//	go test ./sim -run XXX -bench AddressLayout -benchtime 1x
func BenchmarkAddressLayout(b *testing.B) {
	for _, n := range []int{1024, 10000} {
		for _, layout := range []string{"nics", "one-nic", "one-nic+peer"} {
			b.Run(fmt.Sprintf("n=%d/%s", n, layout), func(b *testing.B) {
				for b.Loop() {
					benchLayout(b, n, layout)
				}
			})
		}
	}
}

// layoutOps is how many connects and inbound packets each measurement
// makes, spread over layoutProbes of the addresses.
const (
	layoutOps    = 4000
	layoutProbes = 64
)

func benchLayout(b *testing.B, n int, layout string) {
	floor := newLayoutStack(b, 1, "nics")
	floor.measure(b) // warm-up
	fConn, fIn := floor.measure(b)
	floor.s.Destroy()

	before := heapInUse()
	ls := newLayoutStack(b, n, layout)
	after := heapInUse()
	conn, in := ls.measure(b)
	ls.s.Destroy()

	b.ReportMetric(float64(after-before)/float64(n), "B/address")
	b.ReportMetric(conn, "ns/connect")
	b.ReportMetric(conn/fConn, "connect-x-floor")
	b.ReportMetric(in, "ns/inbound")
	b.ReportMetric(in/fIn, "inbound-x-floor")
}

// layoutStack is a device stack with n addresses in one layout.
type layoutStack struct {
	s     *stack.Stack
	base  uint32
	n     int
	nicOf func(i int) *rawLink // the NIC address i is on
	idOf  func(i int) tcpip.NICID
}

// sinkEP discards what the stack sends.
type sinkEP struct{ rawLink }

func (e *sinkEP) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	return pkts.Len(), nil
}

var layoutPeer = netip.MustParseAddr("203.0.113.10")

func newLayoutStack(tb testing.TB, n int, layout string) *layoutStack {
	seeds := rand.New(rand.NewPCG(1, 2))
	s, err := newGStack(frozenClock{}, seeds, 0, TCPProfile{})
	if err != nil {
		tb.Fatal(err)
	}
	ls := &layoutStack{s: s, base: ip4(netip.MustParseAddr("100.64.0.2")), n: n}
	add := func(id tcpip.NICID, a netip.Addr, peb stack.PrimaryEndpointBehavior) {
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpAddr(a).WithPrefix()}
		if err := s.AddProtocolAddress(id, pa, stack.AddressProperties{PEB: peb}); err != nil {
			tb.Fatal(err)
		}
	}
	newNIC := func(id tcpip.NICID) *sinkEP {
		e := &sinkEP{rawLink{mtu: 1500}}
		if err := s.CreateNICWithOptions(id, e, stack.NICOptions{}); err != nil {
			tb.Fatal(err)
		}
		s.AddRoute(tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: id})
		return e
	}
	switch layout {
	case "nics":
		eps := make([]*sinkEP, n)
		for i := range n {
			eps[i] = newNIC(tcpip.NICID(i + 1))
			add(tcpip.NICID(i+1), addrOf(ls.base+uint32(i)), stack.CanBePrimaryEndpoint)
		}
		ls.nicOf = func(i int) *rawLink { return &eps[i].rawLink }
		ls.idOf = func(i int) tcpip.NICID { return tcpip.NICID(i + 1) }
	case "one-nic", "one-nic+peer":
		e := newNIC(1)
		for i := range n {
			add(1, addrOf(ls.base+uint32(i)), stack.NeverPrimaryEndpoint)
		}
		if layout == "one-nic+peer" {
			add(1, layoutPeer, stack.NeverPrimaryEndpoint)
		}
		ls.nicOf = func(int) *rawLink { return &e.rawLink }
		ls.idOf = func(int) tcpip.NICID { return 1 }
	default:
		tb.Fatalf("unknown layout %q", layout)
	}
	return ls
}

// probe returns the index of the k-th probed address, spread evenly.
func (ls *layoutStack) probe(k int) int { return (k % layoutProbes) * ls.n / layoutProbes }

// measure returns ns per connect and ns per inbound packet.
func (ls *layoutStack) measure(tb testing.TB) (float64, float64) {
	s := ls.s
	// Connects.
	start := time.Now()
	for k := range layoutOps {
		i := ls.probe(k)
		var wq waiter.Queue
		ep, err := s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
		if err != nil {
			tb.Fatal(err)
		}
		if err := ep.Bind(tcpip.FullAddress{NIC: ls.idOf(i), Addr: tcpAddr(addrOf(ls.base + uint32(i)))}); err != nil {
			tb.Fatal(err)
		}
		err = ep.Connect(tcpip.FullAddress{NIC: ls.idOf(i), Addr: tcpAddr(layoutPeer), Port: 5223})
		if _, ok := err.(*tcpip.ErrConnectStarted); !ok {
			tb.Fatalf("connect: %v", err)
		}
		ep.Abort()
		if k%layoutProbes == layoutProbes-1 {
			s.Pause()
			s.Resume()
		}
	}
	conn := float64(time.Since(start).Nanoseconds()) / layoutOps

	// Inbound datagrams to a bound socket on each probed address.
	socks := make([]tcpip.Endpoint, min(layoutProbes, ls.n))
	for k := range socks {
		i := ls.probe(k)
		var wq waiter.Queue
		ep, err := s.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
		if err != nil {
			tb.Fatal(err)
		}
		if err := ep.Bind(tcpip.FullAddress{NIC: ls.idOf(i), Addr: tcpAddr(addrOf(ls.base + uint32(i))), Port: 9}); err != nil {
			tb.Fatal(err)
		}
		socks[k] = ep
	}
	var rb rbuf
	start = time.Now()
	for k := range layoutOps {
		i := ls.probe(k)
		pkb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(udpDatagram(layoutPeer, addrOf(ls.base+uint32(i))))})
		ls.nicOf(i).disp.DeliverNetworkPacket(header.IPv4ProtocolNumber, pkb)
		pkb.DecRef()
		if _, err := socks[k%len(socks)].Read(&rb, tcpip.ReadOptions{}); err != nil {
			tb.Fatalf("read on %s: %v", addrOf(ls.base+uint32(i)), err)
		}
	}
	in := float64(time.Since(start).Nanoseconds()) / layoutOps
	for _, ep := range socks {
		ep.Close()
	}
	return conn, in
}

// udpDatagram is a 1-byte UDP datagram from src:5223 to dst:9, with no
// UDP checksum.
func udpDatagram(src, dst netip.Addr) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.UDPMinimumSize+1)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)),
		TTL:         64,
		Protocol:    uint8(udp.ProtocolNumber),
		SrcAddr:     tcpAddr(src),
		DstAddr:     tcpAddr(dst),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	u := header.UDP(b[header.IPv4MinimumSize:])
	u.Encode(&header.UDPFields{SrcPort: 5223, DstPort: 9, Length: uint16(header.UDPMinimumSize + 1)})
	return b
}
