package nat

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Key kinds share the two flow indexes.
const (
	keySession uint8 = iota // a session: inside (or public) endpoint + remote endpoint
	keyBinding              // byInside: inside endpoint + remote masked by mapping behaviour -> public endpoint
	keyFilter               // filters: public endpoint + remote address -> sessions (ADF only)
)

// flowKey indexes sessions. In byInside, l* is the inside endpoint; in
// filters and the unsolicited store, the public endpoint. r* is always
// the remote endpoint. For ICMP queries lport is the echo identifier and
// rport is zero.
//
// There is no index by public endpoint and remote: an inbound packet
// finds its binding in ports, the binding names its inside endpoint
// (a public endpoint belongs to one inside endpoint at a time), and
// byInside gives the session. That second map costed about 30 bytes per
// session at 1M sessions for one lookup saved on inbound packets.
type flowKey struct {
	proto uint8
	kind  uint8
	lport uint16
	laddr [4]byte
	raddr [4]byte
	rport uint16
}

// portKey names one public endpoint of one protocol.
type portKey struct {
	addr  [4]byte
	port  uint16
	proto uint8
}

// binding is a public endpoint in use (a "mapping" in RFC 4787 terms):
// the sessions sharing it count in refs. A binding with no sessions stays
// in the ports index to enforce the hold-down and remember its last owner.
type binding struct {
	inAddr   [4]byte
	inPort   uint16
	remPort  uint16  // remote masked by the mapping behaviour
	remAddr  [4]byte // (zero for EIM)
	refs     uint32
	released int64 // when refs last fell to zero
}

// Session flags.
const (
	sfReplied  uint16 = 1 << iota // a packet travelled opposite to the creator's
	sfInbound                     // created by an inbound packet
	sfSeenOut                     // outbound sequence tracking is valid
	sfSeenIn                      // inbound sequence tracking is valid
	sfUnackOut                    // the inside has unacknowledged data
	sfUnackIn                     // the remote has unacknowledged data
	sfFinOut                      // the first FIN came from the inside
	sfFinIn                       // the first FIN came from the outside
	sfAckOut                      // outAck is valid
	sfAckIn                       // inAck is valid
	sfHairpin                     // the remote is another public endpoint of this table
)

// session is one tracked flow (a conntrack entry): 72 bytes. UDP and
// ICMP sessions keep their creation time in the TCP ack fields.
type session struct {
	inAddr, pubAddr, remAddr [4]byte
	inPort, pubPort, remPort uint16
	proto                    uint8
	state                    uint8 // tcpState for TCP
	flags                    uint16
	retrans                  uint8
	deadline                 int64 // when the session expires unless refreshed
	armed                    int64 // earliest live heap entry for this session
	gen                      uint32
	refreshes                uint32
	lastSig                  uint32 // retransmission detector (Linux last_seq/ack/end/win)
	outEnd, inEnd            uint32 // highest sequence end seen per direction
	outAck, inAck            uint32 // latest acknowledgment per direction
}

// createdAt returns a UDP or ICMP session's creation time, which lives in
// the TCP acknowledgment fields those protocols do not use.
func (s *session) createdAt() int64 { return int64(uint64(s.outAck)<<32 | uint64(s.inAck)) }

func (s *session) setCreatedAt(r int64) { s.outAck, s.inAck = uint32(uint64(r)>>32), uint32(uint64(r)) }

// unsolicitedEntry is the conntrack entry Linux keeps for an unsolicited
// inbound UDP datagram (Config.TrackUnsolicited): remote -> public
// endpoint, unreplied. It only blocks that public endpoint for new
// bindings towards that remote; nothing is translated through it.
type unsolicitedEntry struct {
	key      flowKey // kind keySession: l* the public endpoint, r* the remote
	deadline int64
	armed    int64
	gen      uint32
}

// maxUnsolicited bounds the unsolicited-entry store; beyond it new
// unsolicited datagrams are not tracked (a flood cannot grow the table).
const maxUnsolicited = 1 << 16

// unsolicitedBit marks a timer whose idx names an unsolicited entry, not
// a session (session indexes stay far below 2^31).
const unsolicitedBit = 1 << 31

// subscriber is the per-inside-address state: quota, paired address, PBA blocks.
type subscriber struct {
	addrIdx int32 // paired pool address; -1 until assigned
	ports   int32 // bindings held across protocols
	blocks  []pbaBlock
}

// pbaBlock is one port block held by a subscriber.
type pbaBlock struct {
	start      uint16
	addrIdx    uint16
	inUse      int32
	emptySince int64
}

