package sim

import (
	"errors"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Clock is the time source and timer facility that applications (push
// clients and servers, keep-alive strategies) are written against. The
// Scheduler implements it on virtual or wall time. Timer callbacks run on
// the scheduler goroutine.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) tcpip.Timer
}

// Conn is an event-driven stream connection. All methods must be called
// on the scheduler goroutine (from a callback or an event); none blocks.
type Conn interface {
	// Write queues as much of p as fits in the send buffer and returns how
	// much it took. A short count is backpressure: the handler's
	// OnWritable runs when there is room again.
	Write(p []byte) (int, error)
	// Close closes the connection gracefully (FIN after queued data).
	Close() error
	// Abort closes the connection with a RST.
	Abort()
	// LocalAddr and RemoteAddr are the connection's endpoints as this side
	// sees them (behind a NAT, LocalAddr is the private address).
	LocalAddr() netip.AddrPort
	RemoteAddr() netip.AddrPort
}

// ReadPauser is implemented by connections whose reads can be paused
// for backpressure: the engine's TCP connections and sim/hostnet's. A
// splice pauses one side while the other cannot take more.
type ReadPauser interface {
	// SetReadPaused stops (true) or resumes (false) delivering received
	// bytes to OnData. While paused the bytes stay in the TCP receive
	// buffer, so the advertised window closes and the peer's writes go
	// short; resuming delivers them in order. Must be called on the
	// scheduler goroutine.
	SetReadPaused(paused bool)
}

// Pinger is implemented by connections whose transport has its own
// keep-alive probe, QUIC's PING frame (RFC 9000 §19.2). Ping sends one;
// acked runs once, on the scheduler goroutine, when the peer acknowledges
// it. A probe that is never acknowledged is not reported: the transport
// ends the connection by its own rules (QUIC's idle timeout), as Envoy's
// QUIC keep-alive does. Push clients keep alive through it when the
// connection offers it, instead of writing application pings.
type Pinger interface {
	Ping(acked func()) error
}

// PingHandler is implemented by connection handlers that want to know
// when the peer's transport-level keep-alive (a Pinger's probe) arrives:
// it carries no application bytes, but proves the peer alive.
type PingHandler interface {
	OnPing(c Conn)
}

// ConnHandler receives a connection's events on the scheduler goroutine.
type ConnHandler interface {
	// OnConnected runs once the connection is established (for a dialled
	// connection, when the handshake completes; for an accepted one,
	// before any data).
	OnConnected(c Conn)
	// OnData delivers received bytes. p is only valid during the call.
	OnData(c Conn, p []byte)
	// OnWritable runs when a previously short Write can make progress.
	OnWritable(c Conn)
	// OnClosed runs exactly once when the connection is gone, with the
	// reason: nil or ErrClosedLocally for a local close, ErrPeerClosed,
	// ErrReset, ErrTimedOut, ErrUnreachable, ErrNetworkDown, or another
	// error wrapping the stack's.
	OnClosed(c Conn, err error)
}

// Reasons a connection ends, for OnClosed and the event stream. Test them
// with errors.Is.
var (
	ErrClosedLocally = errors.New("closed locally")
	ErrPeerClosed    = errors.New("closed by peer")
	ErrReset         = errors.New("connection reset")
	ErrTimedOut      = errors.New("connection timed out")
	ErrRefused       = errors.New("connection refused")
	ErrUnreachable   = errors.New("destination unreachable")
	ErrNetworkDown   = errors.New("network down")
	ErrAddrChanged   = errors.New("local address changed")
)

// closeNote is an OnClosed callback waiting to run: exactly one of tcp
// and udp is set.
type closeNote struct {
	tcp *tcpConn
	udp *UDPSocket
	err error
}

// closed queues a socket's OnClosed. Closing a socket (Close, Abort, a
// stack error, a device's teardown) never calls its handler from inside
// the close: the callbacks run in the order the sockets closed, on the
// scheduler goroutine, from the barrier that follows the current event
// (or from flushClosed), so before virtual time moves. A handler may
// therefore close, dial or change the device's network from anywhere
// without re-entering the engine's own loops.
func (w *World) closed(n closeNote) { w.closing = append(w.closing, n) }

// flushClosed runs the queued OnClosed callbacks, including those the
// callbacks themselves queue, in FIFO order. It is re-entrant: a nested
// call takes over the rest of the queue.
func (w *World) flushClosed() {
	for w.closeHead < len(w.closing) {
		n := w.closing[w.closeHead]
		w.closing[w.closeHead] = closeNote{}
		w.closeHead++
		if w.closeHead == len(w.closing) {
			w.closing, w.closeHead = w.closing[:0], 0
		}
		if n.tcp != nil {
			n.tcp.h.OnClosed(n.tcp, n.err)
		} else {
			n.udp.h.OnClosed(n.udp, n.err)
		}
	}
}
