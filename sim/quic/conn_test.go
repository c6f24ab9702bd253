package quic

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/sim"
)

var (
	serverAP  = netip.MustParseAddrPort("192.0.2.10:443")
	natPublic = netip.MustParseAddr("198.51.100.1")
)

// bed is a phone behind a Linux-like NAT (UDP timers set by the test)
// and a QUIC server, with 20 ms one-way access and core links.
type bed struct {
	t      testing.TB
	w      *sim.World
	dev    *sim.Device
	host   *sim.Host
	table  *nat.Table
	ln     *Listener
	dialer *Dialer
	start  time.Time
	events []Event
	srvCfg Config
	srv    *app
}

// app is a sim.ConnHandler that records what happens and echoes "ping"
// lines.
type app struct {
	b         *bed
	name      string
	conns     []sim.Conn
	connected []time.Time
	data      []byte
	dataAt    []time.Time
	closed    []error
	closedAt  []time.Time
	pings     int
}

func (a *app) OnConnected(c sim.Conn) {
	a.conns = append(a.conns, c)
	a.connected = append(a.connected, a.b.w.Now())
}
func (a *app) OnData(c sim.Conn, p []byte) {
	a.data = append(a.data, p...)
	a.dataAt = append(a.dataAt, a.b.w.Now())
}
func (a *app) OnWritable(sim.Conn) {}
func (a *app) OnClosed(c sim.Conn, err error) {
	a.closed = append(a.closed, err)
	a.closedAt = append(a.closedAt, a.b.w.Now())
}
func (a *app) OnPing(sim.Conn) { a.pings++ }

func newBed(t testing.TB, udpInitial, udpStream time.Duration, cli, srv Config) *bed {
	return newBedPorts(t, udpInitial, udpStream, nat.PortPreserve, cli, srv)
}

func newBedPorts(t testing.TB, udpInitial, udpStream time.Duration, ports nat.PortAssignment, cli, srv Config) *bed {
	t.Helper()
	b := &bed{t: t, w: sim.NewWorld(sim.Config{Seed: 7})}
	t.Cleanup(b.w.Close)
	var err error
	b.host, err = b.w.AddHost(sim.HostConfig{Name: "server", Addr: serverAP.Addr(), Link: sim.Symmetric(sim.LinkDir{Latency: 20 * time.Millisecond})})
	if err != nil {
		t.Fatal(err)
	}
	cfg := nat.Preset("linux-conntrack")
	cfg.PublicAddrs = []netip.Addr{natPublic}
	cfg.UDP.Initial, cfg.UDP.Established = udpInitial, udpStream
	cfg.Ports.Assignment = ports
	b.table, err = nat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.w.AddNetwork(sim.NetworkConfig{Name: "carrier", Prefix: netip.MustParsePrefix("100.64.0.0/10"),
		Access: sim.Symmetric(sim.LinkDir{Latency: 20 * time.Millisecond}), Shared: b.table, SharedOutside: cfg.PublicAddrs})
	if err != nil {
		t.Fatal(err)
	}
	if b.dev, err = b.w.AddDevice(sim.DeviceConfig{Name: "phone", Network: n}); err != nil {
		t.Fatal(err)
	}
	obs := ObserverFunc(func(ev Event) { b.events = append(b.events, ev) })
	srv.Rand, srv.Observer = rand.New(rand.NewPCG(1, 2)), obs
	cli.Rand, cli.Observer = rand.New(rand.NewPCG(3, 4)), obs
	b.srvCfg = srv
	b.srv = &app{b: b, name: "server"}
	if b.ln, err = Listen(b.w.Clock(), b.host.ListenUDP, serverAP.Port(), srv, func(sim.Conn) sim.ConnHandler { return b.srv }); err != nil {
		t.Fatal(err)
	}
	if b.dialer, err = NewDialer(b.w.Clock(), b.dev.ListenUDP, cli); err != nil {
		t.Fatal(err)
	}
	b.start = b.w.Now()
	return b
}

func (b *bed) at(d time.Duration, f func()) { b.w.Scheduler().At(b.start.Add(d), f) }
func (b *bed) runTo(d time.Duration)        { b.w.Scheduler().RunUntil(b.start.Add(d)) }
func (b *bed) since(t time.Time) time.Duration {
	return t.Sub(b.start)
}

func (b *bed) dial(h sim.ConnHandler) *Conn {
	b.t.Helper()
	c, err := b.dialer.Dial(serverAP, h)
	if err != nil {
		b.t.Fatal(err)
	}
	return c
}

func (b *bed) count(k EventKind, server bool) int {
	n := 0
	for _, ev := range b.events {
		if ev.Kind == k && ev.Server == server {
			n++
		}
	}
	return n
}

