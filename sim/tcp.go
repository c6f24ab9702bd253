package sim

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// iface is what devices and hosts share: an address on a stack's NIC
// (a host's own, a device stack's shared one), and the sockets opened on
// it.
type iface struct {
	w     *World
	st    *netStack
	ep    *nicEP
	addr  netip.Addr
	dev   *Device // nil on hosts
	socks sockSet
}

// sock is anything a device tears down when its network changes.
type sock interface {
	id() uint64
	teardown(err error)
	// release lets go of the socket's endpoint once its stack is closed
	// (World.Close): it reads as closed and reports nothing.
	release()
	setSlot(i int)
	slot() int
}

// release lets go of the interface's stack and sockets (World.Close).
func (i *iface) release() {
	for _, k := range i.socks.s {
		k.release()
	}
	i.socks.s = nil
	i.st, i.ep = nil, nil
}

// sockSet is a device's live sockets; index-tracked for O(1) removal.
type sockSet struct{ s []sock }

func (ss *sockSet) add(k sock) { k.setSlot(len(ss.s)); ss.s = append(ss.s, k) }

func (ss *sockSet) remove(k sock) {
	i := k.slot()
	if i < 0 || i >= len(ss.s) || ss.s[i] != k {
		return
	}
	last := len(ss.s) - 1
	ss.s[i] = ss.s[last]
	ss.s[i].setSlot(i)
	ss.s[last] = nil
	ss.s = ss.s[:last]
	k.setSlot(-1)
}

// closeAll tears down every socket of the set. It snapshots the set
// first and tears the snapshot down in creation (id) order; teardowns
// only queue their OnClosed callbacks (World.closed), so nothing a
// handler does (dial, listen, close) can observe or disturb the loop,
// and a socket opened by a handler is not in the snapshot.
func (ss *sockSet) closeAll(err error) {
	snap := slices.Clone(ss.s)
	slices.SortFunc(snap, func(a, b sock) int { return cmp.Compare(a.id(), b.id()) })
	for _, k := range snap {
		k.teardown(err)
	}
}

// TCPOptions are per-connection socket options. Zero fields keep the
// stack's defaults.
type TCPOptions struct {
	// KeepAlive enables TCP keep-alive (SO_KEEPALIVE) with the idle time
	// (TCP_KEEPIDLE), probe interval (TCP_KEEPINTVL) and probe count
	// (TCP_KEEPCNT) below; gVisor's defaults are 2 h, 75 s and 9, as
	// Linux's (RFC 1122 section 4.2.3.6 asks for at least 2 h idle).
	KeepAlive    bool
	KeepIdle     time.Duration
	KeepInterval time.Duration
	KeepCount    int
	// UserTimeout is TCP_USER_TIMEOUT (RFC 5482): how long sent data
	// may stay unacknowledged before the connection is dropped.
	UserTimeout time.Duration
	// SendBuffer and ReceiveBuffer override the stack's buffer sizes.
	SendBuffer    int
	ReceiveBuffer int
	// Nagle enables Nagle's algorithm; by default segments go at once
	// (TCP_NODELAY), as push clients set it.
	Nagle bool
}

func (o *TCPOptions) apply(ep tcpip.Endpoint) error {
	so := ep.SocketOptions()
	so.SetDelayOption(o != nil && o.Nagle)
	if o == nil {
		return nil
	}
	if o.SendBuffer > 0 {
		so.SetSendBufferSize(int64(o.SendBuffer), true)
	}
	if o.ReceiveBuffer > 0 {
		so.SetReceiveBufferSize(int64(o.ReceiveBuffer), true)
	}
	if o.KeepAlive {
		so.SetKeepAlive(true)
		if o.KeepIdle > 0 {
			v := tcpip.KeepaliveIdleOption(o.KeepIdle)
			if err := ep.SetSockOpt(&v); err != nil {
				return fmt.Errorf("keep-alive idle %v: %s", o.KeepIdle, err)
			}
		}
		if o.KeepInterval > 0 {
			v := tcpip.KeepaliveIntervalOption(o.KeepInterval)
			if err := ep.SetSockOpt(&v); err != nil {
				return fmt.Errorf("keep-alive interval %v: %s", o.KeepInterval, err)
			}
		}
		if o.KeepCount > 0 {
			if err := ep.SetSockOptInt(tcpip.KeepaliveCountOption, o.KeepCount); err != nil {
				return fmt.Errorf("keep-alive count %d: %s", o.KeepCount, err)
			}
		}
	}
	if o.UserTimeout > 0 {
		v := tcpip.TCPUserTimeoutOption(o.UserTimeout)
		if err := ep.SetSockOpt(&v); err != nil {
			return fmt.Errorf("user timeout %v: %s", o.UserTimeout, err)
		}
	}
	return nil
}