// poolAddr is one public address and its port allocator state.
type poolAddr struct {
	addr       [4]byte
	cursor     [3]uint16 // sequential assignment, per protocol
	freeBlocks []uint16  // PBA block starts not held by anyone
	blocksInit bool
}

// pendingBlock is a PBA block that became empty and may be released.
type pendingBlock struct {
	owner [4]byte
	start uint16
	addr  uint16
	since int64
}

// Table is one NAT: a translation table with its timers, port allocator
// and counters. It implements Middlebox. It is not safe for concurrent
// use; the engine drives it from its scheduler goroutine.
type Table struct {
	cfg      Config
	rng      *rand.Rand
	observer Observer

	base    time.Time
	baseSet bool

	sessions  []session
	free      []uint32
	active    int
	byInside  map[flowKey]uint32
	filters   map[flowKey]uint32 // ADF: sessions per public endpoint and remote address
	ports     map[portKey]uint32 // public endpoint -> index in binds
	binds     []binding          // never shrinks: released bindings stay for the hold-down
	bindings  int
	subs      map[[4]byte]*subscriber
	pool      []poolAddr
	poolIndex map[[4]byte]uint16
	nextPair  int
	pending   []pendingBlock
	// pendingCap is the length of pending at which releasePort next
	// drops stale records (dropStalePending).
	pendingCap int
	timers     timerHeap

	unsol     map[flowKey]uint32 // unsolicited UDP entries -> index in unsolEnts
	unsolEnts []unsolicitedEntry
	unsolFree []uint32

	stats Stats
	drops [numDropReasons]uint64
}

// New builds a table from cfg, which it validates and copies.
func New(cfg Config) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Table{
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		byInside: make(map[flowKey]uint32),
		filters:  make(map[flowKey]uint32),
		ports:    make(map[portKey]uint32),
		subs:     make(map[[4]byte]*subscriber),
		unsol:    make(map[flowKey]uint32),
	}
	t.cfg.PublicAddrs = append([]netip.Addr(nil), cfg.PublicAddrs...)
	t.setPool(t.cfg.PublicAddrs)
	return t, nil
}

// Name returns the table's Config.Name.
func (t *Table) Name() string { return t.cfg.Name }

// Config returns a copy of the table's configuration.
func (t *Table) Config() Config {
	c := t.cfg
	c.PublicAddrs = append([]netip.Addr(nil), c.PublicAddrs...)
	return c
}

// SetObserver installs the lifecycle event callback; nil removes it.
func (t *Table) SetObserver(o Observer) { t.observer = o }

func (t *Table) setPool(addrs []netip.Addr) {
	t.pool = make([]poolAddr, len(addrs))
	t.poolIndex = make(map[[4]byte]uint16, len(addrs))
	for i, a := range addrs {
		t.pool[i].addr = a.As4()
		t.poolIndex[a.As4()] = uint16(i)
	}
}

// rel converts now to the table's internal clock (nanoseconds since the
// first time the table saw).
func (t *Table) rel(now time.Time) int64 {
	if !t.baseSet {
		t.base, t.baseSet = now, true
	}
	return int64(now.Sub(t.base))
}

func (t *Table) abs(r int64) time.Time { return t.base.Add(time.Duration(r)) }

// Stats returns a snapshot of the counters.
func (t *Table) Stats() Stats {
	s := t.stats
	s.Active = t.active
	s.Bindings = t.bindings
	s.Drops = make(map[string]uint64)
	for r, n := range t.drops {
		if n > 0 {
			s.Drops[DropReason(r).String()] = n
		}
	}
	return s
}

// Len returns the number of active sessions.
func (t *Table) Len() int { return t.active }

func (t *Table) drop(r DropReason) Verdict {
	t.drops[r]++
	return Verdict{Drop: r}
}

func (t *Table) dropWith(r DropReason, gen []Packet) Verdict {
	t.drops[r]++
	return Verdict{Drop: r, Generated: gen}
}

// allocSession takes a free slot.
func (t *Table) allocSession() uint32 {
	if n := len(t.free); n > 0 {
		idx := t.free[n-1]
		t.free = t.free[:n-1]
		return idx
	}
	t.sessions = append(t.sessions, session{})
	return uint32(len(t.sessions) - 1)
}

// arm makes sure a heap entry exists no later than the session's deadline.
func (t *Table) arm(idx uint32) {
	s := &t.sessions[idx]
	if s.armed <= s.deadline {
		return // the lazy entry fires first and re-arms
	}
	s.armed = s.deadline
	t.timers.push(timer{at: s.deadline, idx: idx, gen: s.gen})
}

