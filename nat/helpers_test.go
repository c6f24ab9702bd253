package nat

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func ipPkt(proto Protocol, src, dst netip.Addr, l4 []byte) []byte {
	b := make([]byte, header.IPv4MinimumSize+len(l4))
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(proto),
		SrcAddr: tcpip.AddrFrom4(src.As4()), DstAddr: tcpip.AddrFrom4(dst.As4())})
	ip.SetChecksum(^ip.CalculateChecksum())
	copy(b[header.IPv4MinimumSize:], l4)
	return b
}

// tcpPkt builds a TCP segment with valid checksums.
func tcpPkt(src, dst netip.AddrPort, flags header.TCPFlags, seq, ack uint32, payload []byte) []byte {
	l4 := make([]byte, header.TCPMinimumSize+len(payload))
	t := header.TCP(l4)
	t.Encode(&header.TCPFields{SrcPort: src.Port(), DstPort: dst.Port(), SeqNum: seq, AckNum: ack,
		DataOffset: header.TCPMinimumSize, Flags: flags, WindowSize: 65535})
	copy(l4[header.TCPMinimumSize:], payload)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, tcpip.AddrFrom4(src.Addr().As4()), tcpip.AddrFrom4(dst.Addr().As4()), uint16(len(l4)))
	xsum = checksum.Checksum(payload, xsum)
	t.SetChecksum(^t.CalculateChecksum(xsum))
	return ipPkt(ProtoTCP, src.Addr(), dst.Addr(), l4)
}

// udpPkt builds a UDP datagram with a valid checksum.
func udpPkt(src, dst netip.AddrPort, payload []byte) []byte {
	l4 := make([]byte, header.UDPMinimumSize+len(payload))
	u := header.UDP(l4)
	u.Encode(&header.UDPFields{SrcPort: src.Port(), DstPort: dst.Port(), Length: uint16(len(l4))})
	copy(l4[header.UDPMinimumSize:], payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, tcpip.AddrFrom4(src.Addr().As4()), tcpip.AddrFrom4(dst.Addr().As4()), uint16(len(l4)))
	xsum = checksum.Checksum(payload, xsum)
	u.SetChecksum(^u.CalculateChecksum(xsum))
	return ipPkt(ProtoUDP, src.Addr(), dst.Addr(), l4)
}

// echoPkt builds an ICMP echo request (typ 8) or reply (typ 0).
func echoPkt(src, dst netip.Addr, typ uint8, ident, seq uint16) []byte {
	l4 := make([]byte, header.ICMPv4MinimumSize+4)
	ic := header.ICMPv4(l4)
	ic.SetType(header.ICMPv4Type(typ))
	ic.SetIdent(ident)
	ic.SetSequence(seq)
	copy(l4[8:], "ping")
	ic.SetChecksum(header.ICMPv4Checksum(ic, 0))
	return ipPkt(ProtoICMP, src, dst, l4)
}

// icmpErr builds an ICMP error from src to dst quoting orig.
func icmpErr(src, dst netip.Addr, typ, code uint8, orig []byte) []byte {
	return buildICMPError(src.As4(), dst.As4(), typ, code, orig)
}

func endpoints(b []byte) (src, dst netip.AddrPort) {
	ip := header.IPv4(b)
	s := netip.AddrFrom4(ip.SourceAddress().As4())
	d := netip.AddrFrom4(ip.DestinationAddress().As4())
	l4 := ip.Payload()
	switch Protocol(ip.Protocol()) {
	case ProtoTCP, ProtoUDP:
		return netip.AddrPortFrom(s, header.UDP(l4).SourcePort()), netip.AddrPortFrom(d, header.UDP(l4).DestinationPort())
	case ProtoICMP:
		id := header.ICMPv4(l4).Ident()
		return netip.AddrPortFrom(s, id), netip.AddrPortFrom(d, id)
	}
	return netip.AddrPortFrom(s, 0), netip.AddrPortFrom(d, 0)
}

