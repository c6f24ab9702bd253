package push

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/natsim/natsim/sim"
	"github.com/natsim/natsim/sim/strategy"
)

// This file holds the in-memory test bed: connected pairs of sim.Conn with
// a fixed one-way delay, driven by the engine's Scheduler on virtual time
// (no gVisor), so protocol tests can assert exact instants and cut paths.

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// pipeEnd is one side of an in-memory connection.
type pipeEnd struct {
	sched  *sim.Scheduler
	h      sim.ConnHandler
	peer   *pipeEnd
	delay  time.Duration
	closed bool
	// blackhole drops what this end writes, as a NAT that forgot the
	// mapping drops silently (facts §6.1).
	blackhole bool
	local     netip.AddrPort
	writes    int
	aborted   bool
}

func (p *pipeEnd) Write(b []byte) (int, error) {
	if p.closed {
		return 0, sim.ErrClosedLocally
	}
	p.writes++
	if p.blackhole {
		return len(b), nil
	}
	data := bytes.Clone(b)
	peer := p.peer
	p.sched.AfterFunc(p.delay, func() {
		if !peer.closed {
			peer.h.OnData(peer, data)
		}
	})
	return len(b), nil
}

func (p *pipeEnd) end(peerErr error) {
	if p.closed {
		return
	}
	p.closed = true
	p.sched.AfterFunc(0, func() { p.h.OnClosed(p, sim.ErrClosedLocally) })
	if p.blackhole {
		return
	}
	peer := p.peer
	p.sched.AfterFunc(p.delay, func() {
		if !peer.closed {
			peer.closed = true
			peer.h.OnClosed(peer, peerErr)
		}
	})
}

func (p *pipeEnd) Close() error { p.end(sim.ErrPeerClosed); return nil }
func (p *pipeEnd) Abort()       { p.aborted = true; p.end(sim.ErrReset) }

func (p *pipeEnd) LocalAddr() netip.AddrPort  { return p.local }
func (p *pipeEnd) RemoteAddr() netip.AddrPort { return p.peer.local }

// bed is a scheduler, a server and a way to dial it.
type bed struct {
	t      testing.TB
	sched  *sim.Scheduler
	srv    *Server
	delay  time.Duration
	ports  uint16
	events []ServerEvent
	// dialed are the client ends of every connection, in order.
	dialed []*pipeEnd
}

func newBed(t testing.TB, cfg ServerConfig, delay time.Duration) *bed {
	t.Helper()
	b := &bed{t: t, sched: sim.NewScheduler(epoch), delay: delay, ports: 40000}
	cfg.Observer = ServerObserverFunc(func(ev ServerEvent) { b.events = append(b.events, ev) })
	srv, err := NewServer(b.sched, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.srv = srv
	return b
}

// dial connects h to the server: the server end connects after one delay
// and the client end after two (the TCP handshake's round trip).
func (b *bed) dial(opts DialOptions, h sim.ConnHandler) (sim.Conn, error) {
	b.ports++
	cli := &pipeEnd{sched: b.sched, h: h, delay: b.delay, local: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), b.ports)}
	srv := &pipeEnd{sched: b.sched, h: b.srv.Accept(), delay: b.delay, local: netip.MustParseAddrPort("203.0.113.10:1883")}
	cli.peer, srv.peer = srv, cli
	b.dialed = append(b.dialed, cli)
	b.sched.AfterFunc(b.delay, func() { srv.h.OnConnected(srv) })
	b.sched.AfterFunc(2*b.delay, func() {
		if !cli.closed {
			cli.h.OnConnected(cli)
		}
	})
	return cli, nil
}

func (b *bed) at(d time.Duration) time.Time { return epoch.Add(d) }

func (b *bed) runTo(d time.Duration) { b.sched.RunUntil(epoch.Add(d)) }

// eventsOf returns the server events of kind k.
func (b *bed) eventsOf(k ServerEventKind) []ServerEvent { return serverEventsOf(b.events, k) }

