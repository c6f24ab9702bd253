package sim

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// The floor is what the engine's workload costs in gVisor alone: the same
// stacks (built by newGStack, devices sharded the same way), the same
// number of connections and 1-byte ping/pong exchanges, but no scheduler,
// no links, no events and no callbacks. A packet a stack emits is handed
// directly to the destination stack's NIC (as gVisor's link/pipe does,
// without copying its bytes), and the receiving stack is drained with
// Pause/Resume after each delivery, as the engine must: that hand-off to
// the TCP processor is gVisor's, so the floor pays it too. The
// application reads and writes directly, knowing where the data is.

// frozenClock is a clock whose time never moves and whose timers never
// fire: the floor exchanges no packet that needs a timer.
type frozenClock struct{}

func (frozenClock) Now() time.Time                              { return DefaultEpoch }
func (frozenClock) NowMonotonic() tcpip.MonotonicTime           { return tcpip.MonotonicTime{} }
func (frozenClock) AfterFunc(time.Duration, func()) tcpip.Timer { return frozenTimer{} }

type frozenTimer struct{}

func (frozenTimer) Stop() bool          { return true }
func (frozenTimer) Reset(time.Duration) {}

type floorPkt struct {
	to  *floorEP
	buf buffer.Buffer
}

// floorNet holds the floor's stacks and the packets in flight.
type floorNet struct {
	mu      sync.Mutex
	q, next []floorPkt
	server  *floorEP
	clients []*floorEP
	base    uint32 // first client address
	stacks  []*floorStack
	dirty   []*floorStack
	packets uint64
}

type floorStack struct {
	s     *stack.Stack
	dirty bool // delivered to since the last drain
}

type floorEP struct {
	rawLink
	net *floorNet
	st  *floorStack
	id  tcpip.NICID
}

func (e *floorEP) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := e.net
	for _, pkb := range pkts.AsSlice() {
		b := pkb.ToBuffer()
		var dst [4]byte
		b.ReadAt(dst[:], 16)
		a := binary.BigEndian.Uint32(dst[:])
		to := n.server
		if i := a - n.base; a != ip4(serverAddr) && int(i) < len(n.clients) {
			to = n.clients[i]
		}
		n.mu.Lock()
		n.q = append(n.q, floorPkt{to: to, buf: b})
		n.mu.Unlock()
	}
	return pkts.Len(), nil
}

// pump delivers every packet in flight, draining each receiving stack
// after each round of deliveries, until nothing is left.
func (n *floorNet) pump() {
	for {
		n.mu.Lock()
		q := n.q
		n.q = n.next[:0]
		n.mu.Unlock()
		if len(q) == 0 {
			n.next = q
			return
		}
		for i, p := range q {
			pkb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: p.buf})
			p.to.disp.DeliverNetworkPacket(header.IPv4ProtocolNumber, pkb)
			pkb.DecRef()
			n.packets++
			if st := p.to.st; !st.dirty {
				st.dirty = true
				n.dirty = append(n.dirty, st)
			}
			q[i] = floorPkt{}
		}
		n.next = q[:0]
		for _, st := range n.dirty {
			st.s.Pause()
			st.s.Resume()
			st.dirty = false
		}
		n.dirty = n.dirty[:0]
	}
}

type floorConn struct {
	cli, srv tcpip.Endpoint
}

// floor is a set-up floor: n connections between the device stacks and
// the server stack, ready for exchanges.
type floor struct {
	tb      testing.TB
	net     *floorNet
	conns   []floorConn
	order   []int // the connections in a seeded random order
	next    int   // position in order of the next exchange
	rb      rbuf
	wr      bytes.Reader
	wall    time.Duration
	packets uint64
	done    int // exchanges
}