// checksumsOK verifies every checksum of a packet with the gvisor
// header functions, including the IP header quoted in an ICMP error.
func checksumsOK(b []byte) error {
	var p parsed
	if r := parse(b, &p); r != DropNone {
		return fmt.Errorf("unparseable packet: %v", r)
	}
	ip := header.IPv4(b)
	src, dst := ip.SourceAddress(), ip.DestinationAddress()
	l4 := ip.Payload()
	switch Protocol(ip.Protocol()) {
	case ProtoTCP:
		t := header.TCP(l4)
		pay := l4[t.DataOffset():]
		if !t.IsChecksumValid(src, dst, checksum.Checksum(pay, 0), uint16(len(pay))) {
			return errors.New("bad TCP checksum")
		}
	case ProtoUDP:
		u := header.UDP(l4)
		if u.Checksum() != 0 && !u.IsChecksumValid(src, dst, checksum.Checksum(u.Payload(), 0)) {
			return errors.New("bad UDP checksum")
		}
	case ProtoICMP:
		if checksum.Checksum(l4, 0) != 0xffff {
			return errors.New("bad ICMP checksum")
		}
		if typ := l4[0]; typ == icmpDestUnreach || typ == icmpTimeExceed {
			in := header.IPv4(l4[8:])
			if len(in) < header.IPv4MinimumSize || int(in.HeaderLength()) > len(in) || !in.IsChecksumValid() {
				return errors.New("bad quoted IPv4 checksum")
			}
		}
	default:
		return fmt.Errorf("unexpected protocol %d", ip.Protocol())
	}
	return nil
}

// checkInvariants verifies that the indexes, bindings, counters and
// timers agree. Tests and fuzz targets call it after every input.
func (t *Table) checkInvariants() error {
	live := 0
	refs := map[portKey]uint32{}
	perSub := map[[4]byte]int32{}
	filters := map[flowKey]uint32{}
	lo, hi := t.cfg.portRange()
	armed := map[uint32]bool{}
	for _, tm := range t.timers {
		if int(tm.idx) < len(t.sessions) && t.sessions[tm.idx].gen == tm.gen && t.sessions[tm.idx].armed == tm.at {
			armed[tm.idx] = true
		}
	}
	for i := range t.sessions {
		s := &t.sessions[i]
		if s.proto == 0 {
			continue
		}
		live++
		if v, ok := t.byInside[s.key()]; !ok || v != uint32(i) {
			return fmt.Errorf("session %d missing from byInside", i)
		}
		if v, ok := t.lookupInbound(Protocol(s.proto), s.pubAddr, s.pubPort, s.remAddr, s.remPort); !ok || v != uint32(i) {
			return fmt.Errorf("session %d not found from its public endpoint", i)
		}
		if b := t.binds[t.ports[portKey{addr: s.pubAddr, port: s.pubPort, proto: s.proto}]]; b.inAddr != s.inAddr || b.inPort != s.inPort {
			return fmt.Errorf("session %d inside endpoint differs from its binding's", i)
		}
		if _, ok := t.poolIndex[s.pubAddr]; !ok {
			return fmt.Errorf("session %d public address %v not in pool", i, s.pubAddr)
		}
		if Protocol(s.proto) != ProtoICMP && (s.pubPort < lo || s.pubPort > hi) {
			return fmt.Errorf("session %d public port %d outside %d..%d", i, s.pubPort, lo, hi)
		}
		if s.armed > s.deadline || !armed[uint32(i)] {
			return fmt.Errorf("session %d timer not armed before its deadline", i)
		}
		refs[portKey{addr: s.pubAddr, port: s.pubPort, proto: s.proto}]++
		if t.filtering(Protocol(s.proto)) == AddressDependentFiltering {
			filters[flowKey{proto: s.proto, kind: keyFilter, lport: s.pubPort, laddr: s.pubAddr, raddr: s.remAddr}]++
		}
	}
	if live != t.active {
		return fmt.Errorf("active = %d, live sessions = %d", t.active, live)
	}
	nIn, nBind, nFilt := 0, 0, 0
	for k, v := range t.byInside {
		switch k.kind {
		case keySession:
			nIn++
		case keyBinding:
			nBind++
			pk := portKey{addr: t.pool[v>>16].addr, port: uint16(v), proto: k.proto}
			if b := t.binds[t.ports[pk]]; b.refs == 0 || b.inAddr != k.laddr || b.inPort != k.lport {
				return fmt.Errorf("binding key %+v points at %+v, a free or foreign port", k, pk)
			}
		}
	}
	for k, v := range t.filters {
		if k.kind != keyFilter || filters[k] != v {
			return fmt.Errorf("filter %+v counts %d, want %d", k, v, filters[k])
		}
		nFilt++
	}
	if nIn != live {
		return fmt.Errorf("index size in=%d, want %d", nIn, live)
	}
	if nFilt != len(filters) {
		return fmt.Errorf("%d filter keys, want %d", nFilt, len(filters))
	}
	inUse := 0
	if len(t.binds) != len(t.ports) {
		return fmt.Errorf("%d bindings for %d public endpoints", len(t.binds), len(t.ports))
	}
	owner := map[uint32]portKey{}
	for pk, bi := range t.ports {
		if prev, dup := owner[bi]; dup {
			return fmt.Errorf("binding %d shared by %+v and %+v", bi, prev, pk)
		}
		owner[bi] = pk
		b := t.binds[bi]
		if b.refs != refs[pk] {
			return fmt.Errorf("port %+v refs %d, sessions %d", pk, b.refs, refs[pk])
		}
		if b.refs > 0 {
			inUse++
			perSub[b.inAddr]++
		}
	}
	if inUse != t.bindings || nBind != t.bindings {
		return fmt.Errorf("bindings=%d, ports in use=%d, binding keys=%d", t.bindings, inUse, nBind)
	}
	for a, sub := range t.subs {
		if sub.ports != perSub[a] {
			return fmt.Errorf("subscriber %v holds %d ports, counted %d", a, sub.ports, perSub[a])
		}
		if q := t.cfg.Ports.PerSubscriber; q > 0 && int(sub.ports) > q {
			return fmt.Errorf("subscriber %v over quota: %d > %d", a, sub.ports, q)
		}
		if bs := t.cfg.Ports.BlockSize; bs > 0 {
			var total int32
			for _, blk := range sub.blocks {
				total += blk.inUse
			}
			if total != sub.ports {
				return fmt.Errorf("subscriber %v blocks count %d ports, holds %d", a, total, sub.ports)
			}
		}
	}
	for a, n := range perSub {
		if t.subs[a] == nil && n > 0 {
			return fmt.Errorf("ports held by %v, which has no subscriber record", a)
		}
	}
	return t.checkUnsolicited()
}