type connState uint8

const (
	stConnecting connState = iota
	stOpen
	stClosed
)

// tcpConn implements Conn over a gVisor TCP endpoint.
type tcpConn struct {
	owner     *iface
	cid       uint64
	ep        tcpip.Endpoint
	wq        waiter.Queue  // storage for dialled connections
	q         *waiter.Queue // the queue watched: &wq, or Accept's
	we        waiter.Entry
	h         ConnHandler
	state     connState
	wantWrite bool
	paused    bool
	queued    atomic.Bool
	idx       int
	opts      *TCPOptions
	local     addrPort4
	remote    addrPort4
}

// addrPort4 is an IPv4 address and port in 8 bytes instead of
// netip.AddrPort's 32: every connection holds two.
type addrPort4 struct {
	a uint32
	p uint16
}

func toAddrPort4(ap netip.AddrPort) addrPort4 { return addrPort4{a: ip4(ap.Addr()), p: ap.Port()} }

func (a addrPort4) addrPort() netip.AddrPort { return netip.AddrPortFrom(addrOf(a.a), a.p) }

const connEvents = waiter.ReadableEvents | waiter.WritableEvents | waiter.EventErr | waiter.EventHUp

func (c *tcpConn) id() uint64                 { return c.cid }
func (c *tcpConn) setSlot(i int)              { c.idx = i }
func (c *tcpConn) slot() int                  { return c.idx }
func (c *tcpConn) LocalAddr() netip.AddrPort  { return c.local.addrPort() }
func (c *tcpConn) RemoteAddr() netip.AddrPort { return c.remote.addrPort() }

// ID returns the connection's id, unique in its world; events carry it.
func (c *tcpConn) ID() uint64 { return c.cid }

func (c *tcpConn) watch() {
	c.we.Init(c, connEvents)
	c.q.EventRegister(&c.we)
}

// NotifyEvent implements waiter.EventListener (the connection is its
// own listener, which saves a closure per connection). It runs on a
// gVisor goroutine: record only; the barrier dispatches.
func (c *tcpConn) NotifyEvent(waiter.EventMask) {
	if c.queued.CompareAndSwap(false, true) {
		c.owner.w.notify(c)
	}
}

