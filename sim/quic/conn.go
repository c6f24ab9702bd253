package quic

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/natsim/natsim/sim"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// space is one packet number space's sending and receiving state.
type space struct {
	next         uint64 // next packet number to send
	largestAcked int64  // -1: none
	sent         []sentPacket
	inFlight     int // ack-eliciting packets in sent
	lastElicit   time.Time
	lossTime     time.Time

	recv        []ackRange // received packet numbers, largest first
	largestRecv int64
	largestAt   time.Time
	ackPending  bool // an ack-eliciting packet arrived since the last ACK
	ackDue      bool // send the ACK now, not after max_ack_delay
	elicitCount int
	ping        bool // send a PING (probe or keep-alive)
	dropped     bool
}

// maxAckRanges bounds the ranges an ACK frame reports.
const maxAckRanges = 32

// sentPacket is what loss recovery remembers of a packet.
type sentPacket struct {
	pn        uint64
	at        time.Time
	size      int
	eliciting bool
	crypto    span
	stream    span
	fin       bool
	hsDone    bool
	chal      bool // carried PATH_CHALLENGE
}

type pingWait struct {
	pn    uint64
	acked func()
}

// Conn is a QUIC connection carrying one bidirectional stream (stream 0),
// driven by the scheduler. It implements sim.Conn and sim.Pinger. All
// methods must be called on the scheduler goroutine.
type Conn struct {
	clock  sim.Clock
	cfg    *Config
	sock   *sim.UDPSocket
	ln     *Listener // server side
	dialer *Dialer   // client side
	h      sim.ConnHandler
	server bool

	local    netip.AddrPort
	peer     netip.AddrPort
	scid     []byte
	dcid     []byte
	origDCID []byte

	spaces   [numLevels]space
	crypto   [numLevels]sendStream
	cryptoIn [numLevels]recvStream
	msgs     [numLevels][]byte

	stream   sendStream
	streamIn recvStream

	peerParams  transportParams
	resumed     bool // client: ClientHello offered a ticket (0-RTT)
	hsKeys      bool // Handshake keys available (server flight or ClientHello seen)
	appKeys     bool // may send application data
	hsComplete  bool
	hsConfirmed bool
	connected   bool // OnConnected ran
	validated   bool // server: client address validated (§8.1)
	recvBytes   int
	sentBytes   int

	idle         time.Duration // effective idle timeout
	idleDeadline time.Time
	elicitSent   bool // an ack-eliciting packet was sent since the last receipt
	idleTimer    tcpip.Timer
	idleArmed    bool // idleTimer is pending
	lossTimer    tcpip.Timer
	ackTimer     tcpip.Timer
	hsTimer      tcpip.Timer
	ackAt        time.Time
	lastSend     time.Time

	srtt, rttvar, minRTT, latestRTT time.Duration
	haveRTT                         bool
	ptoCount                        int

	hsDone      bool // server: HANDSHAKE_DONE to send
	pathResp    [][8]byte
	challenge   [8]byte
	lastChal    [8]byte // client: the last challenge answered
	sendChal    bool
	validating  bool
	oldPeer     netip.AddrPort
	pings       []pingWait
	inReceive   bool
	blocked     bool
	closed      bool
	dropHSAfter bool

	scratch [numLevels][]byte
	dg      []byte
	stats   Stats
}

var (
	_ sim.Conn   = (*Conn)(nil)
	_ sim.Pinger = (*Conn)(nil)
)

func newConn(clock sim.Clock, cfg *Config, server bool) *Conn {
	c := &Conn{clock: clock, cfg: cfg, server: server, idle: cfg.IdleTimeout}
	for i := range c.spaces {
		c.spaces[i].largestAcked = -1
		c.spaces[i].largestRecv = -1
	}
	c.srtt = initialRTT
	c.rttvar = initialRTT / 2
	return c
}

func (c *Conn) newCID() []byte {
	b := make([]byte, cidLen)
	for i := range b {
		b[i] = byte(c.cfg.Rand.Uint32())
	}
	return b
}

// LocalAddr returns the socket's address.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// RemoteAddr returns the address packets go to: after a migration, the
// peer's new address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.peer }

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats {
	st := c.stats
	st.SmoothedRTT = c.srtt
	if c.hsComplete {
		st.IdleTimeout = c.idle
	}
	st.ZeroRTT = c.resumed && !c.server
	return st
}

