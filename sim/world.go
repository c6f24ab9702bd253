package sim

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natsim/natsim/nat"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// Config configures a World. The zero value is a usable virtual-time
// world with seed 0.
type Config struct {
	// Seed feeds every random source: each stack's RandSource and
	// SecureRNG (ISNs, ephemeral ports), link jitter and loss, device
	// phases drawn through Rand.
	Seed uint64
	// Epoch is the virtual start time (DefaultEpoch when zero).
	Epoch time.Time
	// Wall runs the world on the wall clock instead of virtual time.
	Wall bool
	// DevicesPerStack is how many devices share one gVisor stack
	// (default 1024). A stack's devices share one NIC and one route,
	// each with its own address (sharednic.go), so no lookup of a
	// stack grows with its devices; the shard size is kept because a
	// stack's random sources (ISNs, ports) follow it, and changing it
	// would change every run's results.
	DevicesPerStack int
	// Processors is the number of TCP processor goroutines per stack.
	// Zero means 1: gVisor sizes the pool from runtime.GOMAXPROCS(0) at
	// stack creation (transport/tcp/protocol.go), so the engine sets
	// GOMAXPROCS to 1 for the duration of stack.New. One processor makes
	// in-stack processing order deterministic and the drain cheaper
	// (docs/engine.md has the figures). Negative means GOMAXPROCS.
	Processors int
	// MTU of every NIC (default 1500).
	MTU uint32
	// DeviceTCP is the TCP profile of devices that do not choose one
	// (DeviceConfig.TCP).
	DeviceTCP TCPProfile
}

// TCPProfile holds stack-wide TCP settings, as an operating system's
// sysctls would. Zero fields keep gVisor's defaults (MinRTO 200 ms,
// MaxRTO 120 s, MaxRetries 15, SYN retries 6: gvisor
// pkg/tcpip/transport/tcp/protocol.go).
type TCPProfile struct {
	MinRTO     time.Duration
	MaxRTO     time.Duration
	MaxRetries int
	SynRetries int
	// SendBuffer and ReceiveBuffer are the default per-endpoint buffer
	// sizes in bytes (default 16 KiB each, against gVisor's 1 MiB, to
	// keep a large population small; gVisor allocates buffer memory on
	// demand, so the size bounds the window rather than the heap).
	SendBuffer    int
	ReceiveBuffer int
}

const defaultBuffer = 16 << 10

// World is a simulated network: devices on access networks behind
// middleboxes, hosts (servers) on the public side, the links between
// them, and the scheduler that drives it all. Its methods must be called
// on the scheduler goroutine (before Run, or from callbacks and events).
type World struct {
	cfg   Config
	sched *Scheduler
	rng   *rand.Rand
	seeds *rand.Rand // derives the per-stack seeds

	// mu guards what gVisor goroutines hand over: outbound packets and
	// waiter notifications.
	mu    sync.Mutex
	out   []*packet
	spare []*packet
	notes []notifiable
	nspar []notifiable
	// shut is set when Close begins: outbound packets are discarded.
	shut atomic.Bool

	stacks []*netStack
	// devStacks is the newest device stack of each TCP profile.
	devStacks map[TCPProfile]*netStack
	dirty     []*netStack

	hosts      []*Host
	hostByAddr map[uint32]*Host
	devices    []*Device
	// lastNode is the id of the newest node; id 0 is the public
	// internet. Nodes are not kept here: a detached home router's node
	// goes with its device's path.
	lastNode uint32
	// route maps (parent node id, IPv4 destination) to the next node
	// inward: one flat map for the whole world, O(1) per hop.
	route map[uint64]*node
	used  map[uint32]bool // device and router addresses in use
	alloc map[netip.Prefix]uint32

	subs   []func(Event)
	connID uint64
	// closing holds OnClosed callbacks not yet run, from closeHead on.
	closing   []closeNote
	closeHead int
	capt      *capture

	// stages holds the packet stages as func values made once: a
	// method value made per packet would allocate.
	stages struct{ up, host, down, device func(*packet) }

	stats Stats
	rb    rbuf         // scratch for reads
	wr    bytes.Reader // reusable payload for writes
}

