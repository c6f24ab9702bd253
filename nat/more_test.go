package nat

import (
	"math/rand/v2"
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var _ = Describe("Checksums of translated packets", func() {
	// Every harness call verifies checksums of forwarded packets; this
	// table covers each protocol, both directions, payload parities and
	// a UDP datagram without checksum.
	DescribeTable("outbound then inbound translation keeps every checksum valid",
		func(mk func(src, dst netip.AddrPort) []byte) {
			for _, preset := range []string{"linux-conntrack", "cgnat-typical", "home-router-bad"} {
				h := newHarness(cfgWith(preset, nil))
				o := mk(inA, rem1)
				Expect(h.out(0, o).Forward).To(BeTrue(), preset)
				pub, _ := endpoints(o)
				i := mk(rem1, pub)
				Expect(h.in(s, i).Forward).To(BeTrue(), preset)
				_, dst := endpoints(i)
				Expect(dst.Addr()).To(Equal(inA.Addr()))
			}
		},
		Entry("TCP SYN", func(a, b netip.AddrPort) []byte { return tcpPkt(a, b, header.TCPFlagSyn, 7, 0, nil) }),
		Entry("TCP odd payload", func(a, b netip.AddrPort) []byte {
			return tcpPkt(a, b, header.TCPFlagSyn, 7, 0, []byte("odd"))
		}),
		Entry("UDP even payload", func(a, b netip.AddrPort) []byte { return udpPkt(a, b, []byte("even")) }),
		Entry("UDP odd payload", func(a, b netip.AddrPort) []byte { return udpPkt(a, b, []byte("odd")) }),
		Entry("UDP without checksum", func(a, b netip.AddrPort) []byte {
			p := udpPkt(a, b, []byte("x"))
			header.UDP(header.IPv4(p).Payload()).SetChecksum(0)
			return p
		}),
		Entry("ICMP echo", func(a, b netip.AddrPort) []byte {
			if a == inA {
				return echoPkt(a.Addr(), b.Addr(), icmpEcho, a.Port(), 1)
			}
			return echoPkt(a.Addr(), b.Addr(), icmpEchoReply, b.Port(), 1)
		}),
	)
})

var _ = Describe("ICMP error translation (RFC 5508, RFC 5382 REQ-9)", func() {
	It("translates an inbound error about an outbound datagram, embedded header included", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		o := udpPkt(inA, rem1, []byte("probe"))
		h.out(0, o)
		pub, _ := endpoints(o)
		router := netip.MustParseAddr("198.18.0.1")
		e := icmpErr(router, pub.Addr(), icmpDestUnreach, icmpCodePortUnreach, o)
		Expect(h.in(s, e).Forward).To(BeTrue())
		Expect(checksumsOK(e)).To(Succeed())
		_, dst := endpoints(e)
		Expect(dst.Addr()).To(Equal(inA.Addr()))
		inner := header.IPv4(header.IPv4(e).Payload()[8:])
		Expect(netip.AddrFrom4(inner.SourceAddress().As4())).To(Equal(inA.Addr()))
		u := header.UDP(inner.Payload())
		Expect(u.SourcePort()).To(Equal(inA.Port()))
		// The whole datagram is quoted, so its checksum must still verify.
		Expect(u.IsChecksumValid(inner.SourceAddress(), inner.DestinationAddress(), checksum.Checksum(u.Payload(), 0))).To(BeTrue())
	})

	It("RFC 4787 REQ-12 / RFC 5508 REQ-6: an ICMP error neither refreshes nor deletes the mapping", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		o := udpPkt(inA, rem1, nil)
		h.out(0, o)
		pub, _ := endpoints(o)
		Expect(h.in(290*s, icmpErr(rem1.Addr(), pub.Addr(), icmpDestUnreach, 1, o)).Forward).To(BeTrue())
		Expect(h.t.Len()).To(Equal(1))
		h.expire(300 * s)
		Expect(h.t.Len()).To(BeZero())
	})

	It("translates a truncated quote (RFC 792: header + 8 bytes) of a TCP segment", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		o := tcpPkt(inA, rem1, header.TCPFlagSyn, 1, 0, nil)
		h.out(0, o)
		pub, _ := endpoints(o)
		e := icmpErr(rem1.Addr(), pub.Addr(), icmpTimeExceed, 0, o[:28])
		Expect(h.in(s, e).Forward).To(BeTrue())
		Expect(checksumsOK(e)).To(Succeed())
		inner := header.IPv4(header.IPv4(e).Payload()[8:])
		Expect(header.TCP(inner[header.IPv4MinimumSize:]).SourcePort()).To(Equal(inA.Port()))
	})

	It("translates an outbound error about an inbound datagram", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		pub := h.udpOut(0, inA, rem1)
		in := udpPkt(rem1, pub, []byte("late"))
		h.in(s, in) // now addressed to inA
		e := icmpErr(inA.Addr(), rem1.Addr(), icmpDestUnreach, icmpCodePortUnreach, in)
		Expect(h.out(2*s, e).Forward).To(BeTrue())
		src, _ := endpoints(e)
		Expect(src.Addr()).To(Equal(pub.Addr()))
		inner := header.IPv4(header.IPv4(e).Payload()[8:])
		Expect(netip.AddrFrom4(inner.DestinationAddress().As4())).To(Equal(pub.Addr()))
		Expect(header.UDP(inner.Payload()).DestinationPort()).To(Equal(pub.Port()))
	})

	It("RFC 5508 REQ-3: drops an error with a bad checksum or no mapping", func() {
		h := newHarness(cfgWith("rfc-compliant", nil))
		o := udpPkt(inA, rem1, nil)
		h.out(0, o)
		pub, _ := endpoints(o)
		e := icmpErr(rem1.Addr(), pub.Addr(), icmpDestUnreach, 1, o)
		e[len(e)-1] ^= 0xff
		Expect(h.in(s, e).Drop).To(Equal(DropMalformed))
		other := udpPkt(pub, rem2, nil)
		Expect(h.in(s, icmpErr(rem2.Addr(), pub.Addr(), icmpDestUnreach, 1, other)).Drop).To(Equal(DropNoMapping))
	})
})

