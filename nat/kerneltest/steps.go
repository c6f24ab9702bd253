package kerneltest

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Timing holds the conntrack timeouts the script probes around, as set in
// both worlds, and the margin it keeps from each of them.
type Timing struct {
	// TCPEstablished is nf_conntrack_tcp_timeout_established.
	TCPEstablished time.Duration
	// TCPClose is nf_conntrack_tcp_timeout_close (the state after a RST).
	TCPClose time.Duration
	// UDPUnreplied is nf_conntrack_udp_timeout.
	UDPUnreplied time.Duration
	// UDPStream is nf_conntrack_udp_timeout_stream; it must exceed
	// UDPUnreplied + 2*Margin so the script can fall between the two.
	UDPStream time.Duration
	// UDPStreamAge is how old a replied UDP flow must be before its next
	// packet promotes it to the stream timeout: 2 s in the kernel
	// (stream_ts = jiffies + 2*HZ in nf_conntrack_proto_udp.c).
	UDPStreamAge time.Duration
	// ICMP is nf_conntrack_icmp_timeout.
	ICMP time.Duration
	// Margin separates "just before" and "just after" a timeout from the
	// timeout itself, covering scheduling jitter and jiffies rounding.
	Margin time.Duration
}

// Validate reports a Timing under which the script cannot tell the
// timeouts apart: every step that probes "just before" or "just after" a
// timeout needs Margin on each side.
func (t Timing) Validate() error {
	var errs []error
	if t.Margin <= 0 {
		errs = append(errs, fmt.Errorf("kerneltest: Margin %v must be positive", t.Margin))
	}
	if t.TCPEstablished/2 > t.TCPEstablished-t.Margin {
		errs = append(errs, fmt.Errorf("kerneltest: TCPEstablished %v must be at least 2*Margin (%v)", t.TCPEstablished, 2*t.Margin))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"TCPClose", t.TCPClose}, {"ICMP", t.ICMP}, {"UDPStreamAge", t.UDPStreamAge}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("kerneltest: %s %v must be positive", d.name, d.v))
		}
	}
	// The promoting packet goes out UDPStreamAge+Margin/2 after the flow
	// starts; the entry, refreshed by the reply, must still be alive.
	if t.UDPUnreplied <= t.UDPStreamAge+t.Margin {
		errs = append(errs, fmt.Errorf("kerneltest: UDPUnreplied %v must exceed UDPStreamAge+Margin (%v), or the flow expires before it can be promoted", t.UDPUnreplied, t.UDPStreamAge+t.Margin))
	}
	if t.UDPStream <= t.UDPUnreplied+2*t.Margin {
		errs = append(errs, fmt.Errorf("kerneltest: UDPStream %v must exceed UDPUnreplied+2*Margin (%v)", t.UDPStream, t.UDPUnreplied+2*t.Margin))
	}
	return errors.Join(errs...)
}

// Ports and identifiers of the scripted flows.
const (
	tcpA     = 40001 // the long-lived connection
	tcpB     = 40002 // the reconnection after RST
	udpA     = 50001 // never answered
	udpB     = 50002 // answered: a stream
	echoID   = 7
	echoIDIn = 9 // first seen in an unsolicited inbound echo request
	srvTCP   = 443
	srvUDP   = 5000
	payloadN = 10
)