// Stats counts the world's work.
type Stats struct {
	Packets  uint64 // packets that left a NIC or a middlebox
	Injected uint64 // packets delivered into a stack
	Drains   uint64 // quiescence barriers (Pause/Resume of one stack)
	Dropped  uint64
}

// NewWorld returns an empty world.
func NewWorld(cfg Config) *World {
	if cfg.DevicesPerStack <= 0 {
		cfg.DevicesPerStack = 1024
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	var s *Scheduler
	if cfg.Wall {
		s = NewWallScheduler()
	} else {
		s = NewScheduler(cfg.Epoch)
	}
	w := &World{
		cfg:        cfg,
		sched:      s,
		rng:        rand.New(rand.NewPCG(cfg.Seed, 0x6e617473696d)), // "natsim"
		seeds:      rand.New(rand.NewPCG(cfg.Seed, 0x7365656473)),   // "seeds"
		hostByAddr: make(map[uint32]*Host),
		route:      make(map[uint64]*node),
		used:       make(map[uint32]bool),
		alloc:      make(map[netip.Prefix]uint32),
	}
	s.after = w.barrier
	w.stages.up, w.stages.host, w.stages.down, w.stages.device = w.upStage, w.hostStage, w.downStage, w.deviceStage
	return w
}

// Scheduler returns the world's scheduler (its clock).
func (w *World) Scheduler() *Scheduler { return w.sched }

// Clock returns the world's clock for applications.
func (w *World) Clock() Clock { return w.sched }

// Now returns the current (virtual) time.
func (w *World) Now() time.Time { return w.sched.Now() }

// Rand returns the world's seeded generator, for phases and other
// scenario randomness. Use it only on the scheduler goroutine.
func (w *World) Rand() *rand.Rand { return w.rng }

// Stats returns counters of the work done so far.
func (w *World) Stats() Stats { return w.stats }

// Devices returns the world's devices in creation order.
func (w *World) Devices() []*Device { return w.devices }

// Hosts returns the world's hosts in creation order.
func (w *World) Hosts() []*Host { return w.hosts }

// Close tears down every stack and lets go of it. The world cannot run
// afterwards, but its devices, hosts and connections can still be read:
// names, addresses, networks and the world's counters stay, and every
// connection and socket reads as closed. Nothing the world holds then
// keeps a gVisor stack or endpoint, nor a pending event, so their memory
// can be collected while the records are still in use (a partitioned
// run closes each partition's world when it has run). No callback runs.
// Close may be called more than once.
func (w *World) Close() {
	// Closing a stack resets its connections, and nothing will route the
	// segments that sends: WritePackets discards them rather than keep a
	// record of each (two a device, 416 MB for a million devices).
	w.shut.Store(true)
	for _, st := range w.stacks {
		st.s.Close()
	}
	for _, st := range w.stacks {
		st.s.Wait()
	}
	w.stacks = nil
	w.devStacks = nil
	w.dirty = nil
	for _, d := range w.devices {
		d.iface.release()
	}
	for _, h := range w.hosts {
		h.iface.release()
	}
	w.sched.drop()
	w.mu.Lock()
	w.out, w.spare, w.notes, w.nspar = nil, nil, nil, nil
	w.mu.Unlock()
	w.closing, w.closeHead = nil, 0
}

// netStack is one gVisor stack of the world: a host's, or a shard of
// devices on one shared NIC (sharednic.go).
type netStack struct {
	w     *World
	idx   int
	s     *stack.Stack
	dirty bool

	// Device stacks only. nic is the NIC every device of the stack
	// shares; ndev counts the devices that joined (a device's slot is
	// its position); devs finds a device by source address (its
	// current address and the one before); peers are the remote
	// addresses put on the NIC so that gVisor's inbound source check
	// stays a map lookup.
	nic   *nicEP
	ndev  int
	devs  map[uint32]*Device
	peers map[uint32]bool
}

// stackNewMu serialises the GOMAXPROCS dance around stack.New.
var stackNewMu sync.Mutex

func (w *World) newStack(p TCPProfile) (*netStack, error) {
	s, err := newGStack(w.sched, w.seeds, w.cfg.Processors, p)
	if err != nil {
		return nil, err
	}
	st := &netStack{w: w, idx: len(w.stacks), s: s}
	w.stacks = append(w.stacks, st)
	return st, nil
}

// newGStack builds a gVisor stack as the world configures them: IPv4,
// TCP and UDP only, clock, seeded random sources, procs TCP processors
// (0 means 1, negative GOMAXPROCS) and TCP profile p. The floor benchmark
// builds its stacks here too, so both measure the same stacks.
func newGStack(clock tcpip.Clock, seeds *rand.Rand, procs int, p TCPProfile) (*stack.Stack, error) {
	opts := stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
		Clock:              clock,
		RandSource:         &lockedSource{r: rand.New(rand.NewPCG(seeds.Uint64(), seeds.Uint64()))},
		SecureRNG:          &lockedReader{r: rand.NewChaCha8(seed32(seeds))},
	}
	var s *stack.Stack
	if procs >= 0 {
		if procs == 0 {
			procs = 1
		}
		stackNewMu.Lock()
		old := runtime.GOMAXPROCS(procs)
		s = stack.New(opts)
		runtime.GOMAXPROCS(old)
		stackNewMu.Unlock()
	} else {
		s = stack.New(opts)
	}
	if err := applyProfile(s, p); err != nil {
		s.Destroy()
		return nil, err
	}
	return s, nil
}