// settleTop discards dead heap entries and re-arms refreshed ones until
// the top entry is a live session's true deadline.
func (t *Table) settleTop() bool {
	for len(t.timers) > 0 {
		top := t.timers[0]
		gen, armed, deadline := t.timerTarget(top.idx)
		if gen != top.gen || *armed != top.at {
			t.timers.pop()
			continue
		}
		if *deadline > top.at {
			t.timers.pop()
			*armed = *deadline
			t.timers.push(timer{at: *deadline, idx: top.idx, gen: gen})
			continue
		}
		return true
	}
	return false
}

// timerTarget returns the generation, armed time and deadline of the
// session or unsolicited entry a timer names.
func (t *Table) timerTarget(idx uint32) (uint32, *int64, *int64) {
	if idx&unsolicitedBit != 0 {
		e := &t.unsolEnts[idx&^unsolicitedBit]
		return e.gen, &e.armed, &e.deadline
	}
	s := &t.sessions[idx]
	return s.gen, &s.armed, &s.deadline
}

// NextDeadline implements Middlebox.
func (t *Table) NextDeadline() (time.Time, bool) {
	if !t.settleTop() {
		return time.Time{}, false
	}
	return t.abs(t.timers[0].at), true
}

// Expire implements Middlebox: it removes every session whose deadline is
// at or before now and returns the RSTs the expiry action generates.
func (t *Table) Expire(now time.Time) []Packet {
	r := t.rel(now)
	var out []Packet
	for t.settleTop() && t.timers[0].at <= r {
		idx := t.timers[0].idx
		t.timers.pop()
		if idx&unsolicitedBit != 0 {
			t.removeUnsolicited(idx &^ unsolicitedBit)
			continue
		}
		s := &t.sessions[idx]
		if Protocol(s.proto) == ProtoTCP {
			out = t.expiryRSTs(s, out)
		}
		t.stats.Expired++
		t.removeSession(idx, MappingExpired, t.expiryReason(s), now)
	}
	return out
}

func (t *Table) expiryReason(s *session) string {
	switch Protocol(s.proto) {
	case ProtoTCP:
		return tcpState(s.state).String()
	case ProtoUDP:
		if s.flags&sfReplied != 0 {
			return "udp_stream"
		}
		return "udp_initial"
	}
	return "icmp"
}

func (t *Table) emit(kind EventKind, reason string, now time.Time, s *session) {
	if t.observer == nil {
		return
	}
	ap := func(a [4]byte, p uint16) netip.AddrPort { return netip.AddrPortFrom(netip.AddrFrom4(a), p) }
	t.observer(Event{
		Kind: kind, Reason: reason, Time: now, Layer: t.cfg.Name, Protocol: Protocol(s.proto),
		Inside: ap(s.inAddr, s.inPort), Outside: ap(s.pubAddr, s.pubPort), Remote: ap(s.remAddr, s.remPort),
		Refreshes: s.refreshes,
	})
}

// key returns the session's byInside key.
func (s *session) key() flowKey {
	return flowKey{proto: s.proto, kind: keySession, lport: s.inPort, laddr: s.inAddr, raddr: s.remAddr, rport: s.remPort}
}

// lookupInbound finds the session of a packet from remote (rem, remPort)
// to public endpoint (pub, pubPort): the binding holding the public
// endpoint names the inside endpoint, whose session towards the remote
// must use that public endpoint (under APDM the inside endpoint may hold
// other public endpoints for other remotes).
func (t *Table) lookupInbound(proto Protocol, pub [4]byte, pubPort uint16, rem [4]byte, remPort uint16) (uint32, bool) {
	bi, ok := t.ports[portKey{addr: pub, port: pubPort, proto: uint8(proto)}]
	if !ok {
		return 0, false
	}
	b := &t.binds[bi]
	if b.refs == 0 {
		return 0, false
	}
	idx, ok := t.byInside[flowKey{proto: uint8(proto), kind: keySession, lport: b.inPort, laddr: b.inAddr, raddr: rem, rport: remPort}]
	if !ok {
		return 0, false
	}
	s := &t.sessions[idx]
	return idx, s.pubPort == pubPort && s.pubAddr == pub
}

