package nat

import (
	"net/netip"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var (
	inA  = ap("10.0.0.2:40000")
	inB  = ap("10.0.0.3:40000")
	rem1 = ap("192.0.2.10:443")
	rem2 = ap("192.0.2.20:443")
)

// harness wraps a table with time and packet helpers for the specs.
type harness struct {
	t      *Table
	events []Event
}

func newHarness(cfg Config) *harness {
	h := &harness{t: mustTable(cfg)}
	h.t.SetObserver(func(e Event) { h.events = append(h.events, e) })
	return h
}

// out sends b outbound at t0+at and returns the verdict; the packet is
// translated in place.
func (h *harness) out(at time.Duration, b []byte) Verdict { return h.send(at, Outbound, b) }

// in sends b inbound at t0+at.
func (h *harness) in(at time.Duration, b []byte) Verdict { return h.send(at, Inbound, b) }

// send runs the timers up to t0+at, processes b, and checks the table's
// invariants and the checksums of a forwarded packet.
func (h *harness) send(at time.Duration, dir Direction, b []byte) Verdict {
	runUntil(h.t, t0.Add(at))
	v := h.t.Process(t0.Add(at), dir, b)
	ExpectWithOffset(2, h.t.checkInvariants()).To(Succeed())
	if v.Forward {
		ExpectWithOffset(2, checksumsOK(b)).To(Succeed())
	}
	return v
}

// expire drives timers to t0+at and returns what expiry generated.
func (h *harness) expire(at time.Duration) []Packet {
	p := runUntil(h.t, t0.Add(at))
	ExpectWithOffset(1, h.t.checkInvariants()).To(Succeed())
	for _, g := range p {
		ExpectWithOffset(1, checksumsOK(g.Data)).To(Succeed())
	}
	return p
}

// udpOut sends a UDP datagram from src to dst and returns the public
// source endpoint it left with (invalid if dropped).
func (h *harness) udpOut(at time.Duration, src, dst netip.AddrPort) netip.AddrPort {
	b := udpPkt(src, dst, []byte("x"))
	if !h.out(at, b).Forward {
		return netip.AddrPort{}
	}
	s, _ := endpoints(b)
	return s
}

// udpIn sends a UDP datagram from remote to a public endpoint and
// returns where it was delivered (invalid if dropped).
func (h *harness) udpIn(at time.Duration, src, pub netip.AddrPort) netip.AddrPort {
	b := udpPkt(src, pub, []byte("y"))
	if !h.in(at, b).Forward {
		return netip.AddrPort{}
	}
	_, d := endpoints(b)
	return d
}

func cfgWith(name string, f func(*Config)) Config {
	c := Preset(name)
	if f != nil {
		f(&c)
	}
	return c
}

const s = time.Second

var _ = Describe("Mapping behaviour (RFC 4787 section 4.1)", func() {
	DescribeTable("public endpoint reuse for a second destination",
		func(m MappingBehavior, second netip.AddrPort, same bool) {
			h := newHarness(cfgWith("rfc-compliant", func(c *Config) { c.UDP.Mapping = m }))
			p1 := h.udpOut(0, inA, rem1)
			p2 := h.udpOut(s, inA, second)
			Expect(p1.IsValid() && p2.IsValid()).To(BeTrue())
			Expect(p1 == p2).To(Equal(same))
		},
		Entry("RFC 4787 REQ-1: EIM reuses the mapping for a new destination", EndpointIndependentMapping, rem2, true),
		Entry("RFC 4787 4.1: ADM reuses the mapping for the same address, other port", AddressDependentMapping, ap("192.0.2.10:8443"), true),
		Entry("RFC 4787 4.1: ADM allocates a new mapping for a new address", AddressDependentMapping, rem2, false),
		Entry("RFC 4787 4.1: APDM allocates a new mapping for a new port", AddressAndPortDependentMapping, ap("192.0.2.10:8443"), false),
	)

	It("RFC 7857: EIM applies to each protocol independently", func() {
		h := newHarness(cfgWith("rfc-compliant", func(c *Config) { c.TCP.Mapping = AddressAndPortDependentMapping }))
		Expect(h.udpOut(0, inA, rem1)).To(Equal(h.udpOut(s, inA, rem2)))
		b1 := tcpPkt(inA, rem1, header.TCPFlagSyn, 1, 0, nil)
		b2 := tcpPkt(inA, rem2, header.TCPFlagSyn, 1, 0, nil)
		h.out(0, b1)
		h.out(0, b2)
		s1, _ := endpoints(b1)
		s2, _ := endpoints(b2)
		Expect(s1).NotTo(Equal(s2))
	})

	It("RFC 4787 REQ-2 / RFC 6888 REQ-2: paired pooling keeps one public address per subscriber", func() {
		h := newHarness(cfgWith("cgnat-typical", nil))
		addrs := map[netip.Addr]bool{}
		for i := range 20 {
			p := h.udpOut(0, ap("10.0.0.2:"+itoa(1000+i)), rem1)
			addrs[p.Addr()] = true
		}
		Expect(addrs).To(HaveLen(1))
		Expect(h.udpOut(0, ap("10.0.0.9:1000"), rem1).Addr()).NotTo(BeElementOf(keys(addrs)))
	})
})

var _ = Describe("Filtering behaviour (RFC 4787 section 5)", func() {
	DescribeTable("an inbound packet to an existing mapping",
		func(f FilteringBehavior, from netip.AddrPort, admitted bool) {
			h := newHarness(cfgWith("rfc-compliant", func(c *Config) { c.UDP.Filtering = f }))
			pub := h.udpOut(0, inA, rem1)
			got := h.udpIn(s, from, pub)
			if admitted {
				Expect(got).To(Equal(inA))
			} else {
				Expect(got.IsValid()).To(BeFalse())
				Expect(h.t.Stats().Drops["filtered"]).To(BeEquivalentTo(1))
			}
		},
		Entry("RFC 4787 REQ-8: EIF admits any remote", EndpointIndependentFiltering, rem2, true),
		Entry("RFC 4787 5: ADF admits another port of a contacted address", AddressDependentFiltering, ap("192.0.2.10:9999"), true),
		Entry("RFC 4787 5: ADF rejects an address not contacted", AddressDependentFiltering, rem2, false),
		Entry("RFC 4787 5: APDF rejects another port of a contacted address", AddressAndPortDependentFiltering, ap("192.0.2.10:9999"), false),
		Entry("RFC 4787 5: APDF admits the contacted endpoint", AddressAndPortDependentFiltering, rem1, true),
	)

	It("drops inbound packets to an unmapped port as no_mapping", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		Expect(h.udpIn(0, rem1, ap("203.0.113.1:5555")).IsValid()).To(BeFalse())
		Expect(h.t.Stats().Drops["no_mapping"]).To(BeEquivalentTo(1))
	})
})