func seed32(r *rand.Rand) [32]byte {
	var b [32]byte
	for i := 0; i < 32; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

func applyProfile(s *stack.Stack, p TCPProfile) error {
	set := func(name string, o tcpip.SettableTransportProtocolOption) error {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, o); err != nil {
			return fmt.Errorf("sim: tcp profile %s: %s", name, err)
		}
		return nil
	}
	snd, rcv := p.SendBuffer, p.ReceiveBuffer
	if snd <= 0 {
		snd = defaultBuffer
	}
	if rcv <= 0 {
		rcv = defaultBuffer
	}
	// Receive-buffer moderation would grow buffers behind our back.
	mod := tcpip.TCPModerateReceiveBufferOption(false)
	if err := set("moderate receive buffer", &mod); err != nil {
		return err
	}
	sr := tcpip.TCPSendBufferSizeRangeOption{Min: min(snd, 4096), Default: snd, Max: max(snd, 4<<20)}
	if err := set("send buffer", &sr); err != nil {
		return err
	}
	rr := tcpip.TCPReceiveBufferSizeRangeOption{Min: min(rcv, 4096), Default: rcv, Max: max(rcv, 4<<20)}
	if err := set("receive buffer", &rr); err != nil {
		return err
	}
	if p.MinRTO > 0 {
		o := tcpip.TCPMinRTOOption(p.MinRTO)
		if err := set("min RTO", &o); err != nil {
			return err
		}
	}
	if p.MaxRTO > 0 {
		o := tcpip.TCPMaxRTOOption(p.MaxRTO)
		if err := set("max RTO", &o); err != nil {
			return err
		}
	}
	if p.MaxRetries > 0 {
		o := tcpip.TCPMaxRetriesOption(p.MaxRetries)
		if err := set("max retries", &o); err != nil {
			return err
		}
	}
	if p.SynRetries > 0 {
		o := tcpip.TCPSynRetriesOption(p.SynRetries)
		if err := set("SYN retries", &o); err != nil {
			return err
		}
	}
	return nil
}

// addNIC creates NIC 1 of the stack, with a default route through it,
// and puts addr on it (none when invalid).
func (st *netStack) addNIC(ep *nicEP, addr netip.Addr) error {
	ep.id = 1
	ep.st = st
	if err := st.s.CreateNICWithOptions(ep.id, ep, stack.NICOptions{}); err != nil {
		return fmt.Errorf("sim: create NIC %d: %s", ep.id, err)
	}
	st.s.AddRoute(tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: ep.id})
	if addr.IsValid() {
		return st.addAddr(addr, stack.CanBePrimaryEndpoint)
	}
	return nil
}

// addAddr puts addr (/32) on the stack's NIC.
func (st *netStack) addAddr(addr netip.Addr, peb stack.PrimaryEndpointBehavior) error {
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpAddr(addr).WithPrefix()}
	if err := st.s.AddProtocolAddress(1, pa, stack.AddressProperties{PEB: peb}); err != nil {
		return fmt.Errorf("sim: add address %s: %s", addr, err)
	}
	return nil
}

