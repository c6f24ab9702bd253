package sim

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/natsim/natsim/nat"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

func dialPair(t *testing.T, w *World, d *Device, h *Host, o *TCPOptions) (cli, srv *recorder, srvConn *Conn) {
	t.Helper()
	srv = &recorder{w: w}
	srvConn = new(Conn)
	srv.onConn = func(c Conn) { *srvConn = c }
	if _, err := h.ListenTCP(5223, func(Conn) ConnHandler { return srv }, o); err != nil {
		t.Fatal(err)
	}
	cli = &recorder{w: w}
	if _, err := d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), cli, o); err != nil {
		t.Fatal(err)
	}
	w.Scheduler().RunFor(time.Second)
	if len(cli.connected) != 1 {
		t.Fatal("not connected")
	}
	return cli, srv, srvConn
}

func TestRetransmissionFollowsRTOBackoffInVirtualTime(t *testing.T) {
	w, d, h := oneDevice(t, Config{Seed: 2, DeviceTCP: TCPProfile{MinRTO: ms(200)}},
		Symmetric(LinkDir{Latency: ms(30)}), false)
	cli := &recorder{w: w}
	var conn Conn
	cli.onConn = func(c Conn) { conn = c }
	h.ListenTCP(5223, func(Conn) ConnHandler { return &recorder{w: w} }, nil)
	d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), cli, nil)
	w.Scheduler().RunFor(time.Second)
	var sent []time.Time
	d.SetTap(func(tp Tap) {
		if tp.Up {
			sent = append(sent, tp.At)
		}
	})
	d.Link().SetDown(true)
	start := w.Now()
	conn.Write([]byte("hello"))
	w.Scheduler().RunFor(10 * time.Second)
	if len(sent) < 6 {
		t.Fatalf("only %d transmissions", len(sent))
	}
	// First a tail loss probe: PTO = 2*SRTT + WCDelAckT with one segment
	// in flight = 2*60 ms + 200 ms (RFC 8985 section 7.2).
	if got := sent[1].Sub(sent[0]); got != ms(320) {
		t.Fatalf("tail loss probe after %v, want 320ms (sent at %v from %v)", got, sent, start)
	}
	// Then the RTO: max(MinRTO, SRTT+4*RTTVAR) = 200 ms after a 60 ms
	// sample (RFC 6298 2.2, 2.4), doubling on each timeout (5.5).
	if got := sent[2].Sub(sent[1]); got != ms(200) {
		t.Fatalf("first RTO retransmission after %v, want 200ms (sent at %v)", got, sent)
	}
	for i := 3; i < 6; i++ {
		if g, p := sent[i].Sub(sent[i-1]), sent[i-1].Sub(sent[i-2]); g != 2*p {
			t.Fatalf("gap %d = %v, previous %v: not doubling", i, g, p)
		}
	}
}

// readPcap returns, per interface name, the timestamps and packets.
func readPcap(t *testing.T, b []byte) map[string][]capturedPacket {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]capturedPacket{}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		intf, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			t.Fatal(err)
		}
		out[intf.Name] = append(out[intf.Name], capturedPacket{at: ci.Timestamp, data: data})
	}
	return out
}

type capturedPacket struct {
	at   time.Time
	data []byte
}

func TestKeepAliveProbesAppearInCapture(t *testing.T) {
	w, d, h := oneDevice(t, Config{Seed: 3}, Symmetric(LinkDir{Latency: ms(30)}), false)
	var pc bytes.Buffer
	if err := w.Capture(&pc, CaptureConfig{Devices: []*Device{d}}); err != nil {
		t.Fatal(err)
	}
	o := &TCPOptions{KeepAlive: true, KeepIdle: 10 * time.Second, KeepInterval: 5 * time.Second, KeepCount: 3}
	srv := &recorder{w: w}
	h.ListenTCP(5223, func(Conn) ConnHandler { return srv }, nil)
	cli := &recorder{w: w}
	start := w.Now()
	d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), cli, o)
	w.Scheduler().RunFor(time.Second)
	// The path dies silently after the handshake: probes go unanswered.
	h.Link().SetDown(true)
	w.Scheduler().RunFor(time.Minute)
	if err := w.FlushCapture(); err != nil {
		t.Fatal(err)
	}
	pk := readPcap(t, pc.Bytes())["phone"]
	var probes []time.Duration
	for _, p := range pk {
		ip := header.IPv4(p.data)
		if ip.SourceAddress() != tcpAddr(d.Addr()) {
			continue
		}
		tcp := header.TCP(ip.Payload())
		if len(tcp.Payload()) == 0 && tcp.Flags() == header.TCPFlagAck {
			probes = append(probes, p.at.Sub(start))
		}
	}
	// The handshake's final ACK leaves at 60 ms; the connection is idle
	// from then: probes at +10 s, +15 s, +20 s.
	want := []time.Duration{ms(10060), ms(15060), ms(20060)}
	if len(probes) != 4 || fmt.Sprint(probes[1:]) != fmt.Sprint(want) {
		t.Fatalf("ACKs from the device at %v, want handshake ACK then %v", probes, want)
	}
	if len(cli.closed) != 1 || !errors.Is(cli.closed[0], ErrTimedOut) {
		t.Fatalf("client closed with %v, want ErrTimedOut", cli.closed)
	}
	if got := cli.closedAt[0].Sub(start); got != ms(25060) {
		t.Fatalf("timed out at %v, want 25.06s (idle + count*interval)", got)
	}
}