var _ = Describe("Hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-8)", func() {
	It("delivers a packet to the public endpoint of another inside host, from the sender's public endpoint", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		pubB := h.udpOut(0, inB, rem1)
		pubA := h.udpOut(0, inA, rem1)
		b := udpPkt(inA, pubB, []byte("hi"))
		v := h.out(s, b)
		Expect(v.Forward).To(BeFalse())
		Expect(v.Drop).To(Equal(DropNone))
		Expect(v.Generated).To(HaveLen(1))
		Expect(v.Generated[0].Dir).To(Equal(Inbound))
		Expect(checksumsOK(v.Generated[0].Data)).To(Succeed())
		src, dst := endpoints(v.Generated[0].Data)
		Expect(src).To(Equal(pubA))
		Expect(dst).To(Equal(inB))
	})

	It("drops such packets when hairpinning is off", func() {
		h := newHarness(cfgWith("rfc-compliant", func(c *Config) { c.Hairpinning = false }))
		pubB := h.udpOut(0, inB, rem1)
		Expect(h.out(s, udpPkt(inA, pubB, nil)).Drop).To(Equal(DropFiltered))
	})
})

var _ = Describe("Timeouts", func() {
	It("RFC 4787 REQ-5: UDP mapping does not expire before 2 minutes (rfc-compliant: 5 min, REQ-5c)", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		pub := h.udpOut(0, inA, rem1)
		Expect(h.udpIn(299*s, rem1, pub)).To(Equal(inA)) // inbound does not refresh
		h.expire(300 * s)
		Expect(h.t.Len()).To(BeZero())
		Expect(h.events[len(h.events)-1].Kind).To(Equal(MappingExpired))
	})

	It("RFC 4787 REQ-6: outbound refresh extends the mapping, inbound does not (outbound-only box)", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		pub := h.udpOut(0, inA, rem1)
		h.udpOut(200*s, inA, rem1)
		Expect(h.udpIn(499*s, rem1, pub)).To(Equal(inA))
		h.expire(500 * s)
		Expect(h.t.Len()).To(BeZero())
	})

	It("Linux: inbound packets refresh when RefreshInbound is set", func() {
		h := newHarness(cfgWith("linux-conntrack", nil))
		pub := h.udpOut(0, inA, rem1)
		for at := 3 * s; at < 600*s; at += 100 * s {
			Expect(h.udpIn(at, rem1, pub)).To(Equal(inA))
		}
		Expect(h.t.Len()).To(Equal(1))
	})

	DescribeTable("Linux UDP promotion: 30 s unreplied, 120 s once replied and older than 2 s",
		func(replyAt time.Duration, aliveUntil time.Duration) {
			h := newHarness(cfgWith("linux-conntrack", func(c *Config) { c.RefreshInbound = true }))
			pub := h.udpOut(0, inA, rem1)
			if replyAt >= 0 {
				Expect(h.udpIn(replyAt, rem1, pub)).To(Equal(inA))
			}
			h.expire(aliveUntil - time.Millisecond)
			Expect(h.t.Len()).To(Equal(1))
			h.expire(aliveUntil)
			Expect(h.t.Len()).To(BeZero())
		},
		Entry("unreplied: nf_conntrack_udp_timeout 30 s", time.Duration(-1), 30*s),
		Entry("reply within 2 s: still 30 s", 1*s, 31*s),
		Entry("reply after 2 s: nf_conntrack_udp_timeout_stream 120 s", 3*s, 123*s),
	)

	It("RFC 5508 REQ-2: ICMP query session lasts 60 s", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		b := echoPkt(inA.Addr(), rem1.Addr(), icmpEcho, 77, 1)
		Expect(h.out(0, b).Forward).To(BeTrue())
		src, _ := endpoints(b)
		reply := echoPkt(rem1.Addr(), src.Addr(), icmpEchoReply, src.Port(), 1)
		Expect(h.in(59*s, reply).Forward).To(BeTrue())
		_, dst := endpoints(reply)
		Expect(dst).To(Equal(netip.AddrPortFrom(inA.Addr(), 77)))
		h.expire(60 * s)
		Expect(h.t.Len()).To(BeZero())
	})

	It("RFC 5382 REQ-5: established TCP idle timeout (2 h 4 min)", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		openTCP(h, 0, inA, rem1)
		h.expire(7440*s - time.Millisecond)
		Expect(h.t.Len()).To(Equal(1))
		h.expire(7440 * s)
		Expect(h.t.Len()).To(BeZero())
		Expect(h.events[len(h.events)-1].Reason).To(Equal("tcp_established"))
	})

	It("RFC 5382 REQ-5: transitory (SYN sent) timeout of 4 min", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		h.out(0, tcpPkt(inA, rem1, header.TCPFlagSyn, 1000, 0, nil))
		h.expire(240*s - time.Millisecond)
		Expect(h.t.Len()).To(Equal(1))
		h.expire(240 * s)
		Expect(h.t.Len()).To(BeZero())
	})

	It("RFC 7857: RST keeps the mapping 4 minutes", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		pub := openTCP(h, 0, inA, rem1)
		Expect(h.in(10*s, tcpPkt(rem1, pub, header.TCPFlagRst, 5001, 0, nil)).Forward).To(BeTrue())
		h.expire(250*s - time.Millisecond)
		Expect(h.t.Len()).To(Equal(1))
		h.expire(250 * s)
		Expect(h.t.Len()).To(BeZero())
		Expect(h.events[len(h.events)-1].Reason).To(Equal("tcp_close"))
	})

	It("RFC 7857: an outbound RST does not refresh the mapping", func() {
		h := newHarness(cfgWith("rfc-compliant", func(c *Config) { c.TCP.Close = 7440 * s }))
		openTCP(h, 0, inA, rem1)
		h.out(7000*s, tcpPkt(inA, rem1, header.TCPFlagRst, 1001, 0, nil))
		h.expire(7440 * s)
		Expect(h.t.Len()).To(BeZero())
	})

	It("closes through FIN_WAIT, LAST_ACK and TIME_WAIT with the Linux timers", func() {
		h := newHarness(cfgWith("linux-conntrack", nil))
		pub := openTCP(h, 0, inA, rem1)
		h.out(s, tcpPkt(inA, rem1, header.TCPFlagFin|header.TCPFlagAck, 1001, 5001, nil))
		Expect(h.t.sessions[0].state).To(BeEquivalentTo(tcpFinWait))
		h.in(s, tcpPkt(rem1, pub, header.TCPFlagAck, 5001, 1002, nil))
		Expect(h.t.sessions[0].state).To(BeEquivalentTo(tcpCloseWait))
		h.in(s, tcpPkt(rem1, pub, header.TCPFlagFin|header.TCPFlagAck, 5001, 1002, nil))
		Expect(h.t.sessions[0].state).To(BeEquivalentTo(tcpLastAck))
		h.out(s, tcpPkt(inA, rem1, header.TCPFlagAck, 1002, 5002, nil))
		Expect(h.t.sessions[0].state).To(BeEquivalentTo(tcpTimeWait))
		h.expire(121*s - time.Millisecond)
		Expect(h.t.Len()).To(Equal(1))
		h.expire(121 * s)
		Expect(h.t.Len()).To(BeZero())
	})

	It("Linux: unacknowledged data caps the established timeout at 300 s", func() {
		h := newHarness(cfgWith("linux-conntrack", nil))
		openTCP(h, 0, inA, rem1)
		// The phone sends a keep-alive into a dead path: nothing acknowledges it.
		h.out(10*s, tcpPkt(inA, rem1, header.TCPFlagAck|header.TCPFlagPsh, 1001, 5001, []byte("ping")))
		h.expire(310*s - time.Millisecond)
		Expect(h.t.Len()).To(Equal(1))
		h.expire(310 * s)
		Expect(h.t.Len()).To(BeZero())
	})

	It("Linux: acknowledged data keeps the 5-day established timeout", func() {
		h := newHarness(cfgWith("linux-conntrack", nil))
		pub := openTCP(h, 0, inA, rem1)
		h.out(10*s, tcpPkt(inA, rem1, header.TCPFlagAck|header.TCPFlagPsh, 1001, 5001, []byte("ping")))
		h.in(10*s, tcpPkt(rem1, pub, header.TCPFlagAck, 5001, 1005, nil))
		h.expire(10 * 3600 * s)
		Expect(h.t.Len()).To(Equal(1))
	})

	It("Linux: three identical retransmissions cap the timeout at 300 s", func() {
		h := newHarness(cfgWith("linux-conntrack", func(c *Config) { c.TCP.Unacknowledged = 0 }))
		openTCP(h, 0, inA, rem1)
		for i := range 4 {
			h.out(time.Duration(10+i)*s, tcpPkt(inA, rem1, header.TCPFlagAck, 1001, 5001, nil))
		}
		h.expire(313*s - time.Millisecond)
		Expect(h.t.Len()).To(Equal(1))
		h.expire(313 * s)
		Expect(h.t.Len()).To(BeZero())
	})

	It("SetTimeouts applies from the next refresh", func() {
		h := newHarness(cfgWith("linux-conntrack", nil))
		h.udpOut(0, inA, rem1)
		c := h.t.Config()
		c.UDP.Initial = 10 * s
		Expect(h.t.SetTimeouts(c.TCP, c.UDP, c.ICMP)).To(Succeed())
		h.udpOut(5*s, inA, rem1)
		h.expire(15 * s)
		Expect(h.t.Len()).To(BeZero())
		c.UDP.Initial = -1
		Expect(h.t.SetTimeouts(c.TCP, c.UDP, c.ICMP)).To(MatchError(ContainSubstring("UDP.Initial")))
	})
})