var _ = Describe("Linux-specific answers", func() {
	It("keeps a free ICMP echo identifier, as masquerade does", func() {
		h := newHarness(cfgWith("linux-conntrack", nil))
		b := echoPkt(inA.Addr(), rem1.Addr(), icmpEcho, 7, 1)
		h.out(0, b)
		src, _ := endpoints(b)
		Expect(src.Port()).To(BeEquivalentTo(7))
	})

	It("answers a packet its APDF filter rejects through the box's own stack", func() {
		h := newHarness(cfgWith("linux-conntrack", nil))
		pub := openTCP(h, 0, inA, rem1)
		v := h.in(s, tcpPkt(ap("192.0.2.10:444"), pub, header.TCPFlagSyn, 1, 0, nil))
		Expect(v.Drop).To(Equal(DropFiltered))
		Expect(v.Generated).To(HaveLen(1))
	})
})

var _ = Describe("Chains (NAT444)", func() {
	build := func() (*Chain, []*Table, *[]Event) {
		cfgs, err := ChainPreset("nat444-typical")
		Expect(err).NotTo(HaveOccurred())
		c, tables, err := NewChainFromConfigs(cfgs...)
		Expect(err).NotTo(HaveOccurred())
		var ev []Event
		for _, t := range tables {
			t.SetObserver(func(e Event) { ev = append(ev, e) })
		}
		return c, tables, &ev
	}

	It("translates twice outbound and back twice inbound", func() {
		c, tables, _ := build()
		o := udpPkt(inA, rem1, []byte("x"))
		Expect(c.Process(t0, Outbound, o).Forward).To(BeTrue())
		Expect(checksumsOK(o)).To(Succeed())
		pub, _ := endpoints(o)
		Expect(pub.Addr()).To(BeElementOf(tables[1].Config().PublicAddrs))
		i := udpPkt(rem1, pub, []byte("y"))
		Expect(c.Process(t0.Add(s), Inbound, i).Forward).To(BeTrue())
		Expect(checksumsOK(i)).To(Succeed())
		_, dst := endpoints(i)
		Expect(dst).To(Equal(inA))
	})

	It("expires each layer independently; NextDeadline is the minimum over layers", func() {
		c, tables, ev := build()
		o := udpPkt(inA, rem1, []byte("x"))
		c.Process(t0, Outbound, o)
		// The CGN's UDP mapping stays 15 s (udp-initial), the home's 60 s.
		d, ok := c.NextDeadline()
		Expect(ok).To(BeTrue())
		Expect(d).To(Equal(t0.Add(15 * s)))
		runUntil(c, t0.Add(20*s))
		Expect(tables[1].Len()).To(BeZero())
		Expect(tables[0].Len()).To(Equal(1))
		Expect((*ev)[len(*ev)-1].Layer).To(Equal("cgn"))
		runUntil(c, t0.Add(60*s))
		Expect(tables[0].Len()).To(BeZero())
		Expect(tables[0].checkInvariants()).To(Succeed())
		Expect(tables[1].checkInvariants()).To(Succeed())
	})

	It("carries a RST generated by the outer layer through the inner one", func() {
		home := mustTable(cfgWith("home-router-openwrt", func(c *Config) { c.PublicAddrs = []netip.Addr{netip.MustParseAddr("100.64.0.1")} }))
		cgn := mustTable(cfgWith("carrier-aggressive-rst", nil))
		c, err := NewChain(home, cgn)
		Expect(err).NotTo(HaveOccurred())
		syn := tcpPkt(inA, rem1, header.TCPFlagSyn, 1000, 0, nil)
		Expect(c.Process(t0, Outbound, syn).Forward).To(BeTrue())
		pub, _ := endpoints(syn)
		Expect(c.Process(t0, Inbound, tcpPkt(rem1, pub, header.TCPFlagSyn|header.TCPFlagAck, 5000, 1001, nil)).Forward).To(BeTrue())
		Expect(c.Process(t0, Outbound, tcpPkt(inA, rem1, header.TCPFlagAck, 1001, 5001, nil)).Forward).To(BeTrue())
		gen := runUntil(c, t0.Add(300*s))
		Expect(gen).To(HaveLen(2))
		for _, g := range gen {
			Expect(checksumsOK(g.Data)).To(Succeed())
			if g.Dir == Inbound {
				_, dst := endpoints(g.Data)
				Expect(dst).To(Equal(inA)) // translated by the home layer
			}
		}
	})

	It("rejects an empty chain", func() {
		_, err := NewChain()
		Expect(err).To(HaveOccurred())
	})
})