// Write queues p on the stream and sends what it can at once. A short
// count is backpressure: OnWritable follows once the peer acknowledged
// enough.
func (c *Conn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, fmt.Errorf("quic: write to %s: %w", c.peer, sim.ErrClosedLocally)
	}
	n := min(len(p), maxSendBuffer-c.stream.unacked())
	if n < len(p) {
		c.blocked = true
	}
	if n > 0 {
		c.stream.write(p[:n])
		c.flush()
	}
	return n, nil
}

// Ping sends a PING frame, QUIC's keep-alive (RFC 9000 §19.2, §10.1.2).
// acked runs when the peer acknowledges it or any later packet. A PING
// that is never acknowledged is probed for (RFC 9002 §6.2) until the idle
// timeout closes the connection.
func (c *Conn) Ping(acked func()) error {
	if c.closed {
		return fmt.Errorf("quic: ping %s: %w", c.peer, sim.ErrClosedLocally)
	}
	sp := &c.spaces[levelApp]
	sp.ping = true
	c.stats.Pings++
	if acked != nil {
		c.pings = append(c.pings, pingWait{pn: sp.next, acked: acked})
	}
	c.flush()
	return nil
}

// Close sends what is queued, then a FIN and CONNECTION_CLOSE with no
// error; the peer sees sim.ErrPeerClosed. OnClosed follows with
// ErrClosedLocally.
func (c *Conn) Close() error {
	c.closeWith(true, errNoError, sim.ErrClosedLocally)
	return nil
}

// Abort closes at once with an application error in CONNECTION_CLOSE;
// the peer sees sim.ErrReset.
func (c *Conn) Abort() { c.closeWith(true, appErrAbort, sim.ErrClosedLocally) }

// closeWith sends CONNECTION_CLOSE (no draining period is modelled: the
// state goes at once, so later packets of the peer get a stateless reset)
// and ends the connection.
func (c *Conn) closeWith(app bool, code uint64, err error) {
	if c.closed {
		return
	}
	if code == errNoError && app {
		c.stream.fin = true
		c.flush()
	}
	lv := levelInitial
	switch {
	case c.appKeys && (c.hsComplete || c.server):
		lv = levelApp
	case c.hsKeys && !c.spaces[levelHandshake].dropped:
		lv = levelHandshake
	}
	if lv == levelApp && !c.hsComplete && !c.server {
		app = false // a 0-RTT packet cannot carry CONNECTION_CLOSE; Initial can, as a transport close
	}
	if lv != levelApp && app {
		// RFC 9000 §10.2.3: an application close before the handshake
		// is confirmed travels as a transport close with APPLICATION_ERROR.
		app, code = false, 0x0c
	}
	payload := appendClose(c.scratch[lv][:0], app, code, "")
	c.sendPacket(lv, payload, sentPacket{}, false)
	c.finish(err, true)
}

// finish ends the connection: timers stop, the socket or the listener's
// entries go, and the handler's OnClosed runs (after the current
// callback when the close is local, so a handler may close from
// anywhere).
func (c *Conn) finish(err error, local bool) {
	if c.closed {
		return
	}
	c.closed = true
	for _, t := range []*tcpip.Timer{&c.idleTimer, &c.lossTimer, &c.ackTimer, &c.hsTimer} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
	c.pings = nil
	if c.server {
		c.ln.forget(c)
	} else {
		c.sock.Close()
	}
	if c.h == nil {
		return
	}
	if local {
		c.clock.AfterFunc(0, func() { c.h.OnClosed(c, err) })
		return
	}
	c.h.OnClosed(c, err)
}

