package kerneltest

import (
	"fmt"
	"net/netip"
	"strings"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Addresses of the lab; the model is configured with the same ones.
var (
	// InsideHost is the inside (private) address of the dev host.
	InsideHost = netip.MustParseAddr("192.168.1.2")
	// InsideGateway is the NAT box's inside address.
	InsideGateway = netip.MustParseAddr("192.168.1.1")
	// PublicAddr is the NAT box's outside address, the masquerade source.
	PublicAddr = netip.MustParseAddr("203.0.113.1")
	// ServerAddr is the outside host's address.
	ServerAddr = netip.MustParseAddr("203.0.113.2")
)

const ipv4HeaderLen = header.IPv4MinimumSize

func tcpipAddr(a netip.Addr) tcpip.Address { return tcpip.AddrFrom4(a.As4()) }

func ipv4(proto tcpip.TransportProtocolNumber, src, dst netip.Addr, id uint16, l4 []byte) []byte {
	pkt := make([]byte, ipv4HeaderLen+len(l4))
	ip := header.IPv4(pkt)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(pkt)),
		ID:          id,
		Flags:       header.IPv4FlagDontFragment,
		TTL:         64,
		Protocol:    uint8(proto),
		SrcAddr:     tcpipAddr(src),
		DstAddr:     tcpipAddr(dst),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	copy(pkt[ipv4HeaderLen:], l4)
	return pkt
}

// TCPSpec describes one hand-built TCP segment.
type TCPSpec struct {
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	Flags    header.TCPFlags
	Payload  []byte
}

// BuildTCP returns an IPv4 packet holding the segment, checksums set.
// The window is 65535 and there are no options, so the kernel's window
// tracking sees an unscaled window.
func BuildTCP(s TCPSpec, id uint16) []byte {
	seg := make([]byte, header.TCPMinimumSize+len(s.Payload))
	t := header.TCP(seg)
	t.Encode(&header.TCPFields{
		SrcPort:    s.Src.Port(),
		DstPort:    s.Dst.Port(),
		SeqNum:     s.Seq,
		AckNum:     s.Ack,
		DataOffset: header.TCPMinimumSize,
		Flags:      s.Flags,
		WindowSize: 65535,
	})
	copy(seg[header.TCPMinimumSize:], s.Payload)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, tcpipAddr(s.Src.Addr()), tcpipAddr(s.Dst.Addr()), uint16(len(seg)))
	xsum = checksum.Checksum(s.Payload, xsum)
	t.SetChecksum(^t.CalculateChecksum(xsum))
	return ipv4(header.TCPProtocolNumber, s.Src.Addr(), s.Dst.Addr(), id, seg)
}

// BuildUDP returns an IPv4 packet holding one UDP datagram, checksums set.
func BuildUDP(src, dst netip.AddrPort, payload []byte, id uint16) []byte {
	dg := make([]byte, header.UDPMinimumSize+len(payload))
	u := header.UDP(dg)
	u.Encode(&header.UDPFields{SrcPort: src.Port(), DstPort: dst.Port(), Length: uint16(len(dg))})
	copy(dg[header.UDPMinimumSize:], payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, tcpipAddr(src.Addr()), tcpipAddr(dst.Addr()), uint16(len(dg)))
	xsum = checksum.Checksum(payload, xsum)
	u.SetChecksum(^u.CalculateChecksum(xsum))
	return ipv4(header.UDPProtocolNumber, src.Addr(), dst.Addr(), id, dg)
}

// BuildEcho returns an IPv4 ICMP echo request (reply false) or echo
// reply (reply true) with the given identifier and sequence number.
func BuildEcho(src, dst netip.Addr, reply bool, ident, seq uint16, payload []byte, id uint16) []byte {
	msg := make([]byte, header.ICMPv4MinimumSize+len(payload))
	ic := header.ICMPv4(msg)
	ic.SetType(header.ICMPv4Echo)
	if reply {
		ic.SetType(header.ICMPv4EchoReply)
	}
	ic.SetIdent(ident)
	ic.SetSequence(seq)
	copy(msg[header.ICMPv4MinimumSize:], payload)
	ic.SetChecksum(^checksum.Checksum(msg, 0))
	return ipv4(header.ICMPv4ProtocolNumber, src, dst, id, msg)
}