// removeSession unlinks a session from both indexes and its binding.
func (t *Table) removeSession(idx uint32, kind EventKind, reason string, now time.Time) {
	s := &t.sessions[idx]
	t.emit(kind, reason, now, s)
	delete(t.byInside, s.key())
	if t.filtering(Protocol(s.proto)) == AddressDependentFiltering {
		fk := flowKey{proto: s.proto, kind: keyFilter, lport: s.pubPort, laddr: s.pubAddr, raddr: s.remAddr}
		if n := t.filters[fk]; n <= 1 {
			delete(t.filters, fk)
		} else {
			t.filters[fk] = n - 1
		}
	}
	t.unref(portKey{addr: s.pubAddr, port: s.pubPort, proto: s.proto}, t.rel(now))
	gen := s.gen + 1
	*s = session{gen: gen}
	t.free = append(t.free, idx)
	t.active--
}

func (t *Table) mapping(p Protocol) MappingBehavior {
	switch p {
	case ProtoTCP:
		return t.cfg.TCP.Mapping
	case ProtoUDP:
		return t.cfg.UDP.Mapping
	}
	return t.cfg.ICMP.Mapping
}

func (t *Table) filtering(p Protocol) FilteringBehavior {
	switch p {
	case ProtoTCP:
		return t.cfg.TCP.Filtering
	case ProtoUDP:
		return t.cfg.UDP.Filtering
	}
	return t.cfg.ICMP.Filtering
}

// bindingKey masks the remote endpoint by the mapping behaviour.
func (t *Table) bindingKey(p Protocol, in [4]byte, inPort uint16, rem [4]byte, remPort uint16) flowKey {
	k := flowKey{proto: uint8(p), kind: keyBinding, lport: inPort, laddr: in}
	switch t.mapping(p) {
	case AddressDependentMapping:
		k.raddr = rem
	case AddressAndPortDependentMapping:
		k.raddr, k.rport = rem, remPort
	}
	return k
}

// unref drops one session's reference to a binding and releases it when
// none remain.
func (t *Table) unref(pk portKey, now int64) {
	bi, ok := t.ports[pk]
	if !ok || t.binds[bi].refs == 0 {
		return
	}
	b := &t.binds[bi]
	b.refs--
	if b.refs > 0 {
		return
	}
	b.released = now
	t.bindings--
	bk := t.bindingKey(Protocol(pk.proto), b.inAddr, b.inPort, b.remAddr, b.remPort)
	if ai, ok := t.poolIndex[pk.addr]; ok && t.byInside[bk] == uint32(ai)<<16|uint32(pk.port) {
		delete(t.byInside, bk)
	}
	if sub := t.subs[b.inAddr]; sub != nil {
		sub.ports--
		t.releasePort(sub, b.inAddr, pk, now)
		if sub.ports == 0 && len(sub.blocks) == 0 {
			delete(t.subs, b.inAddr)
		}
	}
}

// Flush removes every session at once (NAT reboot, CGN failover). With
// keepBlocks, subscribers keep their PBA blocks, as a CGN with stateful
// HA keeps its port allocations (research notes section 6.6).
func (t *Table) Flush(now time.Time, keepBlocks bool) {
	t.flush(now, "flush", keepBlocks)
}

func (t *Table) flush(now time.Time, reason string, keepBlocks bool) {
	t.rel(now)
	for i := range t.sessions {
		s := &t.sessions[i]
		if s.proto == 0 {
			continue
		}
		t.emit(MappingFlushed, reason, now, s)
		t.stats.Flushed++
	}
	t.sessions = t.sessions[:0]
	t.free = t.free[:0]
	t.timers = t.timers[:0]
	t.active, t.bindings = 0, 0
	clear(t.byInside)
	clear(t.filters)
	clear(t.ports)
	t.binds = t.binds[:0]
	t.pending = t.pending[:0]
	clear(t.unsol)
	t.unsolEnts, t.unsolFree = t.unsolEnts[:0], t.unsolFree[:0]
	if !keepBlocks {
		clear(t.subs)
		for i := range t.pool {
			t.pool[i].freeBlocks, t.pool[i].blocksInit = nil, false
		}
		return
	}
	for a, sub := range t.subs {
		sub.ports = 0
		for i := range sub.blocks {
			sub.blocks[i].inUse = 0
		}
		if len(sub.blocks) == 0 {
			delete(t.subs, a)
		}
	}
}

// SetPublicAddress replaces the public address pool (a home router's new
// DHCP lease, a CGN re-anchoring). Every session dies with reason
// "address_change", as in research notes section 6.4.
func (t *Table) SetPublicAddress(now time.Time, addrs ...netip.Addr) error {
	c := t.cfg
	c.PublicAddrs = append([]netip.Addr(nil), addrs...)
	if err := c.Validate(); err != nil {
		return err
	}
	t.flush(now, "address_change", false)
	t.cfg = c
	t.setPool(c.PublicAddrs)
	return nil
}