func TestAddressChangeBreaksConnectionLikeARealHost(t *testing.T) {
	w, d, h := oneDevice(t, Config{Seed: 4}, Symmetric(LinkDir{Latency: ms(30)}), false)
	var drops []Event
	w.Subscribe(func(e Event) {
		if e.Kind == EventDrop {
			drops = append(drops, e)
		}
	})
	var changes []NetworkChange
	d.OnNetworkChange(func(c NetworkChange) { changes = append(changes, c) })
	cli, srv, sc := dialPair(t, w, d, h, nil)
	old := d.Addr()
	if err := d.ChangeAddress(); err != nil {
		t.Fatal(err)
	}
	if d.Addr() == old || len(changes) != 1 || changes[0].Old != old {
		t.Fatalf("address %s -> %s, changes %v", old, d.Addr(), changes)
	}
	if len(cli.closed) != 1 || !errors.Is(cli.closed[0], ErrAddrChanged) {
		t.Fatalf("client closed with %v, want ErrAddrChanged", cli.closed)
	}
	w.Scheduler().RunFor(time.Second)
	if len(srv.closed) != 0 {
		t.Fatalf("server side closed at once (%v): it should stay half-open", srv.closed)
	}
	// The server's next write goes to the old address, which no longer
	// routes anywhere; the server retransmits until its timers give up.
	(*sc).Write([]byte("push"))
	w.Scheduler().RunFor(time.Second)
	if len(drops) == 0 || drops[len(drops)-1].Drop != DropNoRoute {
		t.Fatalf("drops %v, want no_route for the server's push", drops)
	}
	if len(srv.closed) != 0 {
		t.Fatal("server gave up within a second")
	}
}

// worldHash runs a small population with capture and events and hashes
// every packet (virtual time, bytes) and event.
func worldHash(t *testing.T, seed uint64) [32]byte {
	w, _ := pingWorld(t, 20, seed)
	defer w.Close()
	hsh := sha256.New()
	w.Subscribe(func(e Event) { fmt.Fprintln(hsh, e) })
	var pc bytes.Buffer
	w.Capture(&pc, CaptureConfig{})
	for _, d := range w.Devices() {
		d.Link().Configure(Symmetric(LinkDir{Latency: ms(30), Jitter: ms(5), Loss: 0.01}))
	}
	w.Scheduler().RunFor(30 * time.Minute)
	if err := w.FlushCapture(); err != nil {
		t.Fatal(err)
	}
	hsh.Write(pc.Bytes())
	var sum [32]byte
	copy(sum[:], hsh.Sum(nil))
	return sum
}

func TestSameSeedSameRunOtherSeedOtherRun(t *testing.T) {
	a, b, c := worldHash(t, 7), worldHash(t, 7), worldHash(t, 8)
	if a != b {
		t.Fatal("two runs with the same seed differ")
	}
	if a == c {
		t.Fatal("runs with different seeds are identical")
	}
}

// testBox drops inbound datagrams starting with 'x', and at a deadline
// sends the last outbound datagram back to its sender as "expired".
type testBox struct {
	deadline time.Time
	armed    bool
	last     []byte
	expired  []time.Time
}

func (b *testBox) Process(now time.Time, dir nat.Direction, pkt []byte) nat.Verdict {
	ip := header.IPv4(pkt)
	if ip.Protocol() == uint8(header.UDPProtocolNumber) {
		u := header.UDP(ip.Payload())
		if dir == nat.Inbound && len(u.Payload()) > 0 && u.Payload()[0] == 'x' {
			return nat.Verdict{Drop: nat.DropFiltered}
		}
		if dir == nat.Outbound {
			b.last = append(b.last[:0], pkt...)
		}
	}
	return nat.Verdict{Forward: true}
}

func (b *testBox) NextDeadline() (time.Time, bool) { return b.deadline, b.armed }

func (b *testBox) Expire(now time.Time) []nat.Packet {
	if !b.armed || now.Before(b.deadline) {
		return nil
	}
	b.armed = false
	b.expired = append(b.expired, now)
	p := append([]byte(nil), b.last...)
	ip := header.IPv4(p)
	src, dst := ip.SourceAddress(), ip.DestinationAddress()
	ip.SetSourceAddress(dst)
	ip.SetDestinationAddress(src)
	ip.SetChecksum(0)
	ip.SetChecksum(^ip.CalculateChecksum())
	u := header.UDP(ip.Payload())
	sp, dp := u.SourcePort(), u.DestinationPort()
	u.SetSourcePort(dp)
	u.SetDestinationPort(sp)
	u.SetChecksum(0) // no checksum: allowed for UDP over IPv4 (RFC 768)
	return []nat.Packet{{Dir: nat.Inbound, Data: p}}
}