func tcpAddr(a netip.Addr) tcpip.Address { return tcpip.AddrFrom4(a.As4()) }

func ip4(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func addrOf(u uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b)
}

// allocAddr hands out the next unused address of p, skipping the
// network address and .1 (the gateway by convention).
func (w *World) allocAddr(p netip.Prefix) (netip.Addr, error) {
	p = p.Masked()
	if !p.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("sim: prefix %s is not IPv4", p)
	}
	size := uint64(1) << (32 - p.Bits())
	base := ip4(p.Addr())
	for {
		off := w.alloc[p]
		if off < 2 {
			off = 2
		}
		if uint64(off) >= size-1 {
			return netip.Addr{}, fmt.Errorf("sim: prefix %s has no free address", p)
		}
		w.alloc[p] = off + 1
		a := base + off
		if !w.used[a] && w.hostByAddr[a] == nil {
			w.used[a] = true
			return addrOf(a), nil
		}
	}
}

// notifiable is a socket with waiter events to dispatch after the
// barrier.
type notifiable interface {
	id() uint64
	dispatch()
}

// notify queues n for dispatch on the scheduler goroutine. It runs on
// gVisor goroutines (waiter callbacks), so it only records.
func (w *World) notify(n notifiable) {
	w.mu.Lock()
	w.notes = append(w.notes, n)
	w.mu.Unlock()
}

// barrier runs after every event: it drains the stacks the event
// touched, routes the packets they emitted in a deterministic order, and
// runs application callbacks, until nothing is left at this instant.
func (w *World) barrier() {
	for {
		for _, st := range w.dirty {
			st.s.Pause()
			st.s.Resume()
			st.dirty = false
			w.stats.Drains++
		}
		w.dirty = w.dirty[:0]
		w.mu.Lock()
		out, notes := w.out, w.notes
		w.out, w.notes = w.spare[:0], w.nspar[:0]
		w.mu.Unlock()
		if len(out) == 0 && len(notes) == 0 {
			w.spare, w.nspar = out, notes
			if w.closeHead == len(w.closing) {
				return
			}
			w.flushClosed()
			continue
		}
		w.owners(out)
		if len(out) > 1 {
			// Processors and the scheduler goroutine append in racy
			// order; order by (stack, device, flow), stably, so each
			// flow keeps its own order.
			slices.SortStableFunc(out, func(a, b *packet) int {
				if a.key1 != b.key1 {
					return cmp.Compare(a.key1, b.key1)
				}
				return cmp.Compare(a.key2, b.key2)
			})
		}
		for i, p := range out {
			out[i] = nil
			if p.from.host == nil {
				w.deviceOutput(p.dev, p)
			} else {
				w.hostOutput(p.from.host, p)
			}
		}
		if len(notes) > 1 {
			slices.SortFunc(notes, func(a, b notifiable) int { return cmp.Compare(a.id(), b.id()) })
		}
		var last uint64
		for i, n := range notes {
			notes[i] = nil
			if id := n.id(); id != last {
				last = id
				n.dispatch()
			}
		}
		w.spare, w.nspar = out[:0], notes[:0]
		w.flushClosed()
	}
}

// packet is a whole IPv4 packet in flight, pooled.
type packet struct {
	data  []byte
	buf   *[]byte // a pooled buffer data lies in, when store is too small
	store [packetInline]byte
	from  *nicEP
	dev   *Device // the device it belongs to, once known
	host  *Host
	node  *node // outbound: next box; inbound: current level (nil: public)
	// sort keys: (stack, device slot) and flow
	key1, key2 uint64
}

// packetInline is how many bytes a packet carries in its own record:
// enough for the segments most of a keep-alive run's traffic is made of
// (a bare ACK with timestamps is 52 bytes, a SYN 60, an MQTT PINGREQ 54).
// A larger packet borrows a buffer from packetBufs. Every packet in
// flight holds its record, so the record's size is what a mass reconnect
// costs in memory: with a 2,048-byte store inline, the packets in flight
// in the first minute of 20,000 phones booting at once held 68 MB
// (docs/engine.md, "Memory of a full-stack run").
const packetInline = 128