// openTCP completes a handshake from in to rem (ISNs 1000 and 5000) and
// returns the public endpoint.
func openTCP(h *harness, at time.Duration, in, rem netip.AddrPort) netip.AddrPort {
	syn := tcpPkt(in, rem, header.TCPFlagSyn, 1000, 0, nil)
	ExpectWithOffset(1, h.out(at, syn).Forward).To(BeTrue())
	pub, _ := endpoints(syn)
	ExpectWithOffset(1, h.in(at, tcpPkt(rem, pub, header.TCPFlagSyn|header.TCPFlagAck, 5000, 1001, nil)).Forward).To(BeTrue())
	ExpectWithOffset(1, h.out(at, tcpPkt(in, rem, header.TCPFlagAck, 1001, 5001, nil)).Forward).To(BeTrue())
	return pub
}

var _ = Describe("Expiry actions", func() {
	DescribeTable("what a TCP mapping's expiry sends",
		func(a ExpiryAction, toInside, toOutside bool) {
			h := newHarness(cfgWith("carrier-aggressive", func(c *Config) { c.OnExpiry = a }))
			pub := openTCP(h, 0, inA, rem1)
			h.out(s, tcpPkt(inA, rem1, header.TCPFlagAck|header.TCPFlagPsh, 1001, 5001, []byte("abc")))
			h.in(s, tcpPkt(rem1, pub, header.TCPFlagAck|header.TCPFlagPsh, 5001, 1004, []byte("hello")))
			h.out(s, tcpPkt(inA, rem1, header.TCPFlagAck, 1004, 5006, nil))
			gen := h.expire(302 * s)
			Expect(h.t.Len()).To(BeZero())
			var in, out []Packet
			for _, g := range gen {
				if g.Dir == Inbound {
					in = append(in, g)
				} else {
					out = append(out, g)
				}
			}
			Expect(in).To(HaveLen(b2i(toInside)))
			Expect(out).To(HaveLen(b2i(toOutside)))
			if toInside {
				src, dst := endpoints(in[0].Data)
				Expect(src).To(Equal(rem1))
				Expect(dst).To(Equal(inA))
				tcp := header.TCP(header.IPv4(in[0].Data).Payload())
				Expect(tcp.Flags() & header.TCPFlagRst).NotTo(BeZero())
				Expect(tcp.SequenceNumber()).To(BeEquivalentTo(5006)) // the inside's rcv.nxt
				Expect(tcp.AckNumber()).To(BeEquivalentTo(1004))
			}
			if toOutside {
				src, dst := endpoints(out[0].Data)
				Expect(src).To(Equal(pub))
				Expect(dst).To(Equal(rem1))
				Expect(header.TCP(header.IPv4(out[0].Data).Payload()).SequenceNumber()).To(BeEquivalentTo(1004))
			}
			Expect(h.t.Stats().RSTsGenerated).To(BeEquivalentTo(b2i(toInside) + b2i(toOutside)))
		},
		Entry("silent removal", ExpirySilent, false, false),
		Entry("RST to the inside", ExpiryRSTInside, true, false),
		Entry("RST to the outside", ExpiryRSTOutside, false, true),
		Entry("F5 resetOnTimeout: RST both ways", ExpiryRSTBoth, true, true),
	)

	It("expires at the deadline with no packet arriving (NextDeadline)", func() {
		h := newHarness(cfgWith("carrier-aggressive-rst", nil))
		openTCP(h, 0, inA, rem1)
		d, ok := h.t.NextDeadline()
		Expect(ok).To(BeTrue())
		Expect(d).To(Equal(t0.Add(255 * s)))
		Expect(h.t.Expire(d)).To(HaveLen(2))
		_, ok = h.t.NextDeadline()
		Expect(ok).To(BeFalse())
	})
})