// DialTCP opens a TCP connection from this device or host to remote.
// h.OnConnected runs when the handshake completes; a failure is reported
// through h.OnClosed. The error return is for what fails at once (bad
// options, interface down).
func (i *iface) DialTCP(remote netip.AddrPort, h ConnHandler, o *TCPOptions) (Conn, error) {
	if i.dev != nil && !i.dev.up {
		return nil, fmt.Errorf("sim: dial %s from %s: %w", remote, i.addr, ErrNetworkDown)
	}
	if !remote.Addr().Is4() {
		return nil, fmt.Errorf("sim: dial %s: not an IPv4 address", remote)
	}
	w := i.w
	w.connID++
	c := &tcpConn{owner: i, cid: w.connID, h: h, remote: toAddrPort4(remote), idx: -1, opts: o}
	c.q = &c.wq
	ep, err := i.st.s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &c.wq)
	if err != nil {
		return nil, fmt.Errorf("sim: dial %s: new endpoint: %s", remote, err)
	}
	c.ep = ep
	if err := o.apply(ep); err != nil {
		ep.Close()
		return nil, fmt.Errorf("sim: dial %s: %w", remote, err)
	}
	// Binding to the device's address is what makes the endpoint the
	// device's on the shared NIC (the engine tells devices apart by
	// source address); SO_BINDTODEVICE would add a per-device map in
	// gVisor's port manager (about 1.4 KB per device, measured).
	if err := ep.Bind(tcpip.FullAddress{NIC: i.ep.id, Addr: tcpAddr(i.addr)}); err != nil {
		ep.Close()
		return nil, fmt.Errorf("sim: dial %s: bind %s: %s", remote, i.addr, err)
	}
	c.watch()
	err = ep.Connect(tcpip.FullAddress{NIC: i.ep.id, Addr: tcpAddr(remote.Addr()), Port: remote.Port()})
	if _, ok := err.(*tcpip.ErrConnectStarted); !ok && err != nil {
		c.q.EventUnregister(&c.we)
		ep.Close()
		return nil, fmt.Errorf("sim: dial %s: %w", remote, mapErr(err))
	}
	if la, err := ep.GetLocalAddress(); err == nil {
		c.local = toAddrPort4(fullToAddrPort(la))
	}
	i.socks.add(c)
	return c, nil
}

func fullToAddrPort(a tcpip.FullAddress) netip.AddrPort {
	b := a.Addr.As4()
	return netip.AddrPortFrom(netip.AddrFrom4(b), a.Port)
}

// dispatch runs on the scheduler goroutine after the barrier.
func (c *tcpConn) dispatch() {
	c.queued.Store(false)
	w := c.owner.w
	switch c.state {
	case stClosed:
		return
	case stConnecting:
		m := c.ep.Readiness(waiter.WritableEvents | waiter.EventErr | waiter.EventHUp)
		if m == 0 {
			return
		}
		if err := c.ep.LastError(); err != nil {
			c.finish(mapErr(err), false)
			return
		}
		if m&waiter.WritableEvents == 0 {
			c.finish(ErrReset, false)
			return
		}
		c.state = stOpen
		c.startKeepAlive()
		if la, err := c.ep.GetLocalAddress(); err == nil {
			c.local = toAddrPort4(fullToAddrPort(la))
		}
		w.emit(Event{Kind: EventConnUp, Device: c.owner.dev, Conn: c.cid, Local: c.local.addrPort(), Remote: c.remote.addrPort()})
		c.h.OnConnected(c)
	}
	c.readAll()
	if c.state == stOpen && c.wantWrite && c.ep.Readiness(waiter.WritableEvents) != 0 {
		c.wantWrite = false
		c.h.OnWritable(c)
	}
}

// startKeepAlive arms the keep-alive timer on an established
// connection. Linux arms it when the handshake completes
// (tcp_finish_connect); gVisor only arms it when a segment is processed
// or an option is set after the sender exists (resetKeepaliveTimer in
// transport/tcp/connect.go needs e.snd), so a client that never receives
// data would never probe. Setting the idle time again arms it.
func (c *tcpConn) startKeepAlive() {
	if o := c.opts; o != nil && o.KeepAlive {
		idle := o.KeepIdle
		if idle <= 0 {
			idle = 2 * time.Hour // gVisor's and Linux's default
		}
		v := tcpip.KeepaliveIdleOption(idle)
		_ = c.ep.SetSockOpt(&v)
	}
}

// rbuf collects what one Read returns; it grows to the largest read.
type rbuf struct{ b []byte }

func (r *rbuf) Write(p []byte) (int, error) { r.b = append(r.b, p...); return len(p), nil }

func (c *tcpConn) readAll() {
	w := c.owner.w
	if c.paused && !c.failed() {
		return
	}
	for c.state == stOpen {
		w.rb.b = w.rb.b[:0]
		_, err := c.ep.Read(&w.rb, tcpip.ReadOptions{})
		if len(w.rb.b) > 0 {
			c.h.OnData(c, w.rb.b)
			continue
		}
		switch err.(type) {
		case nil, *tcpip.ErrWouldBlock:
			return
		case *tcpip.ErrClosedForReceive:
			// The peer sent FIN: close our side too and report it.
			c.finish(ErrPeerClosed, true)
			return
		default:
			c.finish(mapErr(err), false)
			return
		}
	}
}