type udpRec struct {
	w    *World
	got  []string
	at   []time.Time
	from []netip.AddrPort
	echo bool
}

func (u *udpRec) OnPacket(s *UDPSocket, from netip.AddrPort, p []byte) {
	u.got = append(u.got, string(p))
	u.at = append(u.at, u.w.Now())
	u.from = append(u.from, from)
	if u.echo {
		s.WriteTo(p, from)
	}
}
func (u *udpRec) OnClosed(*UDPSocket, error) {}

func TestUDPThroughMiddleboxVerdictsAndExpiry(t *testing.T) {
	w := NewWorld(Config{Seed: 5})
	defer w.Close()
	h, _ := w.AddHost(HostConfig{Name: "server", Addr: serverAddr, Link: Symmetric(LinkDir{Latency: ms(10)})})
	box := &testBox{}
	n, err := w.AddNetwork(NetworkConfig{Name: "carrier", Prefix: netip.MustParsePrefix("100.64.0.0/10"),
		Access: Symmetric(LinkDir{Latency: ms(20)}), Shared: box})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := w.AddDevice(DeviceConfig{Name: "phone", Network: n})
	var events []Event
	w.Subscribe(func(e Event) { events = append(events, e) })
	srv := &udpRec{w: w, echo: true}
	if _, err := h.ListenUDP(4500, srv); err != nil {
		t.Fatal(err)
	}
	cli := &udpRec{w: w}
	s, err := d.ListenUDP(0, cli)
	if err != nil {
		t.Fatal(err)
	}
	start := w.Now()
	s.WriteTo([]byte("hello"), netip.AddrPortFrom(serverAddr, 4500))
	s.WriteTo([]byte("xdrop"), netip.AddrPortFrom(serverAddr, 4500))
	box.deadline, box.armed = start.Add(ms(500)), true
	w.Scheduler().RunFor(time.Second)
	if fmt.Sprint(srv.got) != "[hello xdrop]" {
		t.Fatalf("server got %v", srv.got)
	}
	// Echo of "hello" after 2*(20+10) ms; "xdrop" echo is dropped
	// inbound by the box; at 500 ms the box's expiry sends the last
	// outbound datagram back.
	if len(cli.got) != 2 || cli.got[0] != "hello" || cli.at[0].Sub(start) != ms(60) {
		t.Fatalf("client got %v at %v", cli.got, cli.at)
	}
	if len(box.expired) != 1 || box.expired[0].Sub(start) != ms(500) {
		t.Fatalf("expired at %v, want 500ms", box.expired)
	}
	if cli.got[1] != "xdrop" || cli.at[1].Sub(start) != ms(520) {
		t.Fatalf("generated packet %q arrived at %v, want 520ms", cli.got[1], cli.at[1].Sub(start))
	}
	var dropped, generated bool
	for _, e := range events {
		dropped = dropped || (e.Kind == EventDrop && e.Drop == DropMiddlebox && e.NAT == nat.DropFiltered)
		generated = generated || e.Kind == EventGenerated
	}
	if !dropped || !generated {
		t.Fatalf("events %v: want a filtered drop and a generated packet", events)
	}
}

// A datagram still on the access link when the device changes address
// reaches a home router the change has detached: it is dropped with its
// gone address, not processed by a router that no longer exists.
func TestPacketInFlightToDetachedHomeRouterIsDropped(t *testing.T) {
	w := NewWorld(Config{Seed: 5})
	defer w.Close()
	h, _ := w.AddHost(HostConfig{Name: "server", Addr: serverAddr})
	n, err := w.AddNetwork(NetworkConfig{Name: "wifi", Prefix: homePrefix, Access: Symmetric(LinkDir{Latency: ms(20)}),
		Home: func(*Device, netip.Addr) (nat.Middlebox, error) { return PassThrough{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.AddDevice(DeviceConfig{Name: "phone", Network: n})
	if err != nil {
		t.Fatal(err)
	}
	var drops []Event
	w.Subscribe(func(e Event) {
		if e.Kind == EventDrop {
			drops = append(drops, e)
		}
	})
	srv := &udpRec{w: w}
	if _, err := h.ListenUDP(4500, srv); err != nil {
		t.Fatal(err)
	}
	s, err := d.ListenUDP(0, &udpRec{w: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteTo([]byte("hello"), netip.AddrPortFrom(serverAddr, 4500)); err != nil {
		t.Fatal(err)
	}
	w.Scheduler().RunFor(ms(5))
	if err := d.ChangeAddress(); err != nil {
		t.Fatal(err)
	}
	w.Scheduler().RunFor(time.Second)
	if len(srv.got) != 0 {
		t.Fatalf("server got %v through a detached router", srv.got)
	}
	if len(drops) != 1 || drops[0].Drop != DropInterfaceDown || drops[0].Where != "phone/home" {
		t.Fatalf("drops %v, want one interface_down at phone/home", drops)
	}
}
