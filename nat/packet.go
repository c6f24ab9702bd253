package nat

import (
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// ICMPv4 types the table understands (RFC 792).
const (
	icmpEchoReply   = 0
	icmpDestUnreach = 3
	icmpEcho        = 8
	icmpTimeExceed  = 11
	icmpParamProb   = 12

	icmpCodePortUnreach = 3  // RFC 792
	icmpCodeAdminProhib = 13 // RFC 1812 section 5.2.7.1; RFC 5508 REQ-8
)

// icmpQuoteMax bounds the quoted original datagram in ICMP errors the
// table generates: Linux quotes as much as fits in 576 bytes (RFC 1812
// section 4.3.2.3), i.e. 576 - 20 (IP) - 8 (ICMP).
const icmpQuoteMax = 548

// parsed is one packet's headers, pointing into the caller's buffer.
type parsed struct {
	proto        Protocol
	l4           []byte // transport header and payload
	src, dst     [4]byte
	sport, dport uint16 // for ICMP echo both hold the identifier
	icmpType     uint8
	isErr        bool // an ICMP error carrying an embedded header
	seg          tcpSeg
}

// parse validates the IPv4 and transport headers of b. It never reads
// past len(b) and never panics on short or inconsistent input.
func parse(b []byte, p *parsed) DropReason {
	if len(b) < header.IPv4MinimumSize || header.IPVersion(b) != header.IPv4Version {
		return DropMalformed
	}
	ip := header.IPv4(b)
	hl := int(ip.HeaderLength())
	tl := int(ip.TotalLength())
	if hl < header.IPv4MinimumSize || tl < hl || tl > len(b) {
		return DropMalformed
	}
	if !ip.IsChecksumValid() {
		return DropMalformed
	}
	if ip.More() || ip.FragmentOffset() != 0 {
		return DropUnsupported // fragments are not reassembled (see docs/nat.md)
	}
	p.src = ip.SourceAddress().As4()
	p.dst = ip.DestinationAddress().As4()
	p.l4 = b[hl:tl]
	p.proto = Protocol(ip.Protocol())
	p.isErr = false
	return parseL4(p, false)
}

// parseL4 parses the transport header. inner relaxes the length checks
// for the truncated datagram quoted inside an ICMP error (RFC 792 quotes
// only 8 bytes of it).
func parseL4(p *parsed, inner bool) DropReason {
	l4 := p.l4
	switch p.proto {
	case ProtoTCP:
		if inner {
			if len(l4) < 8 {
				return DropMalformed
			}
			t := header.TCP(l4)
			p.sport, p.dport = t.SourcePort(), t.DestinationPort()
			break
		}
		if len(l4) < header.TCPMinimumSize {
			return DropMalformed
		}
		t := header.TCP(l4)
		off := int(t.DataOffset())
		if off < header.TCPMinimumSize || off > len(l4) {
			return DropMalformed
		}
		p.sport, p.dport = t.SourcePort(), t.DestinationPort()
		f := t.Flags()
		p.seg = tcpSeg{flags: f, seq: t.SequenceNumber(), ack: t.AckNumber(), win: t.WindowSize()}
		p.seg.end = p.seg.seq + uint32(len(l4)-off)
		if f&header.TCPFlagSyn != 0 {
			p.seg.end++
		}
		if f&header.TCPFlagFin != 0 {
			p.seg.end++
		}
	case ProtoUDP:
		if len(l4) < header.UDPMinimumSize {
			return DropMalformed
		}
		u := header.UDP(l4)
		if !inner && (int(u.Length()) < header.UDPMinimumSize || int(u.Length()) > len(l4)) {
			return DropMalformed
		}
		p.sport, p.dport = u.SourcePort(), u.DestinationPort()
	case ProtoICMP:
		if len(l4) < header.ICMPv4MinimumSize {
			return DropMalformed
		}
		ic := header.ICMPv4(l4)
		p.icmpType = uint8(ic.Type())
		switch p.icmpType {
		case icmpEcho, icmpEchoReply:
			p.sport, p.dport = ic.Ident(), ic.Ident()
			return DropNone
		case icmpDestUnreach, icmpTimeExceed, icmpParamProb:
			if inner {
				return DropUnsupported // an error about an error is never sent (RFC 1122 3.2.2)
			}
			p.isErr = true
			return DropNone
		}
		return DropUnsupported
	default:
		return DropUnsupported
	}
	if p.sport == 0 || p.dport == 0 {
		return DropMalformed
	}
	return DropNone
}

// remotePort is the remote half of a flow key: zero for ICMP queries,
// which RFC 5508 keys by identifier alone.
func remotePort(p Protocol, port uint16) uint16 {
	if p == ProtoICMP {
		return 0
	}
	return port
}

// rewriteSrc rewrites the source endpoint of the packet whose transport
// bytes are l4, updating the IP, pseudo-header and transport checksums
// incrementally. In a truncated TCP header quoted by an ICMP error the
// checksum lies beyond the quote, so only the port is rewritten.
func rewriteSrc(ip header.IPv4, proto Protocol, l4 []byte, addr [4]byte, port uint16) {
	oldA, newA := ip.SourceAddress(), tcpip.AddrFrom4(addr)
	ip.SetSourceAddressWithChecksumUpdate(newA)
	rewriteL4(proto, l4, oldA, newA, port, true)
}

// rewriteDst is rewriteSrc for the destination endpoint.
func rewriteDst(ip header.IPv4, proto Protocol, l4 []byte, addr [4]byte, port uint16) {
	oldA, newA := ip.DestinationAddress(), tcpip.AddrFrom4(addr)
	ip.SetDestinationAddressWithChecksumUpdate(newA)
	rewriteL4(proto, l4, oldA, newA, port, false)
}

func rewriteL4(proto Protocol, l4 []byte, oldA, newA tcpip.Address, port uint16, src bool) {
	switch proto {
	case ProtoTCP:
		t := header.TCP(l4)
		if len(l4) < header.TCPMinimumSize {
			// Truncated quote: the checksum is beyond the quoted 8 bytes
			// (Linux tcp_manip_pkt does the same).
			if src {
				t.SetSourcePort(port)
			} else {
				t.SetDestinationPort(port)
			}
			return
		}
		t.UpdateChecksumPseudoHeaderAddress(oldA, newA, true)
		if src {
			t.SetSourcePortWithChecksumUpdate(port)
		} else {
			t.SetDestinationPortWithChecksumUpdate(port)
		}
	case ProtoUDP:
		u := header.UDP(l4)
		u.UpdateChecksumPseudoHeaderAddress(oldA, newA, true)
		if src {
			u.SetSourcePortWithChecksumUpdate(port)
		} else {
			u.SetDestinationPortWithChecksumUpdate(port)
		}
	case ProtoICMP:
		header.ICMPv4(l4).SetIdentWithChecksumUpdate(port)
	}
}

// newIPv4 writes an IPv4 header for a generated packet of n payload bytes.
func newIPv4(proto Protocol, src, dst [4]byte, n int) []byte {
	b := make([]byte, header.IPv4MinimumSize+n)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)),
		TTL:         64,
		Protocol:    uint8(proto),
		SrcAddr:     tcpip.AddrFrom4(src),
		DstAddr:     tcpip.AddrFrom4(dst),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	return b
}

