package kerneltest

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

func TestParseFlow(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
		want Flow
	}{
		{
			line: "udp      17 28 src=192.168.1.2 dst=203.0.113.2 sport=50101 dport=4433 src=203.0.113.2 dst=203.0.113.1 sport=4433 dport=50101 [ASSURED] mark=0 use=1",
			ok:   true,
			want: Flow{Proto: "udp", Timeout: 28 * time.Second,
				OrigSrc: netip.MustParseAddrPort("192.168.1.2:50101"), OrigDst: netip.MustParseAddrPort("203.0.113.2:4433"),
				ReplySrc: netip.MustParseAddrPort("203.0.113.2:4433"), ReplyDst: netip.MustParseAddrPort("203.0.113.1:50101"), Assured: true},
		},
		{
			// An event line after its [NEW] tag, unreplied.
			line: "udp      17 10 src=203.0.113.2 dst=203.0.113.1 sport=4433 dport=50103 [UNREPLIED] src=203.0.113.1 dst=203.0.113.2 sport=50103 dport=4433",
			ok:   true,
			want: Flow{Proto: "udp", Timeout: 10 * time.Second,
				OrigSrc: netip.MustParseAddrPort("203.0.113.2:4433"), OrigDst: netip.MustParseAddrPort("203.0.113.1:50103"),
				ReplySrc: netip.MustParseAddrPort("203.0.113.1:50103"), ReplyDst: netip.MustParseAddrPort("203.0.113.2:4433"), Unreplied: true},
		},
		{
			// DESTROY events carry no timeout.
			line: "udp      17 src=192.168.1.2 dst=203.0.113.2 sport=50101 dport=4433 src=203.0.113.2 dst=203.0.113.1 sport=4433 dport=50101 [ASSURED]",
			ok:   true,
			want: Flow{Proto: "udp",
				OrigSrc: netip.MustParseAddrPort("192.168.1.2:50101"), OrigDst: netip.MustParseAddrPort("203.0.113.2:4433"),
				ReplySrc: netip.MustParseAddrPort("203.0.113.2:4433"), ReplyDst: netip.MustParseAddrPort("203.0.113.1:50101"), Assured: true},
		},
		{line: "conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.", ok: false},
		{line: "udp 17 28 src=192.168.1.2 dst=203.0.113.2 sport=99999 dport=1", ok: false},
		{line: "", ok: false},
	} {
		got, ok := ParseFlow(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseFlow(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseFlow(f *testing.F) {
	f.Add("udp      17 28 src=192.168.1.2 dst=203.0.113.2 sport=50101 dport=4433 src=203.0.113.2 dst=203.0.113.1 sport=4433 dport=50101 [ASSURED] mark=0 use=1")
	f.Add("tcp 6 3 ESTABLISHED src=1.2.3.4 dst=5.6.7.8 sport=1 dport=2 src=5.6.7.8 dst=1.2.3.4 sport=2 dport=1")
	f.Fuzz(func(t *testing.T, line string) {
		fl, ok := ParseFlow(line)
		if ok && (!fl.OrigSrc.IsValid() || !fl.ReplyDst.IsValid()) {
			t.Errorf("ParseFlow(%q) accepted a flow without both tuples: %+v", line, fl)
		}
		_ = fl.String()
	})
}

func TestOptionsTag(t *testing.T) {
	for tag, ok := range map[string]bool{"": true, "quic": true, "q1": true, "a-b": false, "toolongtag": false, "x y": false} {
		if err := (Options{Tag: tag}).validate(); (err == nil) != ok {
			t.Errorf("Options{Tag: %q}.validate() = %v, want ok=%v", tag, err, ok)
		}
	}
}

func TestWritePcapng(t *testing.T) {
	pkt := BuildUDP(netip.MustParseAddrPort("192.168.1.2:50100"), netip.MustParseAddrPort("203.0.113.2:4430"), []byte("quic"), 1)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if err := WritePcapng(&buf, []Captured{{Side: Inside, At: at, Pkt: pkt, FromHost: true}, {Side: Outside, At: at.Add(time.Millisecond), Pkt: pkt}}); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var ifaces []int
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if !bytes.Equal(data, pkt) {
			t.Errorf("packet %d differs", len(ifaces))
		}
		ifaces = append(ifaces, ci.InterfaceIndex)
	}
	if len(ifaces) != 2 || ifaces[0] != 0 || ifaces[1] != 1 {
		t.Errorf("read packets on interfaces %v, want [0 1]", ifaces)
	}
}