// SetTimeouts replaces the idle timeouts (and TCP's retransmission and
// midstream settings) at run time, as writing the conntrack sysctls does.
// Mapping and filtering behaviour stay as constructed (RFC 4787 REQ-11
// asks for deterministic behaviour). Sessions keep their current deadline
// until their next refresh.
func (t *Table) SetTimeouts(tcp TCPConfig, udp UDPConfig, icmp ICMPConfig) error {
	c := t.cfg
	tcp.Mapping, tcp.Filtering = c.TCP.Mapping, c.TCP.Filtering
	udp.Mapping, udp.Filtering = c.UDP.Mapping, c.UDP.Filtering
	icmp.Mapping, icmp.Filtering = c.ICMP.Mapping, c.ICMP.Filtering
	c.TCP, c.UDP, c.ICMP = tcp, udp, icmp
	if err := c.Validate(); err != nil {
		return err
	}
	t.cfg = c
	return nil
}

// timeout returns the idle timeout for a session after a packet; ackOnly
// says the packet was a plain TCP ACK (Linux applies the unacknowledged
// cap only then).
func (t *Table) timeout(s *session, now int64, ackOnly bool) time.Duration {
	switch Protocol(s.proto) {
	case ProtoUDP:
		if s.flags&sfReplied != 0 && (t.cfg.UDP.StreamAfter == 0 || now-s.createdAt() > int64(t.cfg.UDP.StreamAfter)) {
			return t.cfg.UDP.Established
		}
		return t.cfg.UDP.Initial
	case ProtoICMP:
		return t.cfg.ICMP.Timeout
	}
	c := &t.cfg.TCP
	d := c.stateTimeout(tcpState(s.state))
	if c.MaxRetrans > 0 && int(s.retrans) >= c.MaxRetransCount && d > c.MaxRetrans {
		return c.MaxRetrans
	}
	if ackOnly && c.Unacknowledged > 0 && s.flags&(sfUnackOut|sfUnackIn) != 0 && d > c.Unacknowledged {
		return c.Unacknowledged
	}
	return d
}

// trackUnsolicited records or refreshes the entry Linux conntrack keeps
// for an unsolicited inbound UDP datagram (Config.TrackUnsolicited):
// remote -> public endpoint, unreplied, for UDP.Initial, refreshed by
// each datagram in the same direction (nf_ct_refresh_acct).
func (t *Table) trackUnsolicited(r int64, p *parsed) {
	if !t.cfg.TrackUnsolicited || p.proto != ProtoUDP {
		return
	}
	k := flowKey{proto: uint8(p.proto), kind: keySession, lport: p.dport, laddr: p.dst, raddr: p.src, rport: p.sport}
	i, ok := t.unsol[k]
	if !ok {
		if len(t.unsol) >= maxUnsolicited {
			return
		}
		if n := len(t.unsolFree); n > 0 {
			i = t.unsolFree[n-1]
			t.unsolFree = t.unsolFree[:n-1]
		} else {
			i = uint32(len(t.unsolEnts))
			t.unsolEnts = append(t.unsolEnts, unsolicitedEntry{})
		}
		e := &t.unsolEnts[i]
		*e = unsolicitedEntry{key: k, armed: math.MaxInt64, gen: e.gen}
		t.unsol[k] = i
	}
	e := &t.unsolEnts[i]
	e.deadline = r + int64(t.cfg.UDP.Initial)
	if e.armed > e.deadline {
		e.armed = e.deadline
		t.timers.push(timer{at: e.deadline, idx: i | unsolicitedBit, gen: e.gen})
	}
}

// removeUnsolicited frees an unsolicited entry.
func (t *Table) removeUnsolicited(i uint32) {
	e := &t.unsolEnts[i]
	delete(t.unsol, e.key)
	*e = unsolicitedEntry{gen: e.gen + 1}
	t.unsolFree = append(t.unsolFree, i)
}

// unsolicitedClash reports whether a session from public endpoint pk to
// the remote (rem, remPort) would clash with an unsolicited entry: its
// reply tuple would be that entry's original tuple, which
// nf_nat_used_tuple reports as taken.
func (t *Table) unsolicitedClash(pk portKey, rem [4]byte, remPort uint16) bool {
	if len(t.unsol) == 0 {
		return false
	}
	_, taken := t.unsol[flowKey{proto: pk.proto, kind: keySession, lport: pk.port, laddr: pk.addr, raddr: rem, rport: remPort}]
	return taken
}
