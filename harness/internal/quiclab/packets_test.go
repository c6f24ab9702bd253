package quiclab

import (
	"net/netip"
	"testing"

	"github.com/natsim/natsim/nat/kerneltest"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// udpPacket builds an IPv4/UDP packet as the NAT box would forward it.
func udpPacket(src, dst netip.AddrPort, payload []byte) []byte {
	return kerneltest.BuildUDP(src, dst, payload, 1)
}

// icmpUnreachablePacket builds the NAT box's ICMP port unreachable from
// src to dst quoting the start of quoted.
func icmpUnreachablePacket(src, dst netip.Addr, quoted []byte) []byte {
	icmp := make(header.ICMPv4, header.ICMPv4MinimumSize+min(len(quoted), 28))
	icmp.SetType(header.ICMPv4DstUnreachable)
	icmp.SetCode(header.ICMPv4PortUnreachable)
	copy(icmp[header.ICMPv4MinimumSize:], quoted)
	pkt := make([]byte, header.IPv4MinimumSize+len(icmp))
	header.IPv4(pkt).Encode(&header.IPv4Fields{
		TotalLength: uint16(len(pkt)), TTL: 64, Protocol: uint8(header.ICMPv4ProtocolNumber),
		SrcAddr: tcpip.AddrFrom4(src.As4()), DstAddr: tcpip.AddrFrom4(dst.As4()),
	})
	copy(pkt[header.IPv4MinimumSize:], icmp)
	return pkt
}

func TestParseUDP(t *testing.T) {
	src, dst := netip.MustParseAddrPort("203.0.113.2:4433"), netip.MustParseAddrPort("203.0.113.1:50101")
	d, ok := parseUDP(udpPacket(src, dst, []byte("quic")))
	if !ok || d.src != src || d.dst != dst || string(d.payload) != "quic" {
		t.Fatalf("parseUDP = %+v, %v", d, ok)
	}
	if _, ok := parseUDP(udpPacket(src, dst, []byte("quic"))[:25]); ok {
		t.Error("parseUDP accepted a truncated packet")
	}
}

func TestICMPUnreachable(t *testing.T) {
	server, public := netip.MustParseAddrPort("203.0.113.2:4433"), netip.MustParseAddrPort("203.0.113.1:50101")
	quoted := udpPacket(server, public, []byte("push"))
	icmp := icmpUnreachablePacket(public.Addr(), server.Addr(), quoted)
	if port, ok := icmpUnreachable(icmp, server); !ok || port != public.Port() {
		t.Fatalf("icmpUnreachable = %d, %v; want %d", port, ok, public.Port())
	}
	if _, ok := icmpUnreachable(icmp, netip.MustParseAddrPort("203.0.113.2:4434")); ok {
		t.Error("icmpUnreachable matched another server port")
	}
}

func FuzzParsePacket(f *testing.F) {
	server, public := netip.MustParseAddrPort("203.0.113.2:4433"), netip.MustParseAddrPort("203.0.113.1:50101")
	quoted := udpPacket(server, public, []byte("push"))
	f.Add(quoted)
	f.Add(icmpUnreachablePacket(public.Addr(), server.Addr(), quoted))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if d, ok := parseUDP(pkt); ok && len(d.payload) > len(pkt) {
			t.Fatalf("payload longer than the packet")
		}
		_, _ = icmpUnreachable(pkt, server)
	})
}
