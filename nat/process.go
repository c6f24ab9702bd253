package nat

import (
	"math"
	"slices"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Process implements Middlebox. Established flows cost two map lookups
// at most and no allocation; expiry is never checked here (see Expire).
func (t *Table) Process(now time.Time, dir Direction, b []byte) Verdict {
	r := t.rel(now)
	var p parsed
	if reason := parse(b, &p); reason != DropNone {
		return t.drop(reason)
	}
	switch dir {
	case Outbound:
		if p.isErr {
			return t.icmpErrorOut(r, b, &p)
		}
		return t.translate(now, r, b, &p, Outbound)
	case Inbound:
		if p.isErr {
			return t.icmpErrorIn(b, &p)
		}
		return t.translate(now, r, b, &p, Inbound)
	}
	return t.drop(DropMalformed)
}

// translate finds or creates the session of a packet travelling in dir
// and rewrites it: the source endpoint outbound, the destination inbound.
func (t *Table) translate(now time.Time, r int64, b []byte, p *parsed, dir Direction) Verdict {
	var idx uint32
	var ok bool
	if dir == Outbound {
		idx, ok = t.byInside[flowKey{proto: uint8(p.proto), kind: keySession, lport: p.sport, laddr: p.src, raddr: p.dst, rport: remotePort(p.proto, p.dport)}]
	} else {
		idx, ok = t.lookupInbound(p.proto, p.dst, p.dport, p.src, remotePort(p.proto, p.sport))
	}
	if ok {
		t.touch(idx, dir, p, r, false)
	} else {
		var v Verdict
		if dir == Outbound {
			idx, v, ok = t.createOutbound(now, r, b, p)
		} else {
			idx, v, ok = t.createInbound(now, r, b, p)
		}
		if !ok {
			return v
		}
	}
	s := &t.sessions[idx]
	if dir == Inbound {
		rewriteDst(header.IPv4(b), p.proto, p.l4, s.inAddr, s.inPort)
	} else {
		rewriteSrc(header.IPv4(b), p.proto, p.l4, s.pubAddr, s.pubPort)
		if s.flags&sfHairpin != 0 {
			return t.hairpin(now, r, b, p, s)
		}
	}
	t.stats.Translated++
	return Verdict{Forward: true}
}

// hairpin sends a packet translated outbound back inside as an inbound
// packet to the public endpoint it addresses (RFC 4787 section 6: the
// inside receiver sees the sender's public endpoint as the source).
func (t *Table) hairpin(now time.Time, r int64, b []byte, p *parsed, s *session) Verdict {
	q := *p
	q.src, q.sport = s.pubAddr, s.pubPort
	if q.proto == ProtoICMP {
		q.dport = s.pubPort
	}
	v := t.translate(now, r, b, &q, Inbound)
	if !v.Forward {
		return v
	}
	return Verdict{Generated: append(v.Generated, Packet{Dir: Inbound, Data: slices.Clone(b)})}
}

// touch updates a session for one packet: TCP state, reply flag and
// deadline. created says the packet just created the session.
func (t *Table) touch(idx uint32, dir Direction, p *parsed, r int64, created bool) {
	s := &t.sessions[idx]
	if (dir == Inbound) != (s.flags&sfInbound != 0) {
		s.flags |= sfReplied
	}
	changed, ackOnly := false, false
	isRST := false
	if p.proto == ProtoTCP {
		changed, ackOnly = trackTCP(s, dir, p.seg)
		isRST = p.seg.flags&header.TCPFlagRst != 0
	}
	refresh := t.cfg.RefreshInbound
	if dir == Outbound {
		refresh = !(isRST && t.cfg.NoRefreshOnOutboundErrors)
	}
	switch {
	case created:
		s.deadline = r + int64(t.timeout(s, r, ackOnly))
	case refresh:
		s.deadline = r + int64(t.timeout(s, r, ackOnly))
		s.refreshes++
		t.stats.Refreshes++
	case changed:
		// A state change seen on a packet that may not refresh can only
		// shorten the session (an inbound FIN or RST on an outbound-only box).
		s.deadline = min(s.deadline, r+int64(t.timeout(s, r, ackOnly)))
	default:
		return
	}
	t.arm(idx)
}

// createOutbound makes a session for an outbound packet with none.
func (t *Table) createOutbound(now time.Time, r int64, b []byte, p *parsed) (uint32, Verdict, bool) {
	_, toSelf := t.poolIndex[p.dst]
	if toSelf && !t.cfg.Hairpinning {
		return 0, t.drop(DropFiltered), false
	}
	reason, state, avoidOwn := "outbound", tcpNone, false
	if p.proto == ProtoTCP {
		f := p.seg.flags
		if f&header.TCPFlagRst != 0 {
			return 0, t.drop(DropNotSYN), false
		}
		if f&header.TCPFlagSyn == 0 || f&header.TCPFlagAck != 0 {
			switch t.cfg.TCP.Midstream {
			case MidstreamDrop:
				return 0, t.drop(DropNotSYN), false
			case MidstreamRST:
				t.stats.RSTsGenerated++
				rst := rstFor(p.dst, p.dport, p.src, p.sport, p.seg)
				return 0, t.dropWith(DropNotSYN, []Packet{{Dir: Inbound, Data: rst}}), false
			case MidstreamPickupNewPort:
				avoidOwn = true
			}
			reason, state = "loose_pickup", tcpEstablished
		}
	}
	if v, ok := t.makeRoom(now, b, p); !ok {
		return 0, v, false
	}
	rp := remotePort(p.proto, p.dport)
	var ai, port uint16
	// A live binding is always reused, even by a pickup that would rather
	// move: EIM must keep one public endpoint per inside endpoint.
	if v, ok := t.byInside[t.bindingKey(p.proto, p.src, p.sport, p.dst, rp)]; ok {
		ai, port = uint16(v>>16), uint16(v)
	} else {
		var res allocResult
		ai, port, res = t.allocate(p.proto, p.src, p.sport, p.dst, rp, r, avoidOwn)
		if res != allocOK {
			return 0, t.refuse(res, b, p), false
		}
	}
	idx := t.newSession(now, r, p.proto, p.src, p.sport, t.pool[ai].addr, port, p.dst, rp, 0, reason, state)
	if toSelf {
		t.sessions[idx].flags |= sfHairpin
	}
	t.touch(idx, Outbound, p, r, true)
	return idx, Verdict{}, true
}

// createInbound admits an inbound packet to an existing binding when the
// filtering behaviour allows it, or answers it as unsolicited.
func (t *Table) createInbound(now time.Time, r int64, b []byte, p *parsed) (uint32, Verdict, bool) {
	if _, ours := t.poolIndex[p.dst]; !ours {
		return 0, t.drop(DropNoMapping), false
	}
	pk := portKey{addr: p.dst, port: p.dport, proto: uint8(p.proto)}
	bi, ok := t.ports[pk]
	if !ok || t.binds[bi].refs == 0 {
		return 0, t.unsolicited(r, DropNoMapping, b, p), false
	}
	switch t.filtering(p.proto) {
	case AddressDependentFiltering:
		if _, ok := t.filters[flowKey{proto: uint8(p.proto), kind: keyFilter, lport: p.dport, laddr: p.dst, raddr: p.src}]; !ok {
			return 0, t.unsolicited(r, DropFiltered, b, p), false
		}
	case AddressAndPortDependentFiltering:
		// On a Linux box a filtered packet matches no conntrack entry,
		// so it is unsolicited and the box's own stack answers it.
		return 0, t.unsolicited(r, DropFiltered, b, p), false
	}
	state := tcpNone
	if p.proto == ProtoTCP {
		f := p.seg.flags
		if f&header.TCPFlagSyn == 0 || f&header.TCPFlagAck != 0 {
			if t.cfg.TCP.Midstream < MidstreamPickup || f&header.TCPFlagRst != 0 {
				return 0, t.drop(DropNoMapping), false
			}
			state = tcpEstablished
		}
	}
	if v, ok := t.makeRoom(now, b, p); !ok {
		return 0, v, false
	}
	if t.binds[bi].refs == 0 {
		// Making room evicted the binding's last session.
		return 0, t.unsolicited(r, DropNoMapping, b, p), false
	}
	rp := remotePort(p.proto, p.sport)
	bd := t.binds[bi]
	idx := t.newSession(now, r, p.proto, bd.inAddr, bd.inPort, p.dst, p.dport, p.src, rp, sfInbound, "inbound", state)
	if _, self := t.poolIndex[p.src]; self {
		t.sessions[idx].flags |= sfHairpin
	}
	t.touch(idx, Inbound, p, r, true)
	return idx, Verdict{}, true
}

// unsolicited records an unsolicited inbound packet's conntrack entry
// when so configured and answers the packet.
func (t *Table) unsolicited(r int64, reason DropReason, b []byte, p *parsed) Verdict {
	t.trackUnsolicited(r, p)
	return t.answer(reason, b, p)
}

// answer drops an inbound packet to a public address that no mapping
// admits, answering it as Config.Unsolicited says.
func (t *Table) answer(reason DropReason, b []byte, p *parsed) Verdict {
	var out []byte
	switch {
	case t.cfg.Unsolicited == UnsolicitedDrop:
		return t.drop(reason)
	case t.cfg.Unsolicited == UnsolicitedICMP:
		if p.proto == ProtoICMP && p.icmpType != icmpEcho {
			return t.drop(reason) // never answer an echo reply with an error
		}
		out = buildICMPError(p.dst, p.src, icmpDestUnreach, icmpCodePortUnreach, b)
		t.stats.ICMPGenerated++
		return t.dropWith(reason, []Packet{{Dir: Outbound, Data: out}})
	}
	switch p.proto {
	case ProtoTCP:
		if p.seg.flags&header.TCPFlagRst != 0 {
			return t.drop(reason) // never answer a RST (RFC 793)
		}
		out = rstFor(p.dst, p.dport, p.src, p.sport, p.seg)
		t.stats.RSTsGenerated++
	case ProtoUDP:
		out = buildICMPError(p.dst, p.src, icmpDestUnreach, icmpCodePortUnreach, b)
		t.stats.ICMPGenerated++
	case ProtoICMP:
		if p.icmpType != icmpEcho {
			return t.drop(reason)
		}
		out = buildEchoReply(p)
		t.stats.ICMPGenerated++
	}
	return t.dropWith(reason, []Packet{{Dir: Outbound, Data: out}})
}

// makeRoom enforces MaxMappings before a session is created.
func (t *Table) makeRoom(now time.Time, b []byte, p *parsed) (Verdict, bool) {
	if t.cfg.MaxMappings == 0 || t.active < t.cfg.MaxMappings {
		return Verdict{}, true
	}
	for t.cfg.WhenFull == FullEvict && t.settleTop() {
		idx := t.timers[0].idx
		t.timers.pop()
		if idx&unsolicitedBit != 0 {
			// Unsolicited entries are not sessions and do not count
			// towards MaxMappings; one due first goes early, as Linux's
			// early drop prefers unreplied entries.
			t.removeUnsolicited(idx &^ unsolicitedBit)
			continue
		}
		t.stats.Evicted++
		t.removeSession(idx, MappingEvicted, "table_full", now)
		return Verdict{}, true
	}
	return t.refuse(allocExhausted, b, p), false
}

// refuse drops a packet whose mapping could not be created, with ICMP
// 3/13 to the inside when so configured (RFC 5508 REQ-8, RFC 6888 REQ-11).
func (t *Table) refuse(res allocResult, b []byte, p *parsed) Verdict {
	reason := DropTableFull
	if res == allocQuota {
		reason = DropQuota
		t.stats.QuotaFailures++
	}
	if t.cfg.WhenFull != FullICMP {
		return t.drop(reason)
	}
	src := t.pool[0].addr
	if t.cfg.RouterAddr.IsValid() {
		src = t.cfg.RouterAddr.As4()
	}
	t.stats.ICMPGenerated++
	return t.dropWith(reason, []Packet{{Dir: Inbound, Data: buildICMPError(src, p.src, icmpDestUnreach, icmpCodeAdminProhib, b)}})
}

// newSession links a new session into both indexes and its binding.
func (t *Table) newSession(now time.Time, r int64, proto Protocol, in [4]byte, inPort uint16, pub [4]byte, pubPort uint16,
	rem [4]byte, remPort uint16, flags uint16, reason string, state tcpState) uint32 {
	idx := t.allocSession()
	s := &t.sessions[idx]
	*s = session{
		inAddr: in, pubAddr: pub, remAddr: rem, inPort: inPort, pubPort: pubPort, remPort: remPort,
		proto: uint8(proto), state: uint8(state), flags: flags, armed: math.MaxInt64, gen: s.gen,
	}
	if proto != ProtoTCP {
		s.setCreatedAt(r)
	}
	t.byInside[s.key()] = idx
	if t.filtering(proto) == AddressDependentFiltering {
		t.filters[flowKey{proto: uint8(proto), kind: keyFilter, lport: pubPort, laddr: pub, raddr: rem}]++
	}
	pk := portKey{addr: pub, port: pubPort, proto: uint8(proto)}
	t.binds[t.ports[pk]].refs++
	t.active++
	t.stats.Created++
	t.emit(MappingCreated, reason, now, s)
	return idx
}

// expiryRSTs appends the RSTs the expiry action sends for a TCP session.
// Sequence numbers are the receivers' expected next sequence (the
// highest sequence end seen from the other side), so RFC 5961-style
// receivers accept them.
func (t *Table) expiryRSTs(s *session, out []Packet) []Packet {
	switch tcpState(s.state) {
	case tcpNone, tcpTimeWait, tcpClose:
		return out
	}
	a := t.cfg.OnExpiry
	if a == ExpiryRSTInside || a == ExpiryRSTBoth {
		out = append(out, Packet{Dir: Inbound, Data: buildRST(s.remAddr, s.remPort, s.inAddr, s.inPort,
			s.inEnd, s.outEnd, s.flags&sfSeenOut != 0)})
		t.stats.RSTsGenerated++
	}
	if a == ExpiryRSTOutside || a == ExpiryRSTBoth {
		out = append(out, Packet{Dir: Outbound, Data: buildRST(s.pubAddr, s.pubPort, s.remAddr, s.remPort,
			s.outEnd, s.inEnd, s.flags&sfSeenIn != 0)})
		t.stats.RSTsGenerated++
	}
	return out
}

// icmpErrorIn translates an inbound ICMP error about a packet the table
// sent out (RFC 5508 section 4.2, RFC 5382 REQ-9). It never refreshes or
// removes the session (RFC 4787 REQ-12, RFC 5508 REQ-6).
func (t *Table) icmpErrorIn(b []byte, p *parsed) Verdict {
	inner, q, reason := parseQuoted(p)
	if reason != DropNone {
		return t.drop(reason)
	}
	idx, ok := t.lookupInbound(q.proto, q.src, q.sport, q.dst, remotePort(q.proto, q.dport))
	if !ok || t.sessions[idx].pubAddr != p.dst {
		return t.drop(DropNoMapping)
	}
	s := &t.sessions[idx]
	rewriteSrc(inner, q.proto, q.l4, s.inAddr, s.inPort)
	refixICMP(p.l4)
	// The outer ICMP header has no pseudo-header: only the IP checksum changes.
	header.IPv4(b).SetDestinationAddressWithChecksumUpdate(tcpip.AddrFrom4(s.inAddr))
	t.stats.Translated++
	return Verdict{Forward: true}
}

// icmpErrorOut translates an outbound ICMP error about a packet the
// table delivered inside. It refreshes the session unless
// NoRefreshOnOutboundErrors (RFC 7857).
func (t *Table) icmpErrorOut(r int64, b []byte, p *parsed) Verdict {
	inner, q, reason := parseQuoted(p)
	if reason != DropNone {
		return t.drop(reason)
	}
	k := flowKey{proto: uint8(q.proto), kind: keySession, lport: q.dport, laddr: q.dst, raddr: q.src, rport: remotePort(q.proto, q.sport)}
	idx, ok := t.byInside[k]
	if !ok {
		return t.drop(DropNoMapping)
	}
	s := &t.sessions[idx]
	rewriteDst(inner, q.proto, q.l4, s.pubAddr, s.pubPort)
	refixICMP(p.l4)
	header.IPv4(b).SetSourceAddressWithChecksumUpdate(tcpip.AddrFrom4(s.pubAddr))
	if !t.cfg.NoRefreshOnOutboundErrors {
		s.deadline = r + int64(t.timeout(s, r, false))
		s.refreshes++
		t.stats.Refreshes++
		t.arm(idx)
	}
	t.stats.Translated++
	return Verdict{Forward: true}
}

// parseQuoted parses the datagram quoted in an ICMP error after checking
// the ICMP checksum (RFC 5508 REQ-3: drop on a bad checksum).
func parseQuoted(p *parsed) (header.IPv4, parsed, DropReason) {
	var q parsed
	if !icmpChecksumValid(p.l4) {
		return nil, q, DropMalformed
	}
	in := p.l4[header.ICMPv4MinimumSize:]
	if len(in) < header.IPv4MinimumSize || header.IPVersion(in) != header.IPv4Version {
		return nil, q, DropMalformed
	}
	ip := header.IPv4(in)
	hl := int(ip.HeaderLength())
	if hl < header.IPv4MinimumSize || hl > len(in) {
		return nil, q, DropMalformed
	}
	end := min(len(in), max(int(ip.TotalLength()), hl))
	q.proto = Protocol(ip.Protocol())
	q.src = ip.SourceAddress().As4()
	q.dst = ip.DestinationAddress().As4()
	q.l4 = in[hl:end]
	if r := parseL4(&q, true); r != DropNone {
		return nil, q, r
	}
	return ip[:hl], q, DropNone
}