// packetBufs pools the buffers of packets larger than packetInline, by
// size: 256, 512, 1,024 and 2,048 bytes (the last holds a 1,500-byte
// MTU); a packet larger still gets a buffer of its own.
var packetBufs [4]sync.Pool

func init() {
	for i := range packetBufs {
		size := packetInline << (i + 1)
		packetBufs[i].New = func() any { b := make([]byte, size); return &b }
	}
}

// bufClass is the index in packetBufs of the smallest buffer that holds
// n bytes, for packetInline < n <= 2,048.
func bufClass(n int) int { return bits.Len(uint(n-1)) - bits.Len(packetInline) }

var packetPool = sync.Pool{New: func() any { return new(packet) }}

func newPacket(n int) *packet {
	p := packetPool.Get().(*packet)
	switch {
	case n <= len(p.store):
		p.data = p.store[:n]
	case n <= packetInline<<len(packetBufs):
		p.buf = packetBufs[bufClass(n)].Get().(*[]byte)
		p.data = (*p.buf)[:n]
	default:
		p.data = make([]byte, n)
	}
	return p
}

func putPacket(p *packet) {
	if p.buf != nil {
		packetBufs[bufClass(len(*p.buf))].Put(p.buf)
	}
	// Clear the pointers so the pools keep nothing alive; the bytes are
	// overwritten by the next user.
	p.data, p.buf, p.from, p.dev, p.host, p.node = nil, nil, nil, nil, nil, nil
	packetPool.Put(p)
}

// nicEP is the engine's gVisor LinkEndpoint: outbound packets are copied
// into the world's collection; inbound packets are injected by the
// engine on the scheduler goroutine. A host has one; a device stack's
// devices share one (host nil), and the barrier tells their packets
// apart by source address (netStack.devs).
type nicEP struct {
	rawLink
	st   *netStack
	id   tcpip.NICID
	host *Host
}

// rawLink is the part of a gVisor LinkEndpoint that carries raw IPv4
// packets with no link header, no link address and no offloads: all but
// WritePackets. The floor benchmark's endpoints share it.
type rawLink struct {
	disp stack.NetworkDispatcher
	mtu  uint32
}

func (e *rawLink) MTU() uint32                                  { return e.mtu }
func (e *rawLink) SetMTU(m uint32)                              { e.mtu = m }
func (e *rawLink) MaxHeaderLength() uint16                      { return 0 }
func (e *rawLink) LinkAddress() tcpip.LinkAddress               { return "" }
func (e *rawLink) SetLinkAddress(tcpip.LinkAddress)             {}
func (e *rawLink) Capabilities() stack.LinkEndpointCapabilities { return stack.CapabilityNone }
func (e *rawLink) Attach(d stack.NetworkDispatcher)             { e.disp = d }
func (e *rawLink) IsAttached() bool                             { return e.disp != nil }
func (e *rawLink) Wait()                                        {}
func (e *rawLink) ARPHardwareType() header.ARPHardwareType      { return header.ARPHardwareNone }
func (e *rawLink) AddHeader(*stack.PacketBuffer)                {}
func (e *rawLink) ParseHeader(*stack.PacketBuffer) bool         { return true }
func (e *rawLink) Close()                                       {}
func (e *rawLink) SetOnCloseAction(func())                      {}

// WritePackets copies each packet out; it runs on whichever goroutine
// sends (a processor, a timer on the scheduler goroutine, an app write).
func (e *nicEP) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	w := e.st.w
	if w.shut.Load() {
		return pkts.Len(), nil
	}
	n := 0
	for _, pkb := range pkts.AsSlice() {
		p := newPacket(pkb.Size())
		vl, off := pkb.AsViewList()
		i := 0
		for v := vl.Front(); v != nil; v = v.Next() {
			s := v.AsSlice()
			if off >= len(s) {
				off -= len(s)
				continue
			}
			i += copy(p.data[i:], s[off:])
			off = 0
		}
		p.data = p.data[:i]
		p.from = e
		p.key1 = uint64(e.st.idx) << 32
		if e.host != nil {
			p.key1 |= uint64(e.id)
		}
		p.key2 = flowKey(p.data)
		w.mu.Lock()
		w.out = append(w.out, p)
		w.mu.Unlock()
		n++
	}
	return n, nil
}