func (c *Conn) emit(ev Event) {
	c.stats.Migrations += b2i(ev.Kind == EventPathMigrated)
	if c.cfg.Observer == nil {
		return
	}
	ev.Time = c.clock.Now()
	ev.Conn = c
	ev.Server = c.server
	ev.Local = c.local
	if ev.Remote == (netip.AddrPort{}) {
		ev.Remote = c.peer
	}
	c.cfg.Observer.QUICEvent(ev)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// OnPacket receives a datagram on a client's socket (sim.UDPHandler).
func (c *Conn) OnPacket(_ *sim.UDPSocket, from netip.AddrPort, p []byte) { c.receive(from, p) }

// OnClosed learns that the client's socket went away with the device's
// address or network (sim.UDPHandler). Client-initiated migration is not
// modelled: the connection ends with the engine's reason.
func (c *Conn) OnClosed(_ *sim.UDPSocket, err error) {
	if !c.closed {
		c.finish(err, false)
	}
}

// receive handles one datagram: its packets, then whatever is to send.
func (c *Conn) receive(from netip.AddrPort, b []byte) {
	if c.closed {
		return
	}
	c.stats.DatagramsReceived++
	c.stats.BytesReceived += len(b)
	c.recvBytes += len(b)
	c.inReceive = true
	for len(b) > 0 && !c.closed {
		h, err := parseHeader(b, cidLen)
		if err != nil {
			break
		}
		if h.typ == typeShort && !bytes.Equal(h.dcid, c.scid) {
			if !c.server && c.isReset(b) {
				c.inReceive = false
				c.emit(Event{Kind: EventStatelessReset})
				c.finish(fmt.Errorf("quic: stateless reset from %s: %w", from, sim.ErrReset), false)
				return
			}
			break
		}
		b = b[h.size:]
		if err := c.receivePacket(from, &h); err != nil {
			c.inReceive = false
			c.closeWith(false, errProtocol, fmt.Errorf("quic: %v: %w", err, sim.ErrReset))
			return
		}
	}
	c.inReceive = false
	if !c.closed {
		c.flush()
	}
}

// isReset reports whether datagram b ends with the peer's stateless reset
// token (RFC 9000 §10.3.1).
func (c *Conn) isReset(b []byte) bool {
	return c.peerParams.hasToken && len(b) >= minStatelessReset &&
		bytes.Equal(b[len(b)-resetTokenLen:], c.peerParams.resetToken[:])
}

func (c *Conn) receivePacket(from netip.AddrPort, h *header) error {
	lv := h.typ.level()
	sp := &c.spaces[lv]
	if sp.dropped {
		return nil
	}
	if h.typ == typeZeroRTT && (!c.server || !c.resumed) {
		return nil // 0-RTT the server cannot read: dropped (RFC 9001 §4.6.2)
	}
	if !c.server && lv == levelInitial && !c.hsKeys {
		c.dcid = append([]byte(nil), h.scid...) // the server's chosen CID (§7.2)
	}
	if c.server && lv == levelHandshake {
		c.validated = true // §8.1: a Handshake packet proves the address
		if !c.spaces[levelInitial].dropped {
			c.dropSpace(levelInitial)
		}
	}
	pn := decodePN(sp.largestRecv, h.pnTrunc, h.pnLen)
	if received(sp.recv, pn) {
		return nil
	}
	c.stats.PacketsReceived++
	now := c.clock.Now()
	eliciting, nonProbing := false, false
	err := parseFrames(h.payload, func(f *frame) error {
		if c.closed {
			return nil
		}
		if ackEliciting(f.typ) {
			eliciting = true
		}
		if !probing(f.typ) {
			nonProbing = true
		}
		return c.handleFrame(lv, f)
	})
	if err != nil || c.closed {
		return err
	}
	// The packet counts as received only once its frames were processed.
	sp.recv = addRecv(sp.recv, pn)
	if int64(pn) > sp.largestRecv {
		sp.largestRecv = int64(pn)
		sp.largestAt = now
		if c.server && lv == levelApp && from != c.peer && nonProbing {
			c.peerMoved(from)
		}
	}
	if eliciting {
		sp.ackPending = true
		sp.elicitCount++
		if lv != levelApp || sp.elicitCount >= 2 {
			sp.ackDue = true // §13.2.2: at least every second packet
		} else {
			c.armAck(now.Add(maxAckDelay))
		}
	}
	c.elicitSent = false
	if c.hsComplete {
		c.idleDeadline = now.Add(c.effectiveIdle())
		c.armIdle()
	}
	return nil
}

// peerMoved handles a non-probing packet from a new address (§9.3).
func (c *Conn) peerMoved(from netip.AddrPort) {
	if c.cfg.DisableMigration {
		return // the haproxy #3329 server: keeps answering the old address
	}
	c.oldPeer = c.peer
	c.peer = from
	for i := range c.challenge {
		c.challenge[i] = byte(c.cfg.Rand.Uint32())
	}
	c.sendChal = true
	c.validating = true
}

func received(rs []ackRange, pn uint64) bool {
	for _, r := range rs {
		if pn > r.hi {
			return false
		}
		if pn >= r.lo {
			return true
		}
	}
	return false
}

// addRecv inserts pn into ranges kept largest first.
func addRecv(rs []ackRange, pn uint64) []ackRange {
	i := 0
	for i < len(rs) && rs[i].lo > pn+1 {
		i++
	}
	switch {
	case i < len(rs) && rs[i].hi+1 >= pn && rs[i].lo <= pn+1:
		if pn < rs[i].lo {
			rs[i].lo = pn
		}
		if pn > rs[i].hi {
			rs[i].hi = pn
		}
		// merge with the next (smaller) range
		if i+1 < len(rs) && rs[i+1].hi+1 >= rs[i].lo {
			rs[i].lo = min(rs[i].lo, rs[i+1].lo)
			rs = append(rs[:i+1], rs[i+2:]...)
		}
		// merge with the previous (larger) range
		if i > 0 && rs[i].hi+1 >= rs[i-1].lo {
			rs[i-1].lo = min(rs[i-1].lo, rs[i].lo)
			rs = append(rs[:i], rs[i+1:]...)
		}
	default:
		rs = append(rs, ackRange{})
		copy(rs[i+1:], rs[i:])
		rs[i] = ackRange{pn, pn}
	}
	if len(rs) > maxAckRanges {
		rs = rs[:maxAckRanges]
	}
	return rs
}

func (c *Conn) handleFrame(lv level, f *frame) error {
	switch {
	case f.typ == frAck || f.typ == frAckECN:
		return c.onAck(lv, f.ranges, f.ackDelay)
	case f.typ == frCrypto:
		var err error
		c.cryptoIn[lv].push(f.offset, f.data, false, func(p []byte) {
			c.msgs[lv] = append(c.msgs[lv], p...)
		})
		for err == nil && !c.closed {
			m, n, perr := parseMessage(c.msgs[lv])
			if perr != nil || n == 0 {
				err = perr
				break
			}
			c.msgs[lv] = c.msgs[lv][n:]
			err = c.handleMessage(lv, m)
		}
		return err
	case f.typ >= frStream && f.typ <= frStream|0x07:
		if lv != levelApp || f.streamID != 0 {
			return fmt.Errorf("STREAM %d at level %d", f.streamID, lv)
		}
		c.streamIn.push(f.offset, f.data, f.fin, func(p []byte) {
			if !c.closed {
				c.h.OnData(c, p)
			}
		})
	case f.typ == frPing:
		if lv == levelApp && c.connected {
			if ph, ok := c.h.(sim.PingHandler); ok {
				ph.OnPing(c)
			}
		}
	case f.typ == frCloseTransport || f.typ == frCloseApp:
		err := sim.ErrReset
		if f.typ == frCloseApp && f.errCode == errNoError {
			err = sim.ErrPeerClosed
		}
		c.finish(fmt.Errorf("quic: CONNECTION_CLOSE code %#x from %s: %w", f.errCode, c.peer, err), false)
	case f.typ == frHandshakeDone:
		if c.server {
			return errors.New("HANDSHAKE_DONE from a client")
		}
		c.hsConfirmed = true
		if !c.spaces[levelHandshake].dropped {
			c.dropSpace(levelHandshake)
		}
	case f.typ == frPathChallenge:
		c.pathResp = append(c.pathResp, f.path)
		if !c.server && c.hsComplete && f.path != c.lastChal {
			c.lastChal = f.path // a resent challenge is the same migration
			c.emit(Event{Kind: EventPathMigrated})
		}
	case f.typ == frPathResponse:
		if c.server && c.validating && f.path == c.challenge {
			c.validating = false
			c.emit(Event{Kind: EventPathMigrated, Old: c.oldPeer})
		}
	}
	return nil
}

// handleMessage runs the handshake on a whole TLS message.
func (c *Conn) handleMessage(lv level, m message) error {
	switch {
	case c.server && m.typ == tlsClientHello && lv == levelInitial:
		return c.ln.onClientHello(c, m)
	case !c.server && m.typ == tlsServerHello && lv == levelInitial:
		c.hsKeys = true
	case !c.server && m.typ == tlsEncryptedExtensions && lv == levelHandshake:
		c.peerParams = m.params
	case !c.server && m.typ == tlsFinished && lv == levelHandshake:
		// Client: the server's flight is complete. Send Finished.
		c.crypto[levelHandshake].write(appendMessage(nil, tlsFinished, assumedFinished, nil, false))
		c.appKeys = true
		c.complete()
		if !c.connected {
			c.connected = true
			c.h.OnConnected(c)
		}
	case c.server && m.typ == tlsFinished && lv == levelHandshake:
		c.complete()
		c.hsConfirmed = true
		c.hsDone = true
		c.dropHSAfter = true
		c.crypto[levelApp].write(appendMessage(nil, tlsNewSessionTicket, assumedSessionTicket, nil, false))
		if !c.connected {
			c.connected = true
			c.h.OnConnected(c)
		}
	case !c.server && m.typ == tlsNewSessionTicket && lv == levelApp:
		c.dialer.ticket = true
	case m.typ == tlsCertificate || m.typ == tlsCertificateVerify || m.typ == tlsServerHello:
	default:
		return fmt.Errorf("TLS message %d unexpected at level %d", m.typ, lv)
	}
	return nil
}

// complete marks the handshake complete: the effective idle timeout is
// known (RFC 9000 §10.1: the minimum of both announced values).
func (c *Conn) complete() {
	c.hsComplete = true
	if c.hsTimer != nil {
		c.hsTimer.Stop()
		c.hsTimer = nil
	}
	if p := c.peerParams.idleTimeout; p > 0 && p < c.idle {
		c.idle = p
	}
	c.idleDeadline = c.clock.Now().Add(c.idle)
	c.armIdle()
}

func (c *Conn) dropSpace(lv level) {
	sp := &c.spaces[lv]
	sp.dropped = true
	sp.sent, sp.inFlight, sp.lossTime = nil, 0, time.Time{}
	sp.ackPending, sp.ackDue, sp.ping = false, false, false
	c.crypto[lv] = sendStream{}
	c.ptoCount = 0
	c.setLossTimer()
}

// onAck processes an ACK frame (RFC 9002 §A.7).
func (c *Conn) onAck(lv level, ranges []ackRange, delay uint64) error {
	sp := &c.spaces[lv]
	now := c.clock.Now()
	if ranges[0].hi >= sp.next {
		return fmt.Errorf("ACK of unsent packet %d", ranges[0].hi)
	}
	largest := ranges[0].hi
	var largestSent time.Time
	newEliciting := false
	var ackedPN []uint64
	kept := sp.sent[:0]
	for _, p := range sp.sent {
		if !received(ranges, p.pn) {
			kept = append(kept, p)
			continue
		}
		if p.pn == largest {
			largestSent = p.at
		}
		if p.eliciting {
			newEliciting = true
			sp.inFlight--
		}
		c.acked(lv, &p)
		ackedPN = append(ackedPN, p.pn)
	}
	sp.sent = kept
	if len(ackedPN) == 0 {
		return nil
	}
	if int64(largest) > sp.largestAcked {
		sp.largestAcked = int64(largest)
		if !largestSent.IsZero() && newEliciting {
			ad := time.Duration(delay<<3) * time.Microsecond
			if c.hsConfirmed {
				ad = min(ad, maxAckDelay)
			}
			c.rttSample(now.Sub(largestSent), ad)
		}
	}
	c.detectLost(lv, now)
	c.ptoCount = 0
	if lv == levelApp && len(c.pings) > 0 {
		hi := ackedPN[len(ackedPN)-1]
		for _, pn := range ackedPN {
			hi = max(hi, pn)
		}
		for len(c.pings) > 0 && c.pings[0].pn <= hi && !c.closed {
			w := c.pings[0]
			c.pings = c.pings[1:]
			w.acked()
		}
	}
	c.setLossTimer()
	if c.blocked && !c.closed && c.stream.unacked() < maxSendBuffer/2 {
		c.blocked = false
		c.h.OnWritable(c)
	}
	return nil
}

func (c *Conn) acked(lv level, p *sentPacket) {
	if p.crypto.hi > p.crypto.lo {
		c.crypto[lv].ack(p.crypto.lo, p.crypto.hi, false)
	}
	if p.stream.hi > p.stream.lo || p.fin {
		c.stream.ack(p.stream.lo, p.stream.hi, p.fin)
	}
}

// rttSample updates the estimate (RFC 9002 §5.3).
func (c *Conn) rttSample(latest, ackDelay time.Duration) {
	c.latestRTT = latest
	if !c.haveRTT {
		c.haveRTT = true
		c.minRTT, c.srtt, c.rttvar = latest, latest, latest/2
		return
	}
	c.minRTT = min(c.minRTT, latest)
	adj := latest
	if latest >= c.minRTT+ackDelay {
		adj = latest - ackDelay
	}
	d := c.srtt - adj
	if d < 0 {
		d = -d
	}
	c.rttvar = (3*c.rttvar + d) / 4
	c.srtt = (7*c.srtt + adj) / 8
}

// detectLost declares packets lost by packet and time thresholds
// (RFC 9002 §6.1: 3 packets, 9/8 of the RTT).
func (c *Conn) detectLost(lv level, now time.Time) {
	sp := &c.spaces[lv]
	sp.lossTime = time.Time{}
	if sp.largestAcked < 0 {
		return
	}
	delay := max(9*max(c.latestRTT, c.srtt)/8, granularity)
	kept := sp.sent[:0]
	for _, p := range sp.sent {
		if int64(p.pn) > sp.largestAcked {
			kept = append(kept, p)
			continue
		}
		if !p.at.After(now.Add(-delay)) || sp.largestAcked >= int64(p.pn)+3 {
			c.lost(lv, &p)
			continue
		}
		if t := p.at.Add(delay); sp.lossTime.IsZero() || t.Before(sp.lossTime) {
			sp.lossTime = t
		}
		kept = append(kept, p)
	}
	sp.sent = kept
}

func (c *Conn) lost(lv level, p *sentPacket) {
	sp := &c.spaces[lv]
	c.stats.PacketsLost++
	if p.eliciting {
		sp.inFlight--
	}
	c.requeue(lv, p)
}

// requeue puts a packet's data back for sending.
func (c *Conn) requeue(lv level, p *sentPacket) {
	if p.crypto.hi > p.crypto.lo {
		c.crypto[lv].lost(p.crypto.lo, p.crypto.hi, false)
	}
	if p.stream.hi > p.stream.lo || p.fin {
		c.stream.lost(p.stream.lo, p.stream.hi, p.fin)
	}
	if p.hsDone {
		c.hsDone = true
	}
	if p.chal && c.validating {
		c.sendChal = true
	}
}

// pto is the probe timeout of a space (RFC 9002 §6.2.1).
func (c *Conn) pto(lv level) time.Duration {
	d := c.srtt + max(4*c.rttvar, granularity)
	if lv == levelApp {
		d += maxAckDelay
	}
	return d << min(c.ptoCount, 30)
}

// setLossTimer arms the loss detection timer (RFC 9002 §A.8).
func (c *Conn) setLossTimer() {
	if c.closed {
		return
	}
	var at time.Time
	for i := range c.spaces {
		if t := c.spaces[i].lossTime; !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if at.IsZero() {
		for lv := range numLevels {
			sp := &c.spaces[lv]
			if sp.dropped || sp.inFlight == 0 || (lv == levelApp && !c.hsConfirmed) {
				continue
			}
			if t := sp.lastElicit.Add(c.pto(lv)); at.IsZero() || t.Before(at) {
				at = t
			}
		}
	}
	if at.IsZero() && !c.server && !c.hsComplete {
		// §6.2.2.1: a client keeps a PTO armed until the server has its
		// address validated, so an amplification-limited server is
		// unblocked.
		lv := levelInitial
		if c.hsKeys {
			lv = levelHandshake
		}
		at = c.lastSend.Add(c.pto(lv))
	}
	if at.IsZero() {
		if c.lossTimer != nil {
			c.lossTimer.Stop()
		}
		return
	}
	c.arm(&c.lossTimer, at, c.onLossTimer)
}

// arm sets *t to fire f at at, creating the timer the first time.
func (c *Conn) arm(t *tcpip.Timer, at time.Time, f func()) {
	d := max(at.Sub(c.clock.Now()), 0)
	if *t == nil {
		*t = c.clock.AfterFunc(d, f)
	} else {
		(*t).Reset(d)
	}
}

func (c *Conn) onLossTimer() {
	if c.closed {
		return
	}
	now := c.clock.Now()
	for lv := range numLevels {
		if t := c.spaces[lv].lossTime; !t.IsZero() && !t.After(now) {
			c.detectLost(lv, now)
			c.setLossTimer()
			c.flush()
			return
		}
	}
	// PTO: probe the space whose timer ran out with its oldest unacked
	// data, or a PING.
	probe := levelApp
	var at time.Time
	found := false
	for lv := range numLevels {
		sp := &c.spaces[lv]
		if sp.dropped || sp.inFlight == 0 || (lv == levelApp && !c.hsConfirmed) {
			continue
		}
		if t := sp.lastElicit.Add(c.pto(lv)); !found || t.Before(at) {
			probe, at, found = lv, t, true
		}
	}
	if !found {
		if c.server || c.hsComplete {
			return
		}
		probe = levelInitial
		if c.hsKeys {
			probe = levelHandshake
		}
	}
	c.ptoCount++
	c.stats.PTOs++
	sp := &c.spaces[probe]
	requeued := false
	for i := range sp.sent {
		p := &sp.sent[i]
		if p.eliciting && (p.crypto.hi > p.crypto.lo || p.stream.hi > p.stream.lo || p.fin || p.hsDone || p.chal) {
			c.requeue(probe, p)
			requeued = true
			break
		}
	}
	if !requeued {
		sp.ping = true
	}
	c.flush()
	c.setLossTimer()
}

func (c *Conn) armAck(at time.Time) {
	if !c.ackAt.IsZero() && !at.Before(c.ackAt) {
		return
	}
	c.ackAt = at
	c.arm(&c.ackTimer, at, c.onAckTimer)
}

func (c *Conn) onAckTimer() {
	c.ackAt = time.Time{}
	if c.closed {
		return
	}
	if sp := &c.spaces[levelApp]; sp.ackPending {
		sp.ackDue = true
		c.flush()
	}
}

// armIdle makes sure the idle timer will fire at or before idleDeadline;
// it re-arms itself from the deadline rather than being reset on every
// packet.
func (c *Conn) armIdle() {
	if c.idleArmed {
		return
	}
	c.idleArmed = true
	c.arm(&c.idleTimer, c.idleDeadline, c.onIdle)
}

func (c *Conn) onIdle() {
	c.idleArmed = false
	if c.closed {
		return
	}
	now := c.clock.Now()
	if now.Before(c.idleDeadline) {
		c.armIdle()
		return
	}
	c.emit(Event{Kind: EventIdleTimeout, Idle: c.idle})
	c.finish(fmt.Errorf("quic: idle for %v: %w", c.idle, sim.ErrTimedOut), false)
}

// effectiveIdle is the idle period after which the connection closes:
// the negotiated value, but at least three PTOs (RFC 9000 §10.1).
func (c *Conn) effectiveIdle() time.Duration {
	return max(c.idle, 3*c.pto(levelApp))
}

// sendPacket builds and sends a datagram holding one packet of level lv
// with payload (already framed) and records it for loss recovery.
func (c *Conn) sendPacket(lv level, payload []byte, info sentPacket, eliciting bool) {
	c.dg = c.appendPacketTo(c.dg[:0], lv, payload, &info, eliciting)
	c.writeDatagram(c.dg)
}

// appendPacketTo appends a packet of level lv to dg and records it.
func (c *Conn) appendPacketTo(dg []byte, lv level, payload []byte, info *sentPacket, eliciting bool) []byte {
	sp := &c.spaces[lv]
	pn := sp.next
	sp.next++
	pnl := pnLength(pn, sp.largestAcked)
	t := c.packetType(lv)
	var token []byte
	start := len(dg)
	dg = appendPacket(dg, t, c.dcid, c.scid, token, pn, pnl, payload)
	now := c.clock.Now()
	c.stats.PacketsSent++
	if eliciting {
		info.pn, info.at, info.size, info.eliciting = pn, now, len(dg)-start, true
		sp.sent = append(sp.sent, *info)
		sp.inFlight++
		sp.lastElicit = now
		if !c.elicitSent && c.hsComplete {
			// §10.1: the idle timer restarts on the first ack-eliciting
			// packet sent after a receipt.
			c.elicitSent = true
			c.idleDeadline = now.Add(c.effectiveIdle())
			c.armIdle()
		}
	}
	return dg
}

func (c *Conn) packetType(lv level) packetType {
	switch lv {
	case levelInitial:
		return typeInitial
	case levelHandshake:
		return typeHandshake
	}
	if !c.server && !c.hsComplete {
		return typeZeroRTT
	}
	return typeShort
}

func (c *Conn) writeDatagram(dg []byte) {
	c.stats.DatagramsSent++
	c.stats.BytesSent += len(dg)
	c.sentBytes += len(dg)
	c.lastSend = c.clock.Now()
	// A failed send (no route, network down) is a lost packet: loss
	// recovery and the idle timeout deal with it, as for a real socket.
	_ = c.sock.WriteTo(dg, c.peer)
}

// canSendApp reports whether application-level packets may go out.
func (c *Conn) canSendApp() bool {
	if c.spaces[levelApp].dropped {
		return false
	}
	return c.appKeys
}

// flush sends everything queued, as datagrams of up to maxDatagram bytes
// with one packet per level coalesced (RFC 9000 §12.2).
func (c *Conn) flush() {
	if c.closed || c.inReceive {
		return
	}
	for range 64 { // bounded: a burst beyond it waits for the next event
		if c.closed {
			return
		}
		room := maxDatagram
		if c.server && !c.validated {
			// §8.1: at most three times the bytes received until the
			// client's address is validated.
			room = min(room, 3*c.recvBytes-c.sentBytes)
			if room < 64 {
				return
			}
		}
		dg := c.dg[:0]
		padInitial := false
		sentHandshake := false
		for lv := range numLevels {
			if c.spaces[lv].dropped || (lv == levelApp && !c.canSendApp()) || (lv == levelHandshake && !c.hsKeys) {
				continue
			}
			t := c.packetType(lv)
			sp := &c.spaces[lv]
			pnl := pnLength(sp.next, sp.largestAcked)
			budget := room - len(dg) - packetOverhead(t, c.dcid, c.scid, nil, pnl)
			if budget < 32 {
				break
			}
			payload, info, eliciting := c.frames(lv, t, budget)
			if len(payload) == 0 {
				continue
			}
			if lv == levelInitial && (!c.server || eliciting) {
				padInitial = true
			}
			if padInitial && lv == numLevels-1 || padInitial && !c.morePending(lv) {
				// Pad the last packet of the datagram so it reaches 1200
				// bytes (§14.1): PADDING frames are zero bytes.
				need := minInitialDatagram - len(dg) - packetOverhead(t, c.dcid, c.scid, nil, pnl) - len(payload)
				for ; need > 0 && len(payload) < budget; need-- {
					payload = append(payload, 0)
				}
				padInitial = false
			}
			c.scratch[lv] = payload[:0]
			dg = c.appendPacketTo(dg, lv, payload, &info, eliciting)
			if lv == levelHandshake {
				sentHandshake = true
			}
		}
		if len(dg) == 0 {
			break
		}
		c.dg = dg
		c.writeDatagram(dg)
		if sentHandshake && !c.server && !c.spaces[levelInitial].dropped {
			c.dropSpace(levelInitial) // RFC 9001 §4.9.1
		}
	}
	if c.dropHSAfter && !c.spaces[levelHandshake].dropped {
		c.dropSpace(levelHandshake)
	}
	c.setLossTimer()
}

// morePending reports whether a level after lv has something to send (so
// the datagram's padding goes into that later packet).
func (c *Conn) morePending(lv level) bool {
	for l := lv + 1; l < numLevels; l++ {
		if c.spaces[l].dropped || (l == levelApp && !c.canSendApp()) || (l == levelHandshake && !c.hsKeys) {
			continue
		}
		sp := &c.spaces[l]
		if sp.ackDue || sp.ping || c.crypto[l].pending() || (l == levelApp && (c.stream.pending() || c.hsDone || c.sendChal || len(c.pathResp) > 0)) {
			return true
		}
	}
	return false
}

// frames builds the payload of the next packet of level lv in at most
// budget bytes.
func (c *Conn) frames(lv level, t packetType, budget int) ([]byte, sentPacket, bool) {
	sp := &c.spaces[lv]
	b := c.scratch[lv][:0]
	var info sentPacket
	eliciting := false
	if lv == levelApp {
		for len(c.pathResp) > 0 && len(b)+9 <= budget {
			b = appendPath(b, frPathResponse, c.pathResp[0])
			c.pathResp = c.pathResp[1:]
			eliciting = true
		}
		if c.sendChal && len(b)+9 <= budget {
			b = appendPath(b, frPathChallenge, c.challenge)
			c.sendChal = false
			info.chal = true
			eliciting = true
		}
		if c.hsDone && c.server && len(b)+1 <= budget {
			b = appendVarint(b, frHandshakeDone)
			c.hsDone = false
			info.hsDone = true
			eliciting = true
		}
	}
	const ackRoom = 40
	if cs := &c.crypto[lv]; cs.pending() {
		room := budget - len(b) - ackRoom - cryptoOverhead(cs.next, budget)
		if room > 0 {
			off, data, _ := cs.take(room)
			if len(data) > 0 {
				b = appendCrypto(b, off, data)
				info.crypto = span{off, off + uint64(len(data))}
				eliciting = true
			}
		}
	}
	if lv == levelApp && c.stream.pending() {
		room := budget - len(b) - ackRoom - streamOverhead(0, c.stream.end(), budget)
		if room > 0 {
			off, data, fin := c.stream.take(room)
			if len(data) > 0 || fin {
				b = appendStream(b, 0, off, data, fin)
				info.stream = span{off, off + uint64(len(data))}
				info.fin = fin
				eliciting = true
			}
		}
	}
	if sp.ping && !eliciting && len(b)+1 <= budget {
		b = appendVarint(b, frPing)
		eliciting = true
	}
	if sp.ping && eliciting {
		sp.ping = false
	}
	if sp.ackPending && (sp.ackDue || len(b) > 0) && t != typeZeroRTT && len(sp.recv) > 0 {
		delay := uint64(c.clock.Now().Sub(sp.largestAt) / time.Microsecond)
		n := len(sp.recv)
		for n > 1 && len(appendAck(nil, sp.recv[:n], delay))+len(b) > budget {
			n--
		}
		b = appendAck(b, sp.recv[:n], delay)
		sp.ackPending, sp.ackDue, sp.elicitCount = false, false, 0
	}
	return b, info, eliciting
}