// failed reports whether the endpoint has hit a hard error (RST,
// timeout): a paused connection still reports those at once.
func (c *tcpConn) failed() bool {
	ep, ok := c.ep.(*tcp.Endpoint)
	return ok && ep.EndpointState() == tcp.StateError
}

// SetReadPaused implements ReadPauser. Resuming queues the connection
// for dispatch, so the held bytes reach OnData from the barrier at the
// current instant, never from inside this call.
func (c *tcpConn) SetReadPaused(paused bool) {
	if c.paused == paused {
		return
	}
	c.paused = paused
	if !paused && c.state != stClosed {
		c.NotifyEvent(waiter.ReadableEvents)
	}
}

// Write implements Conn.
func (c *tcpConn) Write(p []byte) (int, error) {
	if c.state != stOpen {
		if c.state == stConnecting {
			return 0, fmt.Errorf("sim: write on connection %d: not connected yet", c.cid)
		}
		return 0, fmt.Errorf("sim: write on connection %d: %w", c.cid, ErrClosedLocally)
	}
	w := c.owner.w
	w.wr.Reset(p)
	n, err := c.ep.Write(&w.wr, tcpip.WriteOptions{})
	if err != nil {
		if _, ok := err.(*tcpip.ErrWouldBlock); ok {
			c.wantWrite = true
			return int(n), nil
		}
		return int(n), fmt.Errorf("sim: write on connection %d: %w", c.cid, mapErr(err))
	}
	if int(n) < len(p) {
		c.wantWrite = true
	}
	return int(n), nil
}

// Close implements Conn: FIN after queued data. OnClosed runs with
// ErrClosedLocally after the current callback returns, at the same
// virtual instant (see World.closed).
func (c *tcpConn) Close() error {
	if c.state == stClosed {
		return nil
	}
	c.finish(ErrClosedLocally, true)
	return nil
}

// Abort implements Conn: RST. OnClosed follows as for Close.
func (c *tcpConn) Abort() {
	if c.state == stClosed {
		return
	}
	c.finish(ErrClosedLocally, false)
}

func (c *tcpConn) teardown(err error) { c.finish(err, false) }

func (c *tcpConn) release() {
	c.state = stClosed
	c.ep, c.q, c.we = nil, nil, waiter.Entry{}
	c.wq = waiter.Queue{}
	c.idx = -1
}

// finish closes the endpoint (gracefully or with a RST) and reports err.
func (c *tcpConn) finish(err error, graceful bool) {
	if c.state == stClosed {
		return
	}
	c.state = stClosed
	c.q.EventUnregister(&c.we)
	if graceful {
		c.ep.Close()
	} else {
		c.ep.Abort()
	}
	c.owner.socks.remove(c)
	w := c.owner.w
	w.emit(Event{Kind: EventConnDown, Device: c.owner.dev, Conn: c.cid, Local: c.local.addrPort(), Remote: c.remote.addrPort(), Err: err})
	w.closed(closeNote{tcp: c, err: err})
}

// mapErr turns a gVisor error into one of the package's reasons.
func mapErr(err tcpip.Error) error {
	switch err.(type) {
	case *tcpip.ErrConnectionReset, *tcpip.ErrConnectionAborted:
		return ErrReset
	case *tcpip.ErrTimeout:
		return ErrTimedOut
	case *tcpip.ErrConnectionRefused:
		return ErrRefused
	case *tcpip.ErrNetworkUnreachable, *tcpip.ErrHostUnreachable, *tcpip.ErrNoNet:
		return ErrUnreachable
	case *tcpip.ErrClosedForReceive, *tcpip.ErrClosedForSend:
		return ErrPeerClosed
	}
	return fmt.Errorf("sim: tcp: %s", err)
}