var _ = Describe("Packets after expiry", func() {
	DescribeTable("an outbound mid-stream segment with no mapping",
		func(m MidstreamAction, holdDown time.Duration, forwarded, samePort, rst bool) {
			h := newHarness(cfgWith("linux-conntrack", func(c *Config) {
				c.TCP.Midstream = m
				c.Ports.HoldDown = holdDown
				c.TCP.Established = 600 * s
			}))
			pub := openTCP(h, 0, inA, rem1)
			h.expire(700 * s)
			Expect(h.t.Len()).To(BeZero())
			b := tcpPkt(inA, rem1, header.TCPFlagAck|header.TCPFlagPsh, 1001, 5001, []byte("ka"))
			v := h.out(700*s, b)
			Expect(v.Forward).To(Equal(forwarded))
			if forwarded {
				src, _ := endpoints(b)
				Expect(src == pub).To(Equal(samePort))
				Expect(h.events[len(h.events)-1].Reason).To(Equal("loose_pickup"))
			} else {
				Expect(v.Drop).To(Equal(DropNotSYN))
			}
			Expect(v.Generated).To(HaveLen(b2i(rst)))
			if rst {
				_, dst := endpoints(v.Generated[0].Data)
				Expect(dst).To(Equal(inA))
				Expect(header.TCP(header.IPv4(v.Generated[0].Data).Payload()).SequenceNumber()).To(BeEquivalentTo(5001))
			}
		},
		Entry("AWS NFW: drop until a new SYN", MidstreamDrop, time.Duration(0), false, false, false),
		Entry("RST to the inside", MidstreamRST, time.Duration(0), false, false, true),
		Entry("Linux nf_conntrack_tcp_loose: pickup on the same port", MidstreamPickup, time.Duration(0), true, true, false),
		Entry("pickup under a 120 s hold-down lands on a new port", MidstreamPickup, 120*s, true, false, false),
		Entry("pickup on a new port by policy", MidstreamPickupNewPort, time.Duration(0), true, false, false),
	)

	It("a new SYN after expiry creates a mapping on an AWS-like box", func() {
		h := newHarness(cfgWith("cloud-aws", nil))
		openTCP(h, 0, inA, rem1)
		h.expire(400 * s)
		Expect(h.out(400*s, tcpPkt(inA, rem1, header.TCPFlagSyn, 9000, 0, nil)).Forward).To(BeTrue())
	})

	DescribeTable("Linux: the box's own stack answers unsolicited inbound packets",
		func(pkt func(pub netip.AddrPort) []byte, check func(Packet)) {
			h := newHarness(cfgWith("linux-conntrack", nil))
			v := h.in(0, pkt(ap("203.0.113.1:7777")))
			Expect(v.Drop).To(Equal(DropNoMapping))
			Expect(v.Generated).To(HaveLen(1))
			Expect(v.Generated[0].Dir).To(Equal(Outbound))
			Expect(checksumsOK(v.Generated[0].Data)).To(Succeed())
			check(v.Generated[0])
		},
		Entry("TCP gets a RST (RFC 793 reset generation)", func(pub netip.AddrPort) []byte {
			return tcpPkt(rem1, pub, header.TCPFlagAck, 100, 777, nil)
		}, func(p Packet) {
			t := header.TCP(header.IPv4(p.Data).Payload())
			Expect(t.Flags()).To(Equal(header.TCPFlagRst))
			Expect(t.SequenceNumber()).To(BeEquivalentTo(777))
		}),
		Entry("UDP gets ICMP port unreachable", func(pub netip.AddrPort) []byte {
			return udpPkt(rem1, pub, []byte("q"))
		}, func(p Packet) {
			ic := header.ICMPv4(header.IPv4(p.Data).Payload())
			Expect(ic.Type()).To(Equal(header.ICMPv4DstUnreachable))
			Expect(ic.Code()).To(Equal(header.ICMPv4PortUnreachable))
		}),
		Entry("an echo request gets an echo reply", func(pub netip.AddrPort) []byte {
			return echoPkt(rem1.Addr(), pub.Addr(), icmpEcho, 5, 1)
		}, func(p Packet) {
			Expect(header.ICMPv4(header.IPv4(p.Data).Payload()).Type()).To(Equal(header.ICMPv4EchoReply))
		}),
	)

	Describe("Linux: an unsolicited UDP datagram leaves an unreplied conntrack entry", func() {
		pub := ap("203.0.113.1:40000") // inA's port, preserved when free

		It("moves the next mapping towards that remote to another port until UDP.Initial passes", func() {
			h := newHarness(cfgWith("linux-conntrack", nil))
			Expect(h.udpIn(0, rem1, pub).IsValid()).To(BeFalse())
			Expect(h.udpIn(20*s, rem1, pub).IsValid()).To(BeFalse()) // a repeat refreshes the entry to 50 s
			moved := h.udpOut(45*s, inA, rem1)
			Expect(moved.IsValid()).To(BeTrue())
			Expect(moved.Port()).NotTo(Equal(pub.Port()), "nf_nat_used_tuple: the reply tuple is the entry's original tuple")
			Expect(h.udpIn(45*s, rem1, moved)).To(Equal(inA), "the new port works")
			Expect(h.udpOut(45*s, inB, rem2).Port()).To(Equal(pub.Port()), "another remote does not clash")

			h2 := newHarness(cfgWith("linux-conntrack", nil))
			Expect(h2.udpIn(0, rem1, pub).IsValid()).To(BeFalse())
			h2.expire(30 * s) // nf_conntrack_udp_timeout
			Expect(h2.udpOut(30*s, inA, rem1)).To(Equal(pub))
		})

		It("is not kept when TrackUnsolicited is off", func() {
			h := newHarness(cfgWith("linux-conntrack", func(c *Config) { c.TrackUnsolicited = false }))
			Expect(h.udpIn(0, rem1, pub).IsValid()).To(BeFalse())
			Expect(h.udpOut(s, inA, rem1)).To(Equal(pub))
		})

		It("is not kept for TCP (the box's RST closes it) or an echo request (it cannot clash)", func() {
			h := newHarness(cfgWith("linux-conntrack", nil))
			Expect(h.in(0, tcpPkt(rem1, pub, header.TCPFlagAck|header.TCPFlagPsh, 5, 6, []byte("x"))).Generated).To(HaveLen(1))
			syn := tcpPkt(inA, rem1, header.TCPFlagSyn, 100, 0, nil)
			Expect(h.out(s, syn).Forward).To(BeTrue())
			src, _ := endpoints(syn)
			Expect(src).To(Equal(pub), "port kept")
			Expect(h.in(s, echoPkt(rem1.Addr(), pub.Addr(), icmpEcho, 9, 1)).Generated).To(HaveLen(1))
			req := echoPkt(inA.Addr(), rem1.Addr(), icmpEcho, 9, 1)
			Expect(h.out(s, req).Forward).To(BeTrue())
			src, _ = endpoints(req)
			Expect(src).To(Equal(netip.AddrPortFrom(pub.Addr(), 9)), "identifier kept")
		})
	})
})