// flowKey orders packets of different flows of one NIC: protocol,
// destination address and both ports.
func flowKey(b []byte) uint64 {
	if len(b) < 24 {
		return 0
	}
	ihl := int(b[0]&0xf) * 4
	var ports uint32
	if len(b) >= ihl+4 {
		ports = binary.BigEndian.Uint32(b[ihl:])
	}
	return uint64(b[9])<<56 ^ uint64(binary.BigEndian.Uint32(b[16:20]))<<24 ^ uint64(ports)
}

// inject delivers p into the stack behind e and recycles it.
func (w *World) inject(e *nicEP, p *packet) {
	w.stats.Injected++
	if e.disp != nil {
		pkb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(p.data)})
		e.disp.DeliverNetworkPacket(header.IPv4ProtocolNumber, pkb)
		pkb.DecRef()
		// Only TCP segments are processed asynchronously (on the
		// stack's processor goroutines, transport/tcp/dispatcher.go);
		// UDP delivery and everything else completes inline.
		if len(p.data) > 9 && p.data[9] == uint8(tcp.ProtocolNumber) && !e.st.dirty {
			e.st.dirty = true
			w.dirty = append(w.dirty, e.st)
		}
	}
	putPacket(p)
}

func (w *World) drop(p *packet, cause DropCause, reason nat.DropReason, dir nat.Direction, where string) {
	w.stats.Dropped++
	if len(w.subs) > 0 {
		w.emit(Event{Kind: EventDrop, Device: p.dev, Drop: cause, NAT: reason, Dir: dir, Where: where, Size: len(p.data)})
	}
	putPacket(p)
}

func dstAddr(b []byte) uint32 {
	if len(b) < 20 {
		return 0
	}
	return binary.BigEndian.Uint32(b[16:20])
}

// devicePort returns the device-side TCP or UDP port of an IPv4 packet
// (source port when up), or 0.
func devicePort(b []byte, up bool) uint16 {
	if len(b) < 20 || (b[9] != 6 && b[9] != 17) {
		return 0
	}
	off := int(b[0]&0x0f) * 4
	if !up {
		off += 2
	}
	if off < 20 || len(b) < off+2 {
		return 0
	}
	return binary.BigEndian.Uint16(b[off : off+2])
}

func srcAddr(b []byte) uint32 {
	if len(b) < 20 {
		return 0
	}
	return binary.BigEndian.Uint32(b[12:16])
}

// deviceOutput takes a packet device d emitted now; d is nil when its
// source address belongs to no device of the stack.
func (w *World) deviceOutput(d *Device, p *packet) {
	w.stats.Packets++
	p.dev = d
	if d == nil {
		w.drop(p, DropInterfaceDown, nat.DropNone, nat.Outbound, "")
		return
	}
	if !d.up || srcAddr(p.data) != d.addr4 {
		// The interface is down or the address has gone: the OS
		// would not send it (e.g. the RST of a socket torn down on an
		// address change).
		w.drop(p, DropInterfaceDown, nat.DropNone, nat.Outbound, d.name)
		return
	}
	now := int64(w.sched.Elapsed())
	if d.tap != nil {
		d.tap(Tap{At: w.sched.Now(), Up: true, Size: len(p.data), Port: devicePort(p.data, true)})
	}
	if w.capt != nil {
		w.capt.record(&d.n, p, nat.Outbound)
	}
	at, cause := d.link.transit(w.rng, now, 0, len(p.data))
	if cause != DropNone {
		w.drop(p, cause, nat.DropNone, nat.Outbound, d.link.name)
		return
	}
	p.node = d.n.parent
	w.sched.schedulePacket(at, w.stages.up, p)
}