// buildRST builds a TCP RST from src to dst. With ack it also carries
// the ACK flag and acknowledgment number.
func buildRST(src [4]byte, sport uint16, dst [4]byte, dport uint16, seq, ackNum uint32, ack bool) []byte {
	b := newIPv4(ProtoTCP, src, dst, header.TCPMinimumSize)
	t := header.TCP(b[header.IPv4MinimumSize:])
	flags := header.TCPFlagRst
	if ack {
		flags |= header.TCPFlagAck
	} else {
		ackNum = 0
	}
	t.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, SeqNum: seq, AckNum: ackNum,
		DataOffset: header.TCPMinimumSize, Flags: flags})
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, tcpip.AddrFrom4(src), tcpip.AddrFrom4(dst), header.TCPMinimumSize)
	t.SetChecksum(^t.CalculateChecksum(xsum))
	return b
}

// rstFor answers a TCP segment the way RFC 793 (section 3.4, "Reset
// Generation") says a closed port does; from is the answering endpoint.
func rstFor(from [4]byte, fromPort uint16, to [4]byte, toPort uint16, seg tcpSeg) []byte {
	if seg.flags&header.TCPFlagAck != 0 {
		return buildRST(from, fromPort, to, toPort, seg.ack, 0, false)
	}
	return buildRST(from, fromPort, to, toPort, 0, seg.end, true)
}

// buildICMPError builds an ICMP error from src to dst quoting orig.
func buildICMPError(src, dst [4]byte, typ, code uint8, orig []byte) []byte {
	q := orig[:min(len(orig), icmpQuoteMax)]
	b := newIPv4(ProtoICMP, src, dst, header.ICMPv4MinimumSize+len(q))
	ic := header.ICMPv4(b[header.IPv4MinimumSize:])
	ic.SetType(header.ICMPv4Type(typ))
	ic.SetCode(header.ICMPv4Code(code))
	copy(ic[header.ICMPv4MinimumSize:], q)
	ic.SetChecksum(header.ICMPv4Checksum(ic, 0))
	return b
}

// buildEchoReply answers an echo request as a host stack does.
func buildEchoReply(p *parsed) []byte {
	b := newIPv4(ProtoICMP, p.dst, p.src, len(p.l4))
	ic := header.ICMPv4(b[header.IPv4MinimumSize:])
	copy(ic, p.l4)
	ic.SetType(header.ICMPv4EchoReply)
	ic.SetCode(0)
	ic.SetChecksum(0)
	ic.SetChecksum(header.ICMPv4Checksum(ic, 0))
	return b
}

// icmpChecksumValid verifies a whole ICMP message (RFC 5508 REQ-3).
func icmpChecksumValid(ic []byte) bool {
	return checksum.Checksum(ic, 0) == 0xffff
}

// refixICMP recomputes an ICMP message checksum after its quoted
// datagram was rewritten.
func refixICMP(ic []byte) {
	h := header.ICMPv4(ic)
	h.SetChecksum(0)
	h.SetChecksum(header.ICMPv4Checksum(h, 0))
}