var _ = Describe("Port assignment", func() {
	It("preserves the inside port when free", func() {
		h := newHarness(cfgWith("linux-conntrack", nil))
		Expect(h.udpOut(0, inA, rem1).Port()).To(Equal(inA.Port()))
		Expect(h.udpOut(0, inB, rem1).Port()).NotTo(Equal(inA.Port()))
	})

	It("assigns sequential ports", func() {
		h := newHarness(cfgWith("home-router-short", nil))
		p1 := h.udpOut(0, inA, rem1).Port()
		p2 := h.udpOut(0, inB, rem1).Port()
		Expect(p2).To(Equal(p1 + 1))
	})

	It("RFC 6888 REQ-8: released port held 120 s", func() {
		h := newHarness(cfgWith("rfc-compliant", func(c *Config) { c.UDP.Initial, c.UDP.Established = 120*s, 120*s }))
		Expect(h.udpOut(0, inA, rem1).Port()).To(Equal(inA.Port()))
		h.expire(120 * s)
		Expect(h.t.Len()).To(BeZero())
		Expect(h.udpOut(180*s, inB, rem1).Port()).NotTo(Equal(inA.Port()))
		Expect(h.udpOut(241*s, ap("10.0.0.4:40000"), rem1).Port()).To(Equal(inA.Port()))
	})

	DescribeTable("RFC 6888 REQ-4: per-subscriber port limit",
		func(full FullAction, icmp bool) {
			h := newHarness(cfgWith("rfc-compliant", func(c *Config) { c.Ports.PerSubscriber = 3; c.WhenFull = full }))
			for i := range 3 {
				Expect(h.udpOut(0, ap("10.0.0.2:"+itoa(2000+i)), rem1).IsValid()).To(BeTrue())
			}
			b := udpPkt(ap("10.0.0.2:3000"), rem1, nil)
			v := h.out(0, b)
			Expect(v.Drop).To(Equal(DropQuota))
			Expect(h.t.Stats().QuotaFailures).To(BeEquivalentTo(1))
			Expect(v.Generated).To(HaveLen(b2i(icmp)))
			if icmp {
				ic := header.ICMPv4(header.IPv4(v.Generated[0].Data).Payload())
				Expect(ic.Type()).To(Equal(header.ICMPv4DstUnreachable))
				Expect(ic.Code()).To(BeEquivalentTo(13))
				Expect(checksumsOK(v.Generated[0].Data)).To(Succeed())
			}
			// Another subscriber is unaffected.
			Expect(h.udpOut(0, inB, rem1).IsValid()).To(BeTrue())
		},
		Entry("silent drop", FullDrop, false),
		Entry("RFC 6888 REQ-11 / RFC 5508 REQ-8: ICMP 3/13 to the inside", FullICMP, true),
	)

	It("PBA: a subscriber's ports stay inside its blocks; blocks are per subscriber", func() {
		h := newHarness(cfgWith("cgnat-typical", func(c *Config) {
			c.PublicAddrs = c.PublicAddrs[:1]
			c.Ports.BlockSize, c.Ports.BlocksPerSubscriber = 4, 2
		}))
		var ports []uint16
		for i := range 8 {
			p := h.udpOut(0, ap("10.0.0.2:"+itoa(2000+i)), rem1)
			Expect(p.IsValid()).To(BeTrue())
			ports = append(ports, p.Port())
		}
		for _, p := range ports {
			Expect(p >= 1024 && p < 1032).To(BeTrue(), "port %d outside the first two blocks", p)
		}
		Expect(h.out(0, udpPkt(ap("10.0.0.2:3000"), rem1, nil)).Drop).To(Equal(DropQuota))
		p := h.udpOut(0, inB, rem1).Port()
		Expect(p >= 1032 && p < 1036).To(BeTrue())
	})

	It("PBA: an idle block returns to the pool for another subscriber", func() {
		h := newHarness(cfgWith("cgnat-typical", func(c *Config) {
			c.PublicAddrs = c.PublicAddrs[:1]
			c.Ports.Min, c.Ports.Max = 1024, 1031
			c.Ports.BlockSize, c.Ports.BlocksPerSubscriber = 4, 1
			c.Ports.HoldDown = 0
			c.Ports.BlockIdle = 60 * s
		}))
		Expect(h.udpOut(0, inA, rem1).IsValid()).To(BeTrue())
		Expect(h.udpOut(0, inB, rem1).IsValid()).To(BeTrue())
		third := ap("10.0.0.4:1")
		Expect(h.udpOut(0, third, rem1).IsValid()).To(BeFalse())
		h.expire(15 * s)                                            // udp-initial 15 s
		Expect(h.udpOut(30*s, third, rem1).IsValid()).To(BeFalse()) // block still within its idle lifetime
		Expect(h.udpOut(80*s, third, rem1).IsValid()).To(BeTrue())
	})

	It("PBA: a block emptied again and again keeps its pending records bounded", func() {
		h := newHarness(cfgWith("cgnat-typical", nil))
		for i := range 5000 {
			at := time.Duration(i) * 20 * s
			Expect(h.udpOut(at, inA, rem1).IsValid()).To(BeTrue())
			h.expire(at + 15*s) // udp-initial 15 s: the block empties
		}
		Expect(len(h.t.pending)).To(BeNumerically("<=", 1024))
	})
})

