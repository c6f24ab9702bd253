package push

import (
	"net/netip"

	"github.com/natsim/natsim/sim"
)

// TCPOptions converts the client's wishes to the engine's socket options.
func (o DialOptions) TCPOptions() *sim.TCPOptions {
	t := &sim.TCPOptions{UserTimeout: o.UserTimeout}
	if o.KeepAlive.Idle > 0 {
		t.KeepAlive = true
		t.KeepIdle = o.KeepAlive.Idle
		t.KeepInterval = o.KeepAlive.Interval
		t.KeepCount = o.KeepAlive.Count
	}
	return t
}

// TCPOptions converts the server's listener configuration to the engine's
// socket options, for ListenTCP.
func (t ServerTCP) TCPOptions() *sim.TCPOptions {
	return DialOptions{KeepAlive: t.KeepAlive, UserTimeout: t.UserTimeout}.TCPOptions()
}

// AcceptConn is Accept in the shape of the engine's ListenTCP accept
// function: host.ListenTCP(port, srv.AcceptConn, srv.Config().TCP.TCPOptions()).
func (s *Server) AcceptConn(sim.Conn) sim.ConnHandler { return s.Accept() }

// DialerTo binds an engine dial function (a device's DialTCP method value)
// and the server's address into a Dialer.
func DialerTo(dial func(remote netip.AddrPort, h sim.ConnHandler, o *sim.TCPOptions) (sim.Conn, error), server netip.AddrPort) Dialer {
	return func(opts DialOptions, h sim.ConnHandler) (sim.Conn, error) {
		return dial(server, h, opts.TCPOptions())
	}
}
