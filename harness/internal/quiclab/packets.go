package quiclab

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// datagram is a UDP datagram's endpoints and payload.
type datagram struct {
	src, dst netip.AddrPort
	payload  []byte
}

// parseUDP reads an IPv4 packet carrying a whole UDP datagram; false for
// anything else, including truncated or fragmented packets.
func parseUDP(pkt []byte) (datagram, bool) {
	ip := header.IPv4(pkt)
	if !ip.IsValid(len(pkt)) || ip.TransportProtocol() != header.UDPProtocolNumber || ip.More() || ip.FragmentOffset() != 0 {
		return datagram{}, false
	}
	l4 := ip.Payload()
	if len(l4) < header.UDPMinimumSize {
		return datagram{}, false
	}
	u := header.UDP(l4)
	if int(u.Length()) < header.UDPMinimumSize || int(u.Length()) > len(l4) {
		return datagram{}, false
	}
	src := netip.AddrFrom4(ip.SourceAddress().As4())
	dst := netip.AddrFrom4(ip.DestinationAddress().As4())
	return datagram{
		src:     netip.AddrPortFrom(src, u.SourcePort()),
		dst:     netip.AddrPortFrom(dst, u.DestinationPort()),
		payload: l4[header.UDPMinimumSize:u.Length()],
	}, true
}

// icmpUnreachable reports whether pkt is an ICMP port unreachable (type
// 3, code 3) quoting a UDP datagram from server, and the port that
// datagram was addressed to.
func icmpUnreachable(pkt []byte, server netip.AddrPort) (uint16, bool) {
	ip := header.IPv4(pkt)
	if !ip.IsValid(len(pkt)) || ip.TransportProtocol() != header.ICMPv4ProtocolNumber {
		return 0, false
	}
	icmp := header.ICMPv4(ip.Payload())
	if len(icmp) < header.ICMPv4MinimumSize || icmp.Type() != header.ICMPv4DstUnreachable || icmp.Code() != header.ICMPv4PortUnreachable {
		return 0, false
	}
	inner := header.IPv4(icmp.Payload())
	if len(inner) < header.IPv4MinimumSize || int(inner.HeaderLength()) < header.IPv4MinimumSize || len(inner) < int(inner.HeaderLength())+header.UDPMinimumSize || inner.TransportProtocol() != header.UDPProtocolNumber {
		return 0, false
	}
	u := header.UDP(inner[inner.HeaderLength():])
	src := netip.AddrPortFrom(netip.AddrFrom4(inner.SourceAddress().As4()), u.SourcePort())
	if src != server {
		return 0, false
	}
	return u.DestinationPort(), true
}