var _ = Describe("Table capacity", func() {
	DescribeTable("a new flow when the table is full",
		func(a FullAction, drop DropReason, generated int, evicted uint64) {
			h := newHarness(cfgWith("linux-conntrack", func(c *Config) { c.MaxMappings = 2; c.WhenFull = a }))
			h.udpOut(0, inA, rem1)
			h.udpOut(s, inB, rem1)
			v := h.out(2*s, udpPkt(ap("10.0.0.4:1"), rem1, nil))
			Expect(v.Drop).To(Equal(drop))
			Expect(v.Generated).To(HaveLen(generated))
			Expect(h.t.Stats().Evicted).To(Equal(evicted))
			Expect(h.t.Len()).To(Equal(2))
		},
		Entry("drop", FullDrop, DropTableFull, 0, uint64(0)),
		Entry("ICMP 3/13", FullICMP, DropTableFull, 1, uint64(0)),
		Entry("evict the mapping closest to expiry", FullEvict, DropNone, 0, uint64(1)),
	)
})

var _ = Describe("Runtime events", func() {
	It("Flush removes every mapping and reports it", func() {
		h := newHarness(cfgWith("cgnat-typical", nil))
		pub := h.udpOut(0, inA, rem1)
		h.udpOut(0, inB, rem1)
		h.t.Flush(t0.Add(s), false)
		Expect(h.t.checkInvariants()).To(Succeed())
		Expect(h.t.Len()).To(BeZero())
		Expect(h.t.Stats().Flushed).To(BeEquivalentTo(2))
		Expect(h.udpIn(2*s, rem1, pub).IsValid()).To(BeFalse())
		_, ok := h.t.NextDeadline()
		Expect(ok).To(BeFalse())
	})

	It("Flush can keep PBA blocks (stateful CGN failover)", func() {
		h := newHarness(cfgWith("cgnat-typical", nil))
		pub := h.udpOut(0, inA, rem1)
		h.t.Flush(t0.Add(s), true)
		Expect(h.t.checkInvariants()).To(Succeed())
		p := h.udpOut(2*s, inA, rem1)
		Expect(p.Addr()).To(Equal(pub.Addr()))
		Expect(p.Port()/128 == pub.Port()/128 || (int(p.Port())-1024)/128 == (int(pub.Port())-1024)/128).To(BeTrue())
	})

	It("SetPublicAddress flushes and translates to the new address", func() {
		h := newHarness(cfgWith("linux-conntrack", nil))
		h.udpOut(0, inA, rem1)
		Expect(h.t.SetPublicAddress(t0.Add(s), netip.MustParseAddr("203.0.113.99"))).To(Succeed())
		Expect(h.events[len(h.events)-1].Reason).To(Equal("address_change"))
		Expect(h.udpOut(2*s, inA, rem1).Addr()).To(Equal(netip.MustParseAddr("203.0.113.99")))
		Expect(h.t.SetPublicAddress(t0.Add(s))).To(MatchError(ContainSubstring("PublicAddrs")))
	})
})