var _ = Describe("Presets", func() {
	It("every single-table preset validates and builds", func() {
		for _, p := range Presets() {
			cfgs, err := ChainPreset(p.Name)
			Expect(err).NotTo(HaveOccurred(), p.Name)
			for _, c := range cfgs {
				Expect(c.Validate()).To(Succeed(), p.Name)
			}
			Expect(p.Sources).NotTo(BeEmpty(), p.Name)
			Expect(p.Description).NotTo(BeEmpty(), p.Name)
		}
	})

	It("includes every preset the scenarios rely on", func() {
		names := map[string]bool{}
		for _, p := range Presets() {
			names[p.Name] = true
		}
		for _, n := range []string{"rfc-compliant", "linux-conntrack", "home-router-openwrt", "home-router-short",
			"home-router-bad", "cgnat-typical", "cgnat-pba-tight", "carrier-30min", "carrier-aggressive",
			"carrier-aggressive-rst", "carrier-lenient", "enterprise-fw", "lb-f5-fastl4", "cloud-aws",
			"cloud-azure", "cloud-gcp", "nat444-typical"} {
			Expect(names).To(HaveKey(n))
		}
	})

	It("can be overridden field by field", func() {
		cfg := Preset("cgnat-typical")
		cfg.TCP.Established = 300 * time.Second
		t, err := New(cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(t.Config().TCP.Established).To(Equal(300 * time.Second))
		Expect(Preset("cgnat-typical").TCP.Established).To(Equal(7440 * time.Second))
	})

	It("reports unknown and chain presets through Validate", func() {
		c := Preset("no-such")
		Expect(c.Validate()).To(MatchError(ContainSubstring(`unknown preset "no-such"`)))
		c = Preset("nat444-typical")
		_, err := New(c)
		Expect(err).To(MatchError(ContainSubstring("ChainPreset")))
	})

	It("Validate names each bad field", func() {
		var c Config
		err := c.Validate()
		Expect(err).To(MatchError(ContainSubstring("PublicAddrs")))
		Expect(err).To(MatchError(ContainSubstring("TCP.Established")))
		Expect(err).To(MatchError(ContainSubstring("UDP.Initial")))
		c = Preset("linux-conntrack")
		c.Ports.Min, c.Ports.Max = 2000, 1000
		c.TCP.Mapping = 9
		err = c.Validate()
		Expect(err).To(MatchError(ContainSubstring("Ports.Min")))
		Expect(err).To(MatchError(ContainSubstring("TCP.Mapping")))
	})
})

var _ = Describe("Mixtures (research notes 3.6)", func() {
	DescribeTable("sampling follows the weights and is reproducible",
		func(name string, label string, want float64) {
			m, err := LookupMixture(name)
			Expect(err).NotTo(HaveOccurred())
			rng := rand.New(rand.NewPCG(7, 7))
			n, hits := 20000, 0
			var first []string
			for i := range n {
				c := m.Sample(rng)
				if i < 10 {
					first = append(first, c.Label)
				}
				if c.Label == label {
					hits++
				}
				Expect(c.Config().Validate()).To(Succeed())
			}
			Expect(float64(hits) / float64(n)).To(BeNumerically("~", want, 0.02))
			rng = rand.New(rand.NewPCG(7, 7))
			for i := range 10 {
				Expect(m.Sample(rng).Label).To(Equal(first[i]))
			}
		},
		Entry("cn-mobile-2014: 40 % at 5 min", "cn-mobile-2014", "tcp-300s", 0.4),
		Entry("cellular-2011: 45 % at 30 min", "cellular-2011", "tcp-1800s", 0.45),
		Entry("home-gw-udp-2010: 35 % at 60 s", "home-gw-udp-2010", "udp-60s", 0.35),
	)

	It("applies the component's timeout", func() {
		m, _ := LookupMixture("cellular-2011")
		Expect(m.Components[2].Config().TCP.Established).To(Equal(600 * time.Second))
		Expect(Mixtures()).To(HaveLen(3))
		_, err := LookupMixture("x")
		Expect(err).To(HaveOccurred())
	})
})

var _ = Describe("Minimum timers", func() {
	It("RFC 4787 REQ-5: UDP mapping does not expire before 2 minutes (rfc-minimum)", func() {
		h := newHarness(cfgWith("rfc-minimum", nil))
		h.udpOut(0, inA, rem1)
		h.expire(120*s - time.Millisecond)
		Expect(h.t.Len()).To(Equal(1))
		h.expire(120 * s)
		Expect(h.t.Len()).To(BeZero())
	})

	It("RFC 5382 REQ-4 (without the 6 s wait): UnsolicitedICMP answers a SYN with ICMP 3/3", func() {
		h := newHarness(cfgWith("rfc-compliant", func(c *Config) { c.Unsolicited = UnsolicitedICMP }))
		v := h.in(0, tcpPkt(rem1, ap("203.0.113.1:7777"), header.TCPFlagSyn, 1, 0, nil))
		Expect(v.Drop).To(Equal(DropNoMapping))
		Expect(v.Generated).To(HaveLen(1))
		ic := header.ICMPv4(header.IPv4(v.Generated[0].Data).Payload())
		Expect(ic.Type()).To(Equal(header.ICMPv4DstUnreachable))
		Expect(ic.Code()).To(Equal(header.ICMPv4PortUnreachable))
		Expect(checksumsOK(v.Generated[0].Data)).To(Succeed())
	})
})

var _ = Describe("Eviction corner cases", func() {
	It("an inbound packet whose binding loses its last session to eviction is dropped cleanly", func() {
		h := newHarness(cfgWith("rfc-compliant", func(c *Config) { c.MaxMappings = 1; c.WhenFull = FullEvict }))
		pub := h.udpOut(0, inA, rem1)
		Expect(h.udpIn(s, rem2, pub).IsValid()).To(BeFalse()) // EIF would admit it, but the evicted session held the binding
		Expect(h.t.Stats().Evicted).To(BeEquivalentTo(1))
		Expect(h.t.Len()).To(BeZero())
	})
})

var _ = Describe("Pickup on a new port", func() {
	It("still reuses a binding another session holds (EIM keeps one public endpoint)", func() {
		h := newHarness(cfgWith("linux-conntrack", func(c *Config) {
			c.TCP.Midstream = MidstreamPickupNewPort
			c.TCP.Established = 600 * s
		}))
		pub := openTCP(h, 0, inA, rem1)
		Expect(openTCP(h, 0, inA, rem2)).To(Equal(pub))
		for at := 100 * s; at < 700*s; at += 100 * s {
			h.out(at, tcpPkt(inA, rem2, header.TCPFlagAck, 1001, 5001, nil)) // keeps the rem2 session alive
		}
		Expect(h.t.Len()).To(Equal(1))
		b := tcpPkt(inA, rem1, header.TCPFlagAck|header.TCPFlagPsh, 1001, 5001, []byte("ka"))
		Expect(h.out(700*s, b).Forward).To(BeTrue())
		src, _ := endpoints(b)
		Expect(src).To(Equal(pub))
	})
})