// Describe renders pkt (a whole IPv4 packet) as one line that two
// middleboxes produce identically when they treat the packet alike:
// protocol, addresses and ports, TCP flags, sequence and acknowledgment
// numbers, payload length, ICMP type and code, and the quoted packet of
// an ICMP error. A checksum that does not verify is marked "BADSUM".
//
// port renders a port that belongs to address addr; callers use it to
// hide NAT-chosen port numbers, which differ between middleboxes without
// the difference mattering (see Renamer).
func Describe(pkt []byte, port func(addr netip.Addr, p uint16) string) string {
	ip := header.IPv4(pkt)
	if len(pkt) < ipv4HeaderLen || !ip.IsValid(len(pkt)) {
		return fmt.Sprintf("malformed(%d bytes)", len(pkt))
	}
	var b strings.Builder
	src := netip.AddrFrom4(ip.SourceAddress().As4())
	dst := netip.AddrFrom4(ip.DestinationAddress().As4())
	if !ip.IsChecksumValid() {
		b.WriteString("BADSUM ")
	}
	payload := ip.Payload()
	if int(ip.TotalLength()) < len(pkt) {
		payload = pkt[ip.HeaderLength():ip.TotalLength()]
	}
	switch ip.TransportProtocol() {
	case header.TCPProtocolNumber:
		if len(payload) < header.TCPMinimumSize {
			return "tcp truncated"
		}
		t := header.TCP(payload)
		xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(payload)))
		if checksum.Checksum(payload, xsum) != 0xffff {
			b.WriteString("BADSUM ")
		}
		fmt.Fprintf(&b, "tcp %s:%s > %s:%s [%s] seq=%d ack=%d len=%d",
			src, port(src, t.SourcePort()), dst, port(dst, t.DestinationPort()),
			flagString(t.Flags()), t.SequenceNumber(), t.AckNumber(), len(t.Payload()))
	case header.UDPProtocolNumber:
		if len(payload) < header.UDPMinimumSize {
			return "udp truncated"
		}
		u := header.UDP(payload)
		if u.Checksum() != 0 {
			xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(payload)))
			if checksum.Checksum(payload, xsum) != 0xffff {
				b.WriteString("BADSUM ")
			}
		}
		fmt.Fprintf(&b, "udp %s:%s > %s:%s len=%d",
			src, port(src, u.SourcePort()), dst, port(dst, u.DestinationPort()), len(u.Payload()))
	case header.ICMPv4ProtocolNumber:
		if len(payload) < header.ICMPv4MinimumSize {
			return "icmp truncated"
		}
		if checksum.Checksum(payload, 0) != 0xffff {
			b.WriteString("BADSUM ")
		}
		ic := header.ICMPv4(payload)
		switch ic.Type() {
		case header.ICMPv4Echo, header.ICMPv4EchoReply:
			kind := "echo-request"
			if ic.Type() == header.ICMPv4EchoReply {
				kind = "echo-reply"
			}
			// The identifier plays the part of the port in a NAT.
			fmt.Fprintf(&b, "icmp %s > %s %s id=%s seq=%d", src, dst, kind,
				port(netip.Addr{}, ic.Ident()), ic.Sequence())
		default:
			fmt.Fprintf(&b, "icmp %s > %s type=%d code=%d", src, dst, ic.Type(), ic.Code())
			if quoted := ic.Payload(); len(quoted) >= ipv4HeaderLen {
				fmt.Fprintf(&b, " quoting{%s}", describeQuoted(quoted, port))
			}
		}
	default:
		fmt.Fprintf(&b, "proto=%d %s > %s", ip.TransportProtocol(), src, dst)
	}
	return b.String()
}

// describeQuoted renders the start of the packet quoted in an ICMP error:
// its addresses and ports only, since the rest may be truncated.
func describeQuoted(q []byte, port func(netip.Addr, uint16) string) string {
	ip := header.IPv4(q)
	hl := int(ip.HeaderLength())
	if hl < ipv4HeaderLen || len(q) < hl+4 {
		return "truncated"
	}
	src := netip.AddrFrom4(ip.SourceAddress().As4())
	dst := netip.AddrFrom4(ip.DestinationAddress().As4())
	l4 := q[hl:]
	sp := uint16(l4[0])<<8 | uint16(l4[1])
	dp := uint16(l4[2])<<8 | uint16(l4[3])
	return fmt.Sprintf("proto=%d %s:%s > %s:%s", ip.Protocol(), src, port(src, sp), dst, port(dst, dp))
}

func flagString(f header.TCPFlags) string {
	var b strings.Builder
	for _, x := range []struct {
		f header.TCPFlags
		c byte
	}{{header.TCPFlagSyn, 'S'}, {header.TCPFlagFin, 'F'}, {header.TCPFlagRst, 'R'}, {header.TCPFlagPsh, 'P'}, {header.TCPFlagAck, '.'}} {
		if f&x.f != 0 {
			b.WriteByte(x.c)
		}
	}
	return b.String()
}

// L4Source returns the source port (TCP, UDP) or echo identifier (ICMP)
// of pkt, and false when pkt carries none of those.
func L4Source(pkt []byte) (uint16, bool) {
	ip := header.IPv4(pkt)
	if len(pkt) < ipv4HeaderLen || !ip.IsValid(len(pkt)) {
		return 0, false
	}
	p := ip.Payload()
	switch ip.TransportProtocol() {
	case header.TCPProtocolNumber, header.UDPProtocolNumber:
		if len(p) >= 4 {
			return uint16(p[0])<<8 | uint16(p[1]), true
		}
	case header.ICMPv4ProtocolNumber:
		if len(p) >= header.ICMPv4MinimumSize {
			ic := header.ICMPv4(p)
			if ic.Type() == header.ICMPv4Echo || ic.Type() == header.ICMPv4EchoReply {
				return ic.Ident(), true
			}
		}
	}
	return 0, false
}