// upStage carries p through the outbound middleboxes, then over the core
// link of the host that owns its destination.
func (w *World) upStage(p *packet) {
	now := w.sched.Now()
	for p.node != nil {
		n := p.node
		if n.box == nil {
			// A home router detached (ChangeAddress, Move) while the
			// packet crossed the access link: its source address has
			// gone with it.
			w.drop(p, DropInterfaceDown, nat.DropNone, nat.Outbound, n.name)
			return
		}
		v := n.box.Process(now, nat.Outbound, p.data)
		w.generated(n, v.Generated)
		w.armExpiry(n)
		if !v.Forward {
			w.drop(p, DropMiddlebox, v.Drop, nat.Outbound, n.name)
			return
		}
		w.stats.Packets++
		if w.capt != nil {
			w.capt.record(n, p, nat.Outbound)
		}
		p.node = n.parent
	}
	h := w.hostByAddr[dstAddr(p.data)]
	if h == nil {
		w.drop(p, DropNoRoute, nat.DropNone, nat.Outbound, "")
		return
	}
	at, cause := h.link.transit(w.rng, int64(w.sched.Elapsed()), 0, len(p.data))
	if cause != DropNone {
		w.drop(p, cause, nat.DropNone, nat.Outbound, h.link.name)
		return
	}
	p.host = h
	w.forward(at, w.stages.host, p)
}

// forward runs stage f for p at virtual time at: inline when at is now
// (a link with no latency, the usual core link), which saves an event
// per packet, else as a scheduled packet event. Either way the stage
// runs on the scheduler goroutine before time moves past at.
func (w *World) forward(at int64, f func(*packet), p *packet) {
	if !w.sched.wall && at <= w.sched.now.Load() {
		f(p)
		return
	}
	w.sched.schedulePacket(at, f, p)
}

func (w *World) hostStage(p *packet) {
	h := p.host
	if w.capt != nil {
		w.capt.record(&h.n, p, nat.Outbound)
	}
	w.inject(h.ep, p)
}

// hostOutput takes a packet a host's NIC emitted now.
func (w *World) hostOutput(h *Host, p *packet) {
	w.stats.Packets++
	if w.capt != nil {
		w.capt.record(&h.n, p, nat.Inbound)
	}
	at, cause := h.link.transit(w.rng, int64(w.sched.Elapsed()), 1, len(p.data))
	if cause != DropNone {
		w.drop(p, cause, nat.DropNone, nat.Inbound, h.link.name)
		return
	}
	p.node = nil
	w.forward(at, w.stages.down, p)
}

// downStage routes p inward from p.node (nil: the public internet) by its
// destination, through middleboxes, to a device's access link.
func (w *World) downStage(p *packet) {
	now := w.sched.Now()
	for {
		var parent uint64
		if p.node != nil {
			parent = uint64(p.node.id)
		}
		n := w.route[parent<<32|uint64(dstAddr(p.data))]
		if n == nil {
			w.drop(p, DropNoRoute, nat.DropNone, nat.Inbound, "")
			return
		}
		if d := n.dev; d != nil {
			p.dev = d
			if !d.up {
				w.drop(p, DropInterfaceDown, nat.DropNone, nat.Inbound, d.name)
				return
			}
			at, cause := d.link.transit(w.rng, int64(w.sched.Elapsed()), 1, len(p.data))
			if cause != DropNone {
				w.drop(p, cause, nat.DropNone, nat.Inbound, d.link.name)
				return
			}
			w.sched.schedulePacket(at, w.stages.device, p)
			return
		}
		capt := w.capt != nil && w.capt.wantInbound(n, p)
		v := n.box.Process(now, nat.Inbound, p.data)
		w.generated(n, v.Generated)
		w.armExpiry(n)
		if !v.Forward {
			w.drop(p, DropMiddlebox, v.Drop, nat.Inbound, n.name)
			return
		}
		w.stats.Packets++
		if capt {
			w.capt.write(n, p)
		}
		p.node = n
	}
}

func (w *World) deviceStage(p *packet) {
	d := p.dev
	if !d.up || dstAddr(p.data) != d.addr4 {
		w.drop(p, DropInterfaceDown, nat.DropNone, nat.Inbound, d.name)
		return
	}
	if d.tap != nil {
		d.tap(Tap{At: w.sched.Now(), Up: false, Size: len(p.data), Port: devicePort(p.data, false)})
	}
	if w.capt != nil {
		w.capt.record(&d.n, p, nat.Inbound)
	}
	d.st.addPeer(srcAddr(p.data))
	w.inject(d.ep, p)
}