// Steps returns the script: a TCP connection through handshake, data
// both ways, idle below and above the established timeout, mid-stream
// pickup, RST and reconnection; an unreplied UDP flow, a replied one
// promoted to the stream timeout; and an ICMP echo. Sequence numbers are
// those a correct TCP would use, so the kernel's window tracking
// (nf_conntrack_tcp_be_liberal=0) accepts every segment of a live
// connection.
func Steps(t Timing) []Step {
	cli := func(p uint16) netip.AddrPort { return netip.AddrPortFrom(InsideHost, p) }
	srvT := netip.AddrPortFrom(ServerAddr, srvTCP)
	srvU := netip.AddrPortFrom(ServerAddr, srvUDP)
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		return b
	}
	id := uint16(0)
	nextID := func() uint16 { id++; return id }
	out := func(name string, wait time.Duration, port uint16, seq, ack uint32, fl header.TCPFlags, n int) Step {
		ipid := nextID()
		return Step{Name: name, Wait: wait, From: Inside, Build: func(*View) []byte {
			return BuildTCP(TCPSpec{Src: cli(port), Dst: srvT, Seq: seq, Ack: ack, Flags: fl, Payload: data(n)}, ipid)
		}}
	}
	inFrom := func(name string, wait time.Duration, sport, port uint16, seq, ack uint32, fl header.TCPFlags, n int) Step {
		ipid := nextID()
		src := netip.AddrPortFrom(ServerAddr, sport)
		return Step{Name: name, Wait: wait, From: Outside, Build: func(v *View) []byte {
			dst := v.Public(uint8(header.TCPProtocolNumber), port)
			return BuildTCP(TCPSpec{Src: src, Dst: dst, Seq: seq, Ack: ack, Flags: fl, Payload: data(n)}, ipid)
		}}
	}
	in := func(name string, wait time.Duration, port uint16, seq, ack uint32, fl header.TCPFlags, n int) Step {
		return inFrom(name, wait, srvTCP, port, seq, ack, fl, n)
	}
	udpOut := func(name string, wait time.Duration, port uint16) Step {
		ipid := nextID()
		return Step{Name: name, Wait: wait, From: Inside, Build: func(*View) []byte {
			return BuildUDP(cli(port), srvU, data(payloadN), ipid)
		}}
	}
	udpInFrom := func(name string, wait time.Duration, sport, port uint16) Step {
		ipid := nextID()
		src := netip.AddrPortFrom(ServerAddr, sport)
		return Step{Name: name, Wait: wait, From: Outside, Build: func(v *View) []byte {
			return BuildUDP(src, v.Public(uint8(header.UDPProtocolNumber), port), data(payloadN), ipid)
		}}
	}
	udpIn := func(name string, wait time.Duration, port uint16) Step {
		return udpInFrom(name, wait, srvUDP, port)
	}
	echo := func(name string, wait time.Duration, from Side, seq uint16) Step {
		ipid := nextID()
		return Step{Name: name, Wait: wait, From: from, Build: func(v *View) []byte {
			if from == Inside {
				return BuildEcho(InsideHost, ServerAddr, false, echoID, seq, data(8), ipid)
			}
			pub := v.Public(uint8(header.ICMPv4ProtocolNumber), echoID)
			return BuildEcho(ServerAddr, pub.Addr(), true, pub.Port(), seq, data(8), ipid)
		}}
	}
	// echoReq sends an echo request with identifier ident from either side
	// (from outside: to the public address, unsolicited).
	echoReq := func(name string, wait time.Duration, from Side, ident uint16) Step {
		ipid := nextID()
		return Step{Name: name, Wait: wait, From: from, Build: func(v *View) []byte {
			if from == Inside {
				return BuildEcho(InsideHost, ServerAddr, false, ident, 1, data(8), ipid)
			}
			return BuildEcho(ServerAddr, PublicAddr, false, ident, 1, data(8), ipid)
		}}
	}
	const (
		S  = header.TCPFlagSyn
		A  = header.TCPFlagAck
		SA = header.TCPFlagSyn | header.TCPFlagAck
		PA = header.TCPFlagPsh | header.TCPFlagAck
		R  = header.TCPFlagRst
	)
	before := t.TCPEstablished / 2
	after := t.TCPEstablished + t.Margin
	// Client ISN 1000, server ISN 5000; comments give the next sequence
	// number each side will send after the step.
	return []Step{
		out("tcp syn", 0, tcpA, 1000, 0, S, 0),                            // c=1001
		in("tcp syn-ack", 0, tcpA, 5000, 1001, SA, 0),                     // s=5001
		out("tcp ack", 0, tcpA, 1001, 5001, A, 0),                         //
		out("tcp data out", 0, tcpA, 1001, 5001, PA, 10),                  // c=1011
		in("tcp data in", 0, tcpA, 5001, 1011, PA, 20),                    // s=5021
		out("tcp ack out", 0, tcpA, 1011, 5021, A, 0),                     //
		in("tcp in, idle < established", before, tcpA, 5021, 1011, PA, 5), // s=5026
		out("tcp ack of refresh", 0, tcpA, 1011, 5026, A, 0),
		// The mapping has expired: the server's segment reaches a box with
		// no entry for it.
		in("tcp in, idle > established", after, tcpA, 5026, 1011, PA, 5),
		// The client, unaware, sends mid-stream: nf_conntrack_tcp_loose=1
		// picks the connection up again. Does it keep the public port?
		out("tcp out after expiry (loose pickup)", 0, tcpA, 1011, 5026, PA, 10), // c=1021
		in("tcp in after pickup", 0, tcpA, 5026, 1021, PA, 5),                   // s=5031
		out("tcp rst out", 0, tcpA, 1021, 0, R, 0),
		in("tcp in after rst", 0, tcpA, 5031, 1021, PA, 5),
		out("tcp reconnect syn", 0, tcpB, 2000, 0, S, 0),
		in("tcp reconnect syn-ack", 0, tcpB, 7000, 2001, SA, 0),
		out("tcp reconnect ack", 0, tcpB, 2001, 7001, A, 0),
		// Filtering: another server port reaches the live mapping's public
		// port. conntrack admits replies only, so this is unsolicited.
		inFrom("tcp syn from another remote port to a mapped port", 0, srvTCP+1, tcpB, 11000, 0, S, 0),
		// The first connection's 4-tuple is free again once the CLOSE
		// entry times out.
		out("tcp syn reusing port after close timeout", t.TCPClose+t.Margin, tcpA, 3000, 0, S, 0),
		in("tcp syn-ack reusing port", 0, tcpA, 9000, 3001, SA, 0),

		udpOut("udp out, never answered", 0, udpA),
		udpIn("udp in, idle > unreplied", t.UDPUnreplied+t.Margin, udpA),
		udpOut("udp out again after expiry", 0, udpA),
		udpOut("udp stream out", 0, udpB),
		udpIn("udp stream reply", 0, udpB),
		udpInFrom("udp in from another remote port to a mapped port", 0, srvUDP+1, udpB),
		// A packet after UDPStreamAge promotes the flow to the stream
		// timeout.
		udpOut("udp stream out after stream age", t.UDPStreamAge+t.Margin/2, udpB),
		udpIn("udp in, unreplied < idle < stream", t.UDPUnreplied+t.Margin, udpB),
		udpIn("udp in, idle > stream", t.UDPStream+t.Margin, udpB),

		echo("icmp echo request", 0, Inside, 1),
		echo("icmp echo reply", 0, Outside, 1),
		echo("icmp echo reply, idle > icmp timeout", t.ICMP+t.Margin, Outside, 2),
		// The box answers an unsolicited echo request itself; its entry
		// (server -> box, echo request) cannot clash with an outgoing
		// request's reply tuple (server -> box, echo reply), so the
		// identifier is kept.
		echoReq("icmp echo request in, unsolicited", 0, Outside, echoIDIn),
		echoReq("icmp echo request out, identifier of the unsolicited one", 0, Inside, echoIDIn),
	}
}