func TestHandshakeOneRTTThenZeroRTT(t *testing.T) {
	b := newBed(t, 30*time.Second, 120*time.Second, Config{ZeroRTT: true}, Config{})
	cl := &app{b: b, name: "client"}
	c := b.dial(cl)
	b.runTo(2 * time.Second)
	if len(cl.connected) != 1 || len(b.srv.connected) != 1 {
		t.Fatalf("connected: client %d server %d", len(cl.connected), len(b.srv.connected))
	}
	// 80 ms RTT; the server's ~4 KB flight exceeds three times the
	// client's 1200-byte Initial, so it waits for the client's
	// acknowledgement: two round trips to the client's Finished.
	if got := b.since(cl.connected[0]); got < 80*time.Millisecond || got > 200*time.Millisecond {
		t.Errorf("client connected after %v", got)
	}
	st := c.Stats()
	if st.ZeroRTT || st.IdleTimeout != 30*time.Second {
		t.Errorf("stats %+v", st)
	}
	if !b.dialer.HasTicket() {
		t.Fatal("no session ticket after the first handshake")
	}
	if _, err := cl.conns[0].Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	b.runTo(3 * time.Second)
	if string(b.srv.data) != "hello" {
		t.Fatalf("server got %q", b.srv.data)
	}
	c.Close()
	b.runTo(4 * time.Second)
	if len(b.srv.closed) != 1 || !errors.Is(b.srv.closed[0], sim.ErrPeerClosed) {
		t.Fatalf("server closed: %v", b.srv.closed)
	}
	// Reconnect: 0-RTT, the data goes with the first flight.
	cl2 := &app{b: b, name: "client2"}
	c2 := b.dial(cl2)
	b.runTo(4*time.Second + time.Millisecond)
	if len(cl2.conns) != 1 {
		t.Fatal("0-RTT connection not reported at once")
	}
	cl2.conns[0].Write([]byte("early"))
	b.runTo(6 * time.Second)
	if string(b.srv.data) != "helloearly" {
		t.Fatalf("server got %q", b.srv.data)
	}
	if got := b.since(b.srv.dataAt[1]) - 4*time.Second; got > 50*time.Millisecond {
		t.Errorf("0-RTT data arrived %v after the dial, want one-way delay 40 ms", got)
	}
	if !c2.Stats().ZeroRTT {
		t.Error("second connection did not use 0-RTT")
	}
}

func TestIdleTimeoutIsTheMinimumOfBothSides(t *testing.T) {
	b := newBed(t, 30*time.Second, 300*time.Second, Config{IdleTimeout: 60 * time.Second}, Config{IdleTimeout: 20 * time.Second})
	cl := &app{b: b}
	c := b.dial(cl)
	b.runTo(time.Minute)
	if c.Stats().IdleTimeout != 20*time.Second {
		t.Fatalf("effective idle timeout %v", c.Stats().IdleTimeout)
	}
	b.closedOnce(cl, sim.ErrTimedOut, 20*time.Second, 21*time.Second)
	if b.count(EventIdleTimeout, false) != 1 || b.count(EventIdleTimeout, true) != 1 {
		t.Errorf("events %v", b.events)
	}
}

func TestPingsKeepTheConnectionThroughTheNAT(t *testing.T) {
	b := newBed(t, 10*time.Second, 20*time.Second, Config{}, Config{})
	cl := &app{b: b}
	c := b.dial(cl)
	acks := 0
	var ping func()
	ping = func() {
		c.Ping(func() { acks++ })
		b.w.Scheduler().At(b.w.Now().Add(5*time.Second), ping)
	}
	b.at(time.Second, ping)
	b.runTo(2 * time.Minute)
	if len(cl.closed) != 0 {
		t.Fatalf("closed: %v", cl.closed)
	}
	if acks < 22 || b.srv.pings < 22 {
		t.Errorf("acks %d, pings seen by the server %d", acks, b.srv.pings)
	}
	// A push from the server arrives.
	b.srv.conns[0].Write([]byte("push"))
	b.runTo(2*time.Minute + time.Second)
	if string(cl.data) != "push" {
		t.Errorf("client got %q", cl.data)
	}
}

// closedOnce checks that a closed exactly once, with want, between lo and
// hi after the start.
func (b *bed) closedOnce(a *app, want error, lo, hi time.Duration) {
	b.t.Helper()
	if len(a.closed) != 1 || !errors.Is(a.closed[0], want) {
		b.t.Fatalf("closed %v, want once with %v", a.closed, want)
	}
	if at := b.since(a.closedAt[0]); at < lo || at > hi {
		b.t.Errorf("closed at %v, want in [%v, %v]", at, lo, hi)
	}
}