// checkUnsolicited verifies the unsolicited-entry store: every entry is
// indexed by its key, armed no later than its deadline, and bounded.
func (t *Table) checkUnsolicited() error {
	if len(t.unsol) > maxUnsolicited {
		return fmt.Errorf("%d unsolicited entries, more than %d", len(t.unsol), maxUnsolicited)
	}
	if !t.cfg.TrackUnsolicited && len(t.unsol) > 0 {
		return fmt.Errorf("%d unsolicited entries with TrackUnsolicited off", len(t.unsol))
	}
	armed := map[uint32]bool{}
	for _, tm := range t.timers {
		if tm.idx&unsolicitedBit == 0 {
			continue
		}
		i := tm.idx &^ unsolicitedBit
		if int(i) < len(t.unsolEnts) && t.unsolEnts[i].gen == tm.gen && t.unsolEnts[i].armed == tm.at {
			armed[i] = true
		}
	}
	for k, i := range t.unsol {
		if int(i) >= len(t.unsolEnts) {
			return fmt.Errorf("unsolicited entry %+v points past the store (%d)", k, i)
		}
		e := &t.unsolEnts[i]
		if e.key != k || Protocol(k.proto) != ProtoUDP {
			return fmt.Errorf("unsolicited entry %d has key %+v, indexed as %+v", i, e.key, k)
		}
		if e.armed > e.deadline || !armed[i] {
			return fmt.Errorf("unsolicited entry %d timer not armed before its deadline", i)
		}
	}
	if n := len(t.unsolEnts) - len(t.unsolFree); n != len(t.unsol) {
		return fmt.Errorf("%d unsolicited entries in use, %d indexed", n, len(t.unsol))
	}
	return nil
}

// runUntil drives a middlebox's timers up to and including to, as the
// engine does, and returns every packet expiry generated.
func runUntil(m Middlebox, to time.Time) []Packet {
	var out []Packet
	for {
		d, ok := m.NextDeadline()
		if !ok || d.After(to) {
			return out
		}
		out = append(out, m.Expire(d)...)
	}
}

func mustTable(cfg Config) *Table {
	t, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return t
}
