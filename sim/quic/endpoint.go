package quic

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"

	"github.com/natsim/natsim/sim"
)

// Dialer opens client connections from one device. It remembers whether a
// server has given it a session ticket, so that later connections can
// resume with 0-RTT (Config.ZeroRTT). The ticket stays valid for the run
// (TLS 1.3 allows up to 7 days, RFC 8446 §4.6.1).
type Dialer struct {
	clock  sim.Clock
	listen ListenFunc
	cfg    Config
	ticket bool
}

// NewDialer returns a dialer whose connections use sockets from listen.
func NewDialer(clock sim.Clock, listen ListenFunc, cfg Config) (*Dialer, error) {
	if clock == nil || listen == nil {
		return nil, errors.New("quic: NewDialer: nil clock or listen function")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Dialer{clock: clock, listen: listen, cfg: cfg}, nil
}

// HasTicket reports whether the next connection can resume.
func (d *Dialer) HasTicket() bool { return d.ticket }

// Dial opens a connection to remote on a new UDP socket (ephemeral port)
// and sends the client's first flight at once. h.OnConnected follows when
// the handshake completes, or, resuming with 0-RTT, at once (after Dial
// returns), so the application's first bytes go out as 0-RTT data.
func (d *Dialer) Dial(remote netip.AddrPort, h sim.ConnHandler) (*Conn, error) {
	c := newConn(d.clock, &d.cfg, false)
	c.dialer = d
	c.h = h
	c.peer = remote
	sock, err := d.listen(0, c)
	if err != nil {
		return nil, fmt.Errorf("quic: dial %s: %w", remote, err)
	}
	c.sock = sock
	c.local = sock.LocalAddr()
	c.scid = c.newCID()
	c.dcid = c.newCID() // the client's random first DCID (§7.2)
	c.resumed = d.cfg.ZeroRTT && d.ticket
	size := assumedClientHello
	if c.resumed {
		size = assumedResumeClientHello
		c.appKeys = true // 0-RTT keys
	}
	params := appendParams(nil, transportParams{idleTimeout: d.cfg.IdleTimeout, initialSCID: c.scid})
	c.crypto[levelInitial].write(appendMessage(nil, tlsClientHello, size, params, c.resumed))
	c.hsTimer = d.clock.AfterFunc(d.cfg.HandshakeTimeout, c.onHandshakeTimeout)
	c.flush()
	if c.resumed {
		d.clock.AfterFunc(0, func() {
			if !c.closed && !c.connected {
				c.connected = true
				c.h.OnConnected(c)
			}
		})
	}
	return c, nil
}

func (c *Conn) onHandshakeTimeout() {
	c.hsTimer = nil
	if !c.closed && !c.hsComplete {
		c.finish(fmt.Errorf("quic: handshake with %s: %w", c.peer, sim.ErrTimedOut), false)
	}
}

// ListenerStats are a listener's counters.
type ListenerStats struct {
	// Accepted counts connections whose ClientHello arrived.
	Accepted int
	// StatelessResets counts stateless resets sent for unknown
	// connection IDs.
	StatelessResets int
}

// Listener is a server's QUIC endpoint: one UDP socket, connections found
// by the destination connection ID of each packet.
type Listener struct {
	clock  sim.Clock
	cfg    Config
	sock   *sim.UDPSocket
	accept func(sim.Conn) sim.ConnHandler
	conns  map[string]*Conn
	stats  ListenerStats
	closed bool
}

// Listen opens a listener on port. accept is called for each new
// connection before its OnConnected (push.Server.AcceptConn fits).
func Listen(clock sim.Clock, listen ListenFunc, port uint16, cfg Config, accept func(sim.Conn) sim.ConnHandler) (*Listener, error) {
	if clock == nil || listen == nil || accept == nil {
		return nil, errors.New("quic: Listen: nil clock, listen or accept function")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Listener{clock: clock, cfg: cfg, accept: accept, conns: make(map[string]*Conn)}
	sock, err := listen(port, l)
	if err != nil {
		return nil, fmt.Errorf("quic: listen on %d: %w", port, err)
	}
	l.sock = sock
	return l, nil
}

// Addr returns the listener's address.
func (l *Listener) Addr() netip.AddrPort { return l.sock.LocalAddr() }

// Stats returns the listener's counters.
func (l *Listener) Stats() ListenerStats { return l.stats }

// Close closes the socket and forgets every connection without telling
// the peers, as a crashed or restarted server does: their handlers get
// OnClosed with sim.ErrClosedLocally.
func (l *Listener) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	for _, k := range sortedKeys(l.conns) {
		if c := l.conns[k]; c != nil {
			c.finish(sim.ErrClosedLocally, true) // forget drops its other key
		}
	}
	return l.sock.Close()
}

func sortedKeys(m map[string]*Conn) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

// OnClosed implements sim.UDPHandler: the host's socket went away.
func (l *Listener) OnClosed(*sim.UDPSocket, error) {}

// OnPacket implements sim.UDPHandler: it routes a datagram to its
// connection, accepts a new one on an Initial, or answers an unknown
// short-header packet with a stateless reset.
func (l *Listener) OnPacket(_ *sim.UDPSocket, from netip.AddrPort, p []byte) {
	if l.closed {
		return
	}
	h, err := parseHeader(p, cidLen)
	if err != nil {
		return
	}
	if c, ok := l.conns[string(h.dcid)]; ok {
		c.receive(from, p)
		return
	}
	switch {
	case h.typ == typeInitial && len(p) >= minInitialDatagram && len(h.dcid) >= 8:
		l.newConn(from, h, p)
	case h.typ == typeShort && len(p) > minStatelessReset:
		l.reset(from, h.dcid, len(p))
	}
}

// token derives the stateless reset token of cid (RFC 9000 §10.3.2).
func (l *Listener) token(cid []byte) [resetTokenLen]byte {
	m := hmac.New(sha256.New, l.cfg.StatelessResetKey)
	m.Write(cid)
	var t [resetTokenLen]byte
	copy(t[:], m.Sum(nil))
	return t
}

// reset sends a stateless reset, shorter than the packet that caused it
// so that two endpoints cannot loop (RFC 9000 §10.3.3).
func (l *Listener) reset(to netip.AddrPort, cid []byte, got int) {
	n := min(got-1, 40)
	b := make([]byte, n)
	for i := range b[:n-resetTokenLen] {
		b[i] = byte(l.cfg.Rand.Uint32())
	}
	b[0] = b[0]&0x3f | 0x40 // short header form, fixed bit set
	tok := l.token(cid)
	copy(b[n-resetTokenLen:], tok[:])
	l.stats.StatelessResets++
	if l.sock.WriteTo(b, to) == nil && l.cfg.Observer != nil {
		l.cfg.Observer.QUICEvent(Event{Kind: EventStatelessReset, Time: l.clock.Now(), Server: true, Local: l.sock.LocalAddr(), Remote: to})
	}
}

func (l *Listener) newConn(from netip.AddrPort, h header, p []byte) {
	c := newConn(l.clock, &l.cfg, true)
	c.ln = l
	c.sock = l.sock
	c.local = l.sock.LocalAddr()
	c.peer = from
	c.origDCID = append([]byte(nil), h.dcid...)
	c.dcid = append([]byte(nil), h.scid...)
	c.scid = c.newCID()
	l.conns[string(c.origDCID)] = c
	l.conns[string(c.scid)] = c
	c.hsTimer = l.clock.AfterFunc(l.cfg.HandshakeTimeout, c.onHandshakeTimeout)
	c.receive(from, p)
}

// onClientHello answers a ClientHello with the server's flight.
func (l *Listener) onClientHello(c *Conn, m message) error {
	if c.h != nil {
		return nil // a retransmitted ClientHello
	}
	l.stats.Accepted++
	c.peerParams = m.params
	c.h = l.accept(c)
	c.resumed = m.resume
	c.hsKeys = true
	c.appKeys = true // 0.5-RTT: the server may send 1-RTT data now
	sh := assumedServerHello
	if c.resumed {
		sh = assumedResumeServerHello
	}
	c.crypto[levelInitial].write(appendMessage(nil, tlsServerHello, sh, nil, false))
	params := appendParams(nil, transportParams{idleTimeout: l.cfg.IdleTimeout, resetToken: l.token(c.scid), hasToken: true, initialSCID: c.scid})
	fl := appendMessage(nil, tlsEncryptedExtensions, assumedEncryptedExt, params, false)
	if !c.resumed {
		fl = appendMessage(fl, tlsCertificate, assumedCertificate, nil, false)
		fl = appendMessage(fl, tlsCertificateVerify, assumedCertVerify, nil, false)
	}
	fl = appendMessage(fl, tlsFinished, assumedFinished, nil, false)
	c.crypto[levelHandshake].write(fl)
	if c.resumed {
		// 0-RTT accepted: the application sees the connection now and
		// the early data right after.
		c.connected = true
		c.h.OnConnected(c)
	}
	return nil
}

// forget drops a closed connection's entries.
func (l *Listener) forget(c *Conn) {
	for _, k := range [][]byte{c.origDCID, c.scid} {
		if l.conns[string(k)] == c {
			delete(l.conns, string(k))
		}
	}
}