// newFloor sets up n connections, with devices sharded over stacks of
// perStack devices on one NIC each, with the server's address on that
// NIC too, as the engine lays them out (sharednic.go).
func newFloor(tb testing.TB, n, perStack int, seed uint64) *floor {
	seeds := rand.New(rand.NewPCG(seed, 0x666c6f6f72)) // "floor"
	fn := &floorNet{base: ip4(netip.MustParseAddr("10.0.0.2"))}
	mk := func() *floorStack {
		s, err := newGStack(frozenClock{}, seeds, 0, TCPProfile{})
		if err != nil {
			tb.Fatal(err)
		}
		st := &floorStack{s: s}
		fn.stacks = append(fn.stacks, st)
		return st
	}
	addAddr := func(st *floorStack, a uint32, peb stack.PrimaryEndpointBehavior) {
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpAddr(addrOf(a)).WithPrefix()}
		if err := st.s.AddProtocolAddress(1, pa, stack.AddressProperties{PEB: peb}); err != nil {
			tb.Fatal(err)
		}
	}
	addNIC := func(st *floorStack) *floorEP {
		s := st.s
		e := &floorEP{rawLink: rawLink{mtu: 1500}, net: fn, st: st, id: 1}
		if err := s.CreateNICWithOptions(1, e, stack.NICOptions{}); err != nil {
			tb.Fatal(err)
		}
		s.AddRoute(tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: 1})
		return e
	}
	srvStack := mk()
	fn.server = addNIC(srvStack)
	addAddr(srvStack, ip4(serverAddr), stack.CanBePrimaryEndpoint)
	var lwq waiter.Queue
	l, err := srvStack.s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &lwq)
	if err != nil {
		tb.Fatal(err)
	}
	if err := l.Bind(tcpip.FullAddress{NIC: 1, Addr: tcpAddr(serverAddr), Port: 5223}); err != nil {
		tb.Fatal(err)
	}
	if err := l.Listen(4096); err != nil {
		tb.Fatal(err)
	}
	var cs *floorStack
	var e *floorEP
	conns := make([]floorConn, n)
	wqs := make([]waiter.Queue, n)
	for i := range n {
		if i%perStack == 0 {
			cs = mk()
			e = addNIC(cs)
			addAddr(cs, ip4(serverAddr), stack.NeverPrimaryEndpoint)
		}
		addAddr(cs, fn.base+uint32(i), stack.NeverPrimaryEndpoint)
		fn.clients = append(fn.clients, e)
		ep, err := cs.s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wqs[i])
		if err != nil {
			tb.Fatal(err)
		}
		ep.SocketOptions().SetDelayOption(false)
		if err := ep.Bind(tcpip.FullAddress{NIC: e.id, Addr: tcpAddr(addrOf(fn.base + uint32(i)))}); err != nil {
			tb.Fatal(err)
		}
		if err := ep.Connect(tcpip.FullAddress{NIC: e.id, Addr: tcpAddr(serverAddr), Port: 5223}); err != nil {
			if _, ok := err.(*tcpip.ErrConnectStarted); !ok {
				tb.Fatal(err)
			}
		}
		fn.pump()
		sep, _, err := l.Accept(nil)
		if err != nil {
			tb.Fatalf("floor: accept connection %d: %s", i, err)
		}
		sep.SocketOptions().SetDelayOption(false)
		conns[i] = floorConn{cli: ep, srv: sep}
	}
	// The engine's devices ping in the order of their random phases,
	// the same order every period; the floor visits its connections in
	// a seeded random order too, so that both touch memory alike (in
	// creation order the floor enjoyed a locality the engine cannot
	// have, and its cost per packet stopped growing with n).
	order := seeds.Perm(n)
	return &floor{tb: tb, net: fn, conns: conns, order: order}
}

var ping = []byte{'p'}

// run times k more ping/pong exchanges, round-robin over the
// connections.
func (f *floor) run(k int) {
	tb, fn := f.tb, f.net
	start := time.Now()
	p0 := fn.packets
	for range k {
		c := f.conns[f.order[f.next]]
		f.next = (f.next + 1) % len(f.order)
		f.wr.Reset(ping)
		if _, err := c.cli.Write(&f.wr, tcpip.WriteOptions{}); err != nil {
			tb.Fatalf("floor: ping: %s", err)
		}
		fn.pump()
		f.rb.b = f.rb.b[:0]
		if _, err := c.srv.Read(&f.rb, tcpip.ReadOptions{}); err != nil || len(f.rb.b) != 1 {
			tb.Fatalf("floor: server read %q: %v", f.rb.b, err)
		}
		f.wr.Reset(f.rb.b[:1])
		if _, err := c.srv.Write(&f.wr, tcpip.WriteOptions{}); err != nil {
			tb.Fatalf("floor: pong: %s", err)
		}
		fn.pump()
		f.rb.b = f.rb.b[:0]
		if _, err := c.cli.Read(&f.rb, tcpip.ReadOptions{}); err != nil || len(f.rb.b) != 1 {
			tb.Fatalf("floor: client read %q: %v", f.rb.b, err)
		}
	}
	f.wall += time.Since(start)
	f.packets += fn.packets - p0
	f.done += k
}

func (f *floor) nsPerPacket() float64 { return float64(f.wall.Nanoseconds()) / float64(f.packets) }

func (f *floor) close() {
	for _, st := range f.net.stacks {
		st.s.Close()
	}
	for _, st := range f.net.stacks {
		st.s.Wait()
	}
}

// BenchmarkFloor runs the floor alone: 1,000 connections, 288 exchanges
// each (a day of 5-minute pings).
func BenchmarkFloor(b *testing.B) {
	for b.Loop() {
		f := newFloor(b, 1000, 1024, 1)
		f.run(288 * 1000)
		b.ReportMetric(f.nsPerPacket(), "ns/packet")
		b.ReportMetric(float64(f.packets)/float64(f.done), "packets/exchange")
		b.ReportMetric(f.wall.Seconds(), "wall-s")
		f.close()
	}
}