// serverEventsOf returns the events of kind k.
func serverEventsOf(evs []ServerEvent, k ServerEventKind) []ServerEvent {
	var out []ServerEvent
	for _, ev := range evs {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

// raw is a scripted MQTT client: it records decoded packets with their
// arrival time and sends what the test tells it to.
type raw struct {
	b        *bed
	conn     sim.Conn
	r        *Reader
	got      []packets.Packet
	gotAt    []time.Time
	closed   error
	isClosed bool
	onConn   func(r *raw)
}

func (r *raw) OnConnected(c sim.Conn) {
	r.conn = c
	if r.onConn != nil {
		r.onConn(r)
	}
}

func (r *raw) OnData(c sim.Conn, p []byte) {
	r.r.Feed(p)
	for {
		h, body, ok, err := r.r.Next()
		if err != nil {
			r.b.t.Errorf("raw client: %v", err)
			return
		}
		if !ok {
			return
		}
		pk, err := Decode(h, bytes.Clone(body))
		if err != nil {
			r.b.t.Errorf("raw client: %v", err)
			return
		}
		pk.TopicName = string([]byte(pk.TopicName))
		r.got = append(r.got, pk)
		r.gotAt = append(r.gotAt, r.b.sched.Now())
	}
}

func (r *raw) OnWritable(sim.Conn) {}
func (r *raw) OnClosed(c sim.Conn, err error) {
	r.closed, r.isClosed = err, true
}

func (r *raw) send(t byte, pk packets.Packet) {
	var buf bytes.Buffer
	if err := encode(&buf, t, &pk); err != nil {
		r.b.t.Fatal(err)
	}
	r.conn.Write(buf.Bytes())
}

func (r *raw) connect(id string, keepAlive uint16, clean bool) {
	var pk packets.Packet
	pk.Connect.ProtocolName = []byte("MQTT")
	pk.Connect.ClientIdentifier = id
	pk.Connect.Keepalive = keepAlive
	pk.Connect.Clean = clean
	r.send(packets.Connect, pk)
}

func (r *raw) subscribe(filter string) {
	r.send(packets.Subscribe, packets.Packet{PacketID: 1, Filters: packets.Subscriptions{{Filter: filter, Qos: 1}}})
}

func (r *raw) puback(id uint16) { r.conn.Write(appendPuback(nil, id)) }

// dialRaw opens a raw client that sends CONNECT (and SUBSCRIBE when filter
// is set) as soon as it is connected.
func (b *bed) dialRaw(id string, keepAlive uint16, filter string) *raw {
	r := &raw{b: b, r: NewReader(0)}
	r.onConn = func(r *raw) {
		r.connect(id, keepAlive, false)
		if filter != "" {
			r.subscribe(filter)
		}
	}
	if _, err := b.dial(DialOptions{}, r); err != nil {
		b.t.Fatal(err)
	}
	return r
}

func (r *raw) kinds() []byte {
	var ks []byte
	for _, p := range r.got {
		ks = append(ks, p.FixedHeader.Type)
	}
	return ks
}

func (r *raw) publishes() []packets.Packet {
	var out []packets.Packet
	for _, p := range r.got {
		if p.FixedHeader.Type == packets.Publish {
			out = append(out, p)
		}
	}
	return out
}

// fixedStrategy is a strategy.Strategy with a fixed alarm window and ack
// timeout that records what the client reports.
type fixedStrategy struct {
	alarm      strategy.Alarm
	ack        time.Duration
	tcp        *strategy.TCPKeepAlive
	none       bool
	succeeded  []time.Duration
	failed     []time.Duration
	failedAt   []time.Time
	connected  int
	disconnect int
}

func (f *fixedStrategy) Name() string                          { return "fixed" }
func (f *fixedStrategy) Connected(time.Time, strategy.Network) { f.connected++ }
func (f *fixedStrategy) Disconnected(time.Time)                { f.disconnect++ }
func (f *fixedStrategy) AckTimeout() time.Duration             { return f.ack }
func (f *fixedStrategy) Succeeded(now time.Time, d time.Duration) {
	f.succeeded = append(f.succeeded, d)
}
func (f *fixedStrategy) Failed(now time.Time, d time.Duration) {
	f.failed = append(f.failed, d)
	f.failedAt = append(f.failedAt, now)
}
func (f *fixedStrategy) Interval() time.Duration { return f.alarm.Latest }
func (f *fixedStrategy) Next(time.Time) (strategy.Alarm, bool) {
	return f.alarm, !f.none
}
func (f *fixedStrategy) TCP() (strategy.TCPKeepAlive, bool) {
	if f.tcp == nil {
		return strategy.TCPKeepAlive{}, false
	}
	return *f.tcp, true
}

func exact(d time.Duration) strategy.Alarm { return strategy.Alarm{Earliest: d, Latest: d} }

// clientLog records client events.
type clientLog struct{ evs []ClientEvent }

func (l *clientLog) ClientEvent(ev ClientEvent) { l.evs = append(l.evs, ev) }

func (l *clientLog) of(k ClientEventKind) []ClientEvent {
	var out []ClientEvent
	for _, ev := range l.evs {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

var errTest = errors.New("test")
