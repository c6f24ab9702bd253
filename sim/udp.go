package sim

import (
	"fmt"
	"net/netip"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// UDPHandler receives a UDP socket's events on the scheduler goroutine.
type UDPHandler interface {
	// OnPacket delivers one datagram; p is only valid during the call.
	OnPacket(s *UDPSocket, from netip.AddrPort, p []byte)
	// OnClosed runs once when the socket is gone: ErrClosedLocally, or
	// ErrAddrChanged / ErrNetworkDown when the device's network changed.
	OnClosed(s *UDPSocket, err error)
}

// UDPSocket is an event-driven UDP socket on a device or host.
type UDPSocket struct {
	owner  *iface
	sid    uint64
	ep     tcpip.Endpoint
	wq     waiter.Queue
	we     waiter.Entry
	h      UDPHandler
	queued atomic.Bool
	idx    int
	closed bool
	local  netip.AddrPort
}

func (s *UDPSocket) release() {
	s.closed = true
	s.ep, s.we = nil, waiter.Entry{}
	s.wq = waiter.Queue{}
	s.idx = -1
}

func (s *UDPSocket) id() uint64    { return s.sid }
func (s *UDPSocket) setSlot(i int) { s.idx = i }
func (s *UDPSocket) slot() int     { return s.idx }

// ListenUDP opens a UDP socket on port (0 picks an ephemeral port).
func (i *iface) ListenUDP(port uint16, h UDPHandler) (*UDPSocket, error) {
	if i.dev != nil && !i.dev.up {
		return nil, fmt.Errorf("sim: udp on %s: %w", i.addr, ErrNetworkDown)
	}
	w := i.w
	w.connID++
	s := &UDPSocket{owner: i, sid: w.connID, h: h, idx: -1}
	ep, err := i.st.s.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &s.wq)
	if err != nil {
		return nil, fmt.Errorf("sim: udp on %s:%d: %s", i.addr, port, err)
	}
	s.ep = ep
	if err := ep.SocketOptions().SetBindToDevice(int32(i.ep.id)); err != nil {
		ep.Close()
		return nil, fmt.Errorf("sim: udp on %s:%d: bind to NIC: %s", i.addr, port, err)
	}
	if err := ep.Bind(tcpip.FullAddress{NIC: i.ep.id, Addr: tcpAddr(i.addr), Port: port}); err != nil {
		ep.Close()
		return nil, fmt.Errorf("sim: udp on %s:%d: %s", i.addr, port, err)
	}
	if la, err := ep.GetLocalAddress(); err == nil {
		s.local = fullToAddrPort(la)
	}
	s.we = waiter.NewFunctionEntry(waiter.ReadableEvents, func(waiter.EventMask) {
		if s.queued.CompareAndSwap(false, true) {
			w.notify(s)
		}
	})
	s.wq.EventRegister(&s.we)
	i.socks.add(s)
	return s, nil
}

// LocalAddr returns the socket's address.
func (s *UDPSocket) LocalAddr() netip.AddrPort { return s.local }

// WriteTo sends one datagram to to.
func (s *UDPSocket) WriteTo(p []byte, to netip.AddrPort) error {
	if s.closed {
		return fmt.Errorf("sim: udp write from %s: %w", s.local, ErrClosedLocally)
	}
	if !to.Addr().Is4() {
		return fmt.Errorf("sim: udp write to %s: not an IPv4 address", to)
	}
	w := s.owner.w
	w.wr.Reset(p)
	dst := tcpip.FullAddress{NIC: s.owner.ep.id, Addr: tcpAddr(to.Addr()), Port: to.Port()}
	if _, err := s.ep.Write(&w.wr, tcpip.WriteOptions{To: &dst}); err != nil {
		return fmt.Errorf("sim: udp write %s -> %s: %w", s.local, to, mapErr(err))
	}
	return nil
}

func (s *UDPSocket) dispatch() {
	s.queued.Store(false)
	w := s.owner.w
	for !s.closed {
		w.rb.b = w.rb.b[:0]
		res, err := s.ep.Read(&w.rb, tcpip.ReadOptions{NeedRemoteAddr: true})
		if err != nil {
			return
		}
		s.h.OnPacket(s, fullToAddrPort(res.RemoteAddr), w.rb.b)
	}
}

// Close closes the socket; OnClosed runs with ErrClosedLocally after the
// current callback returns, at the same virtual instant.
func (s *UDPSocket) Close() error {
	s.teardown(ErrClosedLocally)
	return nil
}

func (s *UDPSocket) teardown(err error) {
	if s.closed {
		return
	}
	s.closed = true
	s.wq.EventUnregister(&s.we)
	s.ep.Close()
	s.owner.socks.remove(s)
	s.owner.w.closed(closeNote{udp: s, err: err})
}