// generated sends the packets middlebox n generated, each on in its
// direction from n's position, at the current instant.
func (w *World) generated(n *node, gen []nat.Packet) {
	for _, g := range gen {
		p := newPacket(len(g.Data))
		copy(p.data, g.Data)
		w.stats.Packets++
		w.emit(Event{Kind: EventGenerated, Where: n.name, Dir: g.Dir, Size: len(p.data), Device: n.dev})
		if w.capt != nil {
			w.capt.record(n, p, g.Dir)
		}
		if g.Dir == nat.Outbound {
			p.node = n.parent
			w.upStage(p)
		} else {
			p.node = n
			w.downStage(p)
		}
	}
}

// armExpiry makes sure n's expiry timer fires no later than the box's
// next deadline. It re-arms only when the deadline moves earlier; a
// timer that fires early finds nothing due and re-arms, which keeps the
// per-packet cost of a refreshed mapping at one comparison.
//
// Whether the timer is pending is kept in n.armed rather than read from
// the timer's heap index: gVisor's processors, which may still be
// working on a segment injected earlier in this event, move other
// timers in the heap under the scheduler's lock and rewrite the indexes
// of the timers they pass, this one included.
func (w *World) armExpiry(n *node) {
	t, ok := n.box.NextDeadline()
	if !ok {
		return
	}
	at := int64(t.Sub(w.sched.epoch))
	if n.timer == nil {
		n.armed = notArmed
		n.timer = &Timer{s: w.sched, idx: -1, f: func() {
			n.armed = notArmed
			w.expire(n)
		}}
	}
	if n.armed <= at {
		return
	}
	n.armed = at
	n.timer.Reset(time.Duration(at - int64(w.sched.Elapsed())))
}

// notArmed is node.armed while the node's expiry timer is not pending.
const notArmed = math.MaxInt64

func (w *World) expire(n *node) {
	if n.box == nil {
		return
	}
	gen := n.box.Expire(w.sched.Now())
	w.generated(n, gen)
	w.armExpiry(n)
}

// node is a place on a packet path: a device or a middlebox.
type node struct {
	id     uint32
	name   string
	parent *node // next box outward; nil: the core
	box    nat.Middlebox
	dev    *Device
	timer  *Timer
	armed  int64 // when timer fires; notArmed when it is not pending
	// outside addresses registered for inbound routing, for removal
	routes  []uint64
	outside uint32 // a home router's outside address, to release
	capIf   int    // pcap interface index + 1
}

func (w *World) newNode(name string, box nat.Middlebox, parent *node) *node {
	return &node{id: w.nodeID(), name: name, box: box, parent: parent}
}

// nodeID returns a new node id, unique in the world.
func (w *World) nodeID() uint32 {
	w.lastNode++
	return w.lastNode
}

// addRoute makes packets for addr arriving at level parent (nil: the
// public internet) go to n. owner records the route so that it goes
// when owner leaves.
func (w *World) addRoute(owner, parent *node, addr uint32, n *node) error {
	var pid uint64
	if parent != nil {
		pid = uint64(parent.id)
	}
	k := pid<<32 | uint64(addr)
	if o := w.route[k]; o != nil && o != n {
		return fmt.Errorf("address %s is already routed to %s", addrOf(addr), o.name)
	}
	w.route[k] = n
	owner.routes = append(owner.routes, k)
	return nil
}

func (w *World) dropRoutes(owner *node) {
	for _, k := range owner.routes {
		delete(w.route, k)
	}
	owner.routes = owner.routes[:0]
}

// lockedSource is a thread-safe math/rand (v1) Source over a seeded
// PCG, as stack.Options.RandSource requires.
type lockedSource struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (s *lockedSource) Int63() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Int64() & (1<<63 - 1)
}

func (s *lockedSource) Seed(int64) {}

// lockedReader is a deterministic stand-in for crypto/rand in
// stack.Options.SecureRNG. Simulated ISNs need to be reproducible, not
// secret.
type lockedReader struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func (l *lockedReader) Read(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(b)
}