// Listener accepts TCP connections on a device or host.
type Listener struct {
	owner  *iface
	lid    uint64
	ep     tcpip.Endpoint
	wq     waiter.Queue
	we     waiter.Entry
	accept func(Conn) ConnHandler
	opts   *TCPOptions
	queued atomic.Bool
	idx    int
	closed bool
}

func (l *Listener) id() uint64    { return l.lid }
func (l *Listener) setSlot(i int) { l.idx = i }
func (l *Listener) slot() int     { return l.idx }

// ListenTCP listens on port. For each new connection accept returns its
// handler (nil refuses it with a RST); o applies to accepted connections.
func (i *iface) ListenTCP(port uint16, accept func(c Conn) ConnHandler, o *TCPOptions) (*Listener, error) {
	w := i.w
	w.connID++
	l := &Listener{owner: i, lid: w.connID, accept: accept, opts: o, idx: -1}
	ep, err := i.st.s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &l.wq)
	if err != nil {
		return nil, fmt.Errorf("sim: listen on %s:%d: %s", i.addr, port, err)
	}
	l.ep = ep
	ep.SocketOptions().SetReuseAddress(true)
	if err := ep.Bind(tcpip.FullAddress{NIC: i.ep.id, Addr: tcpAddr(i.addr), Port: port}); err != nil {
		ep.Close()
		return nil, fmt.Errorf("sim: listen on %s:%d: %s", i.addr, port, err)
	}
	// The backlog bounds connections handshaken but not yet accepted;
	// the barrier accepts them at the same instant, so it only needs to
	// cover one instant's worth of SYNs.
	if err := ep.Listen(4096); err != nil {
		ep.Close()
		return nil, fmt.Errorf("sim: listen on %s:%d: %s", i.addr, port, err)
	}
	l.we = waiter.NewFunctionEntry(waiter.ReadableEvents, func(waiter.EventMask) {
		if l.queued.CompareAndSwap(false, true) {
			w.notify(l)
		}
	})
	l.wq.EventRegister(&l.we)
	i.socks.add(l)
	return l, nil
}

func (l *Listener) dispatch() {
	l.queued.Store(false)
	w := l.owner.w
	for !l.closed {
		nep, nwq, err := l.ep.Accept(nil)
		if err != nil {
			return
		}
		w.connID++
		c := &tcpConn{owner: l.owner, cid: w.connID, ep: nep, state: stOpen, idx: -1, opts: l.opts}
		_ = l.opts.apply(nep)
		c.startKeepAlive()
		if la, err := nep.GetLocalAddress(); err == nil {
			c.local = toAddrPort4(fullToAddrPort(la))
		}
		if ra, err := nep.GetRemoteAddress(); err == nil {
			c.remote = toAddrPort4(fullToAddrPort(ra))
		}
		c.h = l.accept(c)
		if c.h == nil {
			nep.Abort()
			continue
		}
		// Accept hands over the endpoint's own queue.
		c.q = nwq
		c.watch()
		l.owner.socks.add(c)
		w.emit(Event{Kind: EventConnUp, Device: l.owner.dev, Conn: c.cid, Local: c.local.addrPort(), Remote: c.remote.addrPort()})
		c.h.OnConnected(c)
		c.dispatch()
	}
}

func (l *Listener) release() {
	l.closed = true
	l.ep, l.we = nil, waiter.Entry{}
	l.wq = waiter.Queue{}
	l.idx = -1
}

// Close stops listening. Accepted connections are not affected.
func (l *Listener) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	l.wq.EventUnregister(&l.we)
	l.ep.Close()
	l.owner.socks.remove(l)
	return nil
}

func (l *Listener) teardown(error) { _ = l.Close() }

// Addr returns the listening address.
func (l *Listener) Addr() netip.AddrPort {
	a, err := l.ep.GetLocalAddress()
	if err != nil {
		return netip.AddrPort{}
	}
	return fullToAddrPort(a)
}