var _ = Describe("Lifecycle events", func() {
	It("reports creation and expiry with endpoints, layer and refresh count", func() {
		h := newHarness(cfgWith("linux-conntrack", nil))
		pub := h.udpOut(0, inA, rem1)
		h.udpOut(s, inA, rem1)
		h.expire(100 * s)
		Expect(h.events).To(HaveLen(2))
		c, e := h.events[0], h.events[1]
		Expect(c.Kind).To(Equal(MappingCreated))
		Expect(c.Reason).To(Equal("outbound"))
		Expect(c.Layer).To(Equal("linux-conntrack"))
		Expect(c.Inside).To(Equal(inA))
		Expect(c.Outside).To(Equal(pub))
		Expect(c.Remote).To(Equal(rem1))
		Expect(c.Protocol).To(Equal(ProtoUDP))
		Expect(e.Kind).To(Equal(MappingExpired))
		Expect(e.Time).To(Equal(t0.Add(31 * s)))
		Expect(e.Reason).To(Equal("udp_initial"))
		Expect(e.Refreshes).To(BeEquivalentTo(1))
		st := h.t.Stats()
		Expect(st.Created).To(BeEquivalentTo(1))
		Expect(st.Expired).To(BeEquivalentTo(1))
		Expect(st.Active).To(BeZero())
	})
})

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func keys[K comparable, V any](m map[K]V) []K {
	var out []K
	for k := range m {
		out = append(out, k)
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }
