package nat

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// fuzzTable returns a small table with a few live mappings so that fuzzed
// inbound packets can hit real sessions, bindings and filters.
func fuzzTable(tb testing.TB, preset string) *Table {
	cfg := Preset(preset)
	cfg.MaxMappings = 64
	cfg.WhenFull = FullEvict
	if cfg.Ports.BlockSize > 0 {
		cfg.Ports.BlockSize, cfg.Ports.BlocksPerSubscriber = 8, 2
	}
	t, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	for _, b := range seedPackets() {
		t.Process(t0, Outbound, b)
	}
	if err := t.checkInvariants(); err != nil {
		tb.Fatal(err)
	}
	return t
}

// seedPackets are valid outbound packets of every kind the table handles.
func seedPackets() [][]byte {
	pub := netip.MustParseAddr("203.0.113.1")
	return [][]byte{
		tcpPkt(inA, rem1, header.TCPFlagSyn, 1000, 0, nil),
		tcpPkt(inB, rem1, header.TCPFlagAck|header.TCPFlagPsh, 1, 2, []byte("data")),
		udpPkt(inA, rem2, []byte("u")),
		udpPkt(ap("10.0.0.5:53"), ap("192.0.2.53:53"), []byte("dns")),
		echoPkt(inA.Addr(), rem1.Addr(), icmpEcho, 9, 1),
		udpPkt(inA, netip.AddrPortFrom(pub, 40000), []byte("hairpin")),
		icmpErr(inA.Addr(), rem1.Addr(), icmpDestUnreach, icmpCodePortUnreach, udpPkt(rem1, inA, []byte("q"))),
	}
}

// FuzzProcess feeds arbitrary packets, in both directions and at
// advancing times, to tables with different presets. The table must
// never panic and its indexes must stay consistent after every packet.
// The input is a sequence of records: 1 byte flags (direction, preset),
// 2 bytes time step in 100 ms units, 2 bytes length, then the packet.
func FuzzProcess(f *testing.F) {
	for _, b := range seedPackets() {
		for _, flags := range []byte{0, 1, 2, 3, 4, 5} {
			f.Add(record(flags, 10, b))
		}
	}
	// A conversation: outbound UDP, inbound reply to the preserved port.
	f.Add(append(record(0, 0, udpPkt(inA, rem1, nil)), record(1, 5, udpPkt(rem1, ap("203.0.113.1:40000"), nil))...))
	f.Fuzz(runFuzzProcess)
}

var fuzzPresets = []string{"linux-conntrack", "cgnat-pba-tight", "rfc-minimum", "carrier-aggressive-rst"}

func runFuzzProcess(t *testing.T, data []byte) {
	// A hang is a bug too: the fuzzer reports a crash, with the input.
	watchdog := time.AfterFunc(5*time.Second, func() {
		buf := make([]byte, 1<<20)
		panic("FuzzProcess input ran over 5 s:\n" + string(buf[:runtime.Stack(buf, true)]))
	})
	defer watchdog.Stop()
	{
		presets := fuzzPresets
		if len(data) == 0 {
			return
		}
		tb := fuzzTable(t, presets[int(data[0]>>1)%len(presets)])
		now := t0
		for len(data) >= 5 {
			flags := data[0]
			now = now.Add(time.Duration(binary.BigEndian.Uint16(data[1:3])) * 100 * time.Millisecond)
			n := min(int(binary.BigEndian.Uint16(data[3:5])), len(data)-5)
			pkt := data[5 : 5+n]
			data = data[5+n:]
			dir := Outbound
			if flags&1 != 0 {
				dir = Inbound
			}
			runUntil(tb, now)
			// A hairpinned packet keeps a bad transport checksum it came
			// with (the table does not verify TCP/UDP checksums), so only
			// packets generated from valid input must be valid.
			valid := len(pkt) >= header.IPv4MinimumSize && header.IPv4(pkt).IsValid(len(pkt)) && checksumsOK(pkt) == nil
			v := tb.Process(now, dir, pkt)
			if v.Forward && v.Drop != DropNone {
				t.Fatalf("forwarded with drop reason %v", v.Drop)
			}
			for _, g := range v.Generated {
				if err := checksumsOK(g.Data); err != nil && valid {
					t.Fatalf("generated packet: %v", err)
				}
			}
			if err := tb.checkInvariants(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func record(flags byte, step uint16, pkt []byte) []byte {
	r := []byte{flags, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(r[1:], step)
	binary.BigEndian.PutUint16(r[3:], uint16(len(pkt)))
	return append(r, pkt...)
}

// FuzzChain does the same through a NAT444 chain.
func FuzzChain(f *testing.F) {
	for _, b := range seedPackets() {
		f.Add(false, uint16(1), b)
		f.Add(true, uint16(1), b)
	}
	f.Fuzz(func(t *testing.T, inbound bool, step uint16, pkt []byte) {
		cfgs, err := ChainPreset("nat444-typical")
		if err != nil {
			t.Fatal(err)
		}
		c, tables, err := NewChainFromConfigs(cfgs...)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range seedPackets() {
			c.Process(t0, Outbound, b)
		}
		now := t0.Add(time.Duration(step) * time.Second)
		runUntil(c, now)
		dir := Outbound
		if inbound {
			dir = Inbound
		}
		c.Process(now, dir, pkt)
		for _, tb := range tables {
			if err := tb.checkInvariants(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
