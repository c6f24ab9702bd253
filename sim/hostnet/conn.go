package hostnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/natsim/natsim/sim"
)

// Poster runs functions on the scheduler goroutine. A wall-clock
// *sim.Scheduler implements it; Post must be safe from any goroutine.
type Poster interface {
	Post(f func())
}

// Defaults for Options' zero fields.
const (
	// DefaultMaxConns bounds a Listener's open connections.
	DefaultMaxConns = 1024
	// DefaultMaxBuffered bounds the bytes queued for writing per
	// connection (the push server's own send buffer default).
	DefaultMaxBuffered = 256 << 10
	// DefaultReadBuffer is the size of the one read buffer per connection.
	DefaultReadBuffer = 16 << 10
	// DefaultDialTimeout bounds Dial's TCP handshake.
	DefaultDialTimeout = 10 * time.Second
	// DefaultCloseTimeout bounds how long Close keeps flushing queued bytes
	// to a peer that does not read before it gives up with a RST.
	DefaultCloseTimeout = 10 * time.Second
)

// Options tunes a Listener's accepted connections or a dialled one. The
// zero value uses the defaults above.
type Options struct {
	// MaxConns is the most connections a Listener keeps open; further
	// ones are reset as soon as they are accepted (and counted in
	// ListenerStats.Refused). Ignored by Dial.
	MaxConns int
	// MaxBuffered is the most bytes queued for writing per connection:
	// Write takes at most this much minus what is still unwritten.
	MaxBuffered int
	// ReadBuffer is the size of each read; the reader waits until the
	// scheduler has delivered one chunk before reading the next.
	ReadBuffer int
	// DialTimeout bounds Dial's handshake.
	DialTimeout time.Duration
	// CloseTimeout bounds a graceful Close's flush.
	CloseTimeout time.Duration
	// TCP sets socket options: keep-alive (idle, interval, count), user
	// timeout (TCP_USER_TIMEOUT), buffer sizes and Nagle. Nil: Nagle off,
	// TCP keep-alive off (Go would otherwise enable it with 15 s idle).
	TCP *sim.TCPOptions
}

func (o Options) withDefaults() Options {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = DefaultMaxBuffered
	}
	if o.ReadBuffer <= 0 {
		o.ReadBuffer = DefaultReadBuffer
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	return o
}

type connState uint8

const (
	stConnecting connState = iota
	stOpen
	stClosed
)

// Conn is a sim.Conn over a real TCP socket. Its sim.Conn methods and
// SetReadPaused must be called on the scheduler goroutine.
type Conn struct {
	post   Poster
	h      sim.ConnHandler
	opts   Options
	nc     *net.TCPConn
	local  netip.AddrPort
	remote netip.AddrPort
	onDone func()

	// Scheduler goroutine only.
	st        connState
	wantWrite bool
	paused    bool
	ackHeld   bool

	ack  chan struct{} // the scheduler consumed the reader's chunk
	done chan struct{} // closed when the connection is finished

	mu       sync.Mutex
	cond     sync.Cond
	pend     []byte // queued, not yet taken by the writer
	inflight int    // taken by the writer, not yet written
	wclosed  bool   // no more writes: flush and close
	wabort   bool   // no more writes: close now
}

var _ sim.Conn = (*Conn)(nil)

func newConn(post Poster, h sim.ConnHandler, opts Options) *Conn {
	c := &Conn{post: post, h: h, opts: opts, ack: make(chan struct{}, 1), done: make(chan struct{})}
	c.cond.L = &c.mu
	return c
}

// attach gives the connection its socket and both its addresses.
func (c *Conn) attach(nc *net.TCPConn) {
	c.nc = nc
	if a, ok := nc.LocalAddr().(*net.TCPAddr); ok {
		c.local = unmap(a.AddrPort())
	}
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.remote = unmap(a.AddrPort())
	}
}

// start sets the socket options of an attached connection and starts the
// reader and writer.
func (c *Conn) start() error {
	nc := c.nc
	if err := applyTCP(nc, c.opts.TCP); err != nil {
		return err
	}
	c.st = stOpen
	go c.reader()
	go c.writer()
	return nil
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// reader reads one chunk at a time and posts it; it waits until the
// scheduler has delivered the chunk (or the connection is done) before
// reading again, so buf is reused safely and memory stays bounded.
func (c *Conn) reader() {
	buf := make([]byte, c.opts.ReadBuffer)
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			p := buf[:n]
			c.post.Post(func() { c.deliver(p) })
			select {
			case <-c.ack:
			case <-c.done:
				return
			}
		}
		if err != nil {
			graceful := errors.Is(err, io.EOF)
			reason := mapErr(err)
			c.post.Post(func() { c.finish(reason, graceful) })
			return
		}
	}
}

func (c *Conn) deliver(p []byte) {
	if c.st != stOpen {
		c.ack <- struct{}{}
		return
	}
	c.h.OnData(c, p)
	if c.paused && c.st == stOpen {
		c.ackHeld = true
		return
	}
	c.ack <- struct{}{}
}

// writer drains the queue into the socket.
func (c *Conn) writer() {
	var chunk []byte
	for {
		c.mu.Lock()
		for len(c.pend) == 0 && !c.wclosed {
			c.cond.Wait()
		}
		if c.wabort {
			c.mu.Unlock()
			return
		}
		if len(c.pend) == 0 { // closed gracefully and flushed
			c.mu.Unlock()
			c.nc.Close()
			return
		}
		chunk, c.pend = c.pend, chunk[:0]
		c.inflight = len(chunk)
		c.mu.Unlock()
		_, err := c.nc.Write(chunk)
		c.mu.Lock()
		c.inflight = 0
		closed := c.wclosed
		c.mu.Unlock()
		if err != nil {
			if closed {
				// A graceful close that could not flush (deadline, or
				// the peer went away): give up with a RST.
				c.nc.SetLinger(0)
				c.nc.Close()
				return
			}
			reason := mapErr(err)
			c.post.Post(func() { c.finish(reason, false) })
			return
		}
		if !closed {
			c.post.Post(c.writable)
		}
	}
}

func (c *Conn) writable() {
	if c.st == stOpen && c.wantWrite {
		c.wantWrite = false
		c.h.OnWritable(c)
	}
}

// finish ends the connection once: it stops the goroutines (after a
// flush when graceful), closes the socket and runs OnClosed.
func (c *Conn) finish(reason error, graceful bool) {
	if c.st == stClosed {
		return
	}
	c.st = stClosed
	close(c.done)
	if c.nc != nil {
		c.mu.Lock()
		c.wclosed = true
		c.wabort = !graceful
		c.cond.Signal()
		c.mu.Unlock()
		if graceful {
			c.nc.SetWriteDeadline(time.Now().Add(c.opts.CloseTimeout))
		} else {
			c.nc.SetLinger(0) // RST (SO_LINGER 0)
			c.nc.Close()
		}
	}
	if c.onDone != nil {
		c.onDone()
	}
	c.h.OnClosed(c, reason)
}

// Write implements sim.Conn: it queues as much of p as the buffer has
// room for; a short count means OnWritable will follow.
func (c *Conn) Write(p []byte) (int, error) {
	switch c.st {
	case stConnecting:
		return 0, fmt.Errorf("hostnet: write to %s: not connected yet", c.remote)
	case stClosed:
		return 0, fmt.Errorf("hostnet: write to %s: %w", c.remote, sim.ErrClosedLocally)
	}
	c.mu.Lock()
	n := min(max(c.opts.MaxBuffered-len(c.pend)-c.inflight, 0), len(p))
	c.pend = append(c.pend, p[:n]...)
	c.cond.Signal()
	c.mu.Unlock()
	if n < len(p) {
		c.wantWrite = true
	}
	return n, nil
}

// Close implements sim.Conn: queued bytes are flushed (for at most
// Options.CloseTimeout), then FIN. OnClosed runs at once with
// sim.ErrClosedLocally.
func (c *Conn) Close() error {
	c.finish(sim.ErrClosedLocally, true)
	return nil
}

// Abort implements sim.Conn: the socket closes at once with a RST
// (SO_LINGER 0); queued bytes are discarded.
func (c *Conn) Abort() { c.finish(sim.ErrClosedLocally, false) }

// LocalAddr implements sim.Conn.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// RemoteAddr implements sim.Conn.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// SetReadPaused stops (true) or resumes (false) delivering received
// bytes. While paused the socket is not read, so the peer is slowed by
// TCP flow control; at most the chunk being delivered is held. A splice
// pauses one side while the other cannot take more.
func (c *Conn) SetReadPaused(paused bool) {
	c.paused = paused
	if !paused && c.ackHeld {
		c.ackHeld = false
		c.ack <- struct{}{}
	}
}

// Buffered returns the bytes queued and not yet written to the socket.
func (c *Conn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pend) + c.inflight
}

// Dial connects to addr ("host:port") in the background and returns the
// connection at once, as sim's DialTCP does: h.OnConnected or h.OnClosed
// (with sim.ErrRefused, sim.ErrTimedOut, ...) follows on the scheduler
// goroutine. Call it on the scheduler goroutine.
func Dial(post Poster, addr string, h sim.ConnHandler, opts Options) (*Conn, error) {
	if post == nil || h == nil {
		return nil, fmt.Errorf("hostnet: dial %s: nil poster or handler", addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("hostnet: dial %q: %w", addr, err)
	}
	opts = opts.withDefaults()
	c := newConn(post, h, opts)
	if ap, err := netip.ParseAddrPort(net.JoinHostPort(host, port)); err == nil {
		c.remote = ap
	}
	go func() {
		d := net.Dialer{Timeout: opts.DialTimeout, KeepAlive: -1}
		nc, err := d.Dial("tcp", addr)
		post.Post(func() {
			if err != nil {
				c.finish(mapErr(err), false)
				return
			}
			tc := nc.(*net.TCPConn)
			if c.st == stClosed { // closed while connecting
				tc.SetLinger(0)
				tc.Close()
				return
			}
			c.attach(tc)
			if err := c.start(); err != nil {
				c.finish(err, false)
				return
			}
			c.h.OnConnected(c)
		})
	}()
	return c, nil
}

// applyTCP sets the socket options of o.
func applyTCP(nc *net.TCPConn, o *sim.TCPOptions) error {
	if err := nc.SetNoDelay(o == nil || !o.Nagle); err != nil {
		return fmt.Errorf("hostnet: TCP_NODELAY: %w", err)
	}
	if o == nil {
		return nc.SetKeepAlive(false)
	}
	if o.SendBuffer > 0 {
		if err := nc.SetWriteBuffer(o.SendBuffer); err != nil {
			return fmt.Errorf("hostnet: SO_SNDBUF: %w", err)
		}
	}
	if o.ReceiveBuffer > 0 {
		if err := nc.SetReadBuffer(o.ReceiveBuffer); err != nil {
			return fmt.Errorf("hostnet: SO_RCVBUF: %w", err)
		}
	}
	ka := net.KeepAliveConfig{Enable: o.KeepAlive, Idle: o.KeepIdle, Interval: o.KeepInterval, Count: o.KeepCount}
	if !o.KeepAlive {
		ka = net.KeepAliveConfig{}
	}
	if err := nc.SetKeepAliveConfig(ka); err != nil {
		return fmt.Errorf("hostnet: TCP keep-alive: %w", err)
	}
	if o.UserTimeout > 0 {
		rc, err := nc.SyscallConn()
		if err != nil {
			return fmt.Errorf("hostnet: TCP_USER_TIMEOUT: %w", err)
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(o.UserTimeout/time.Millisecond))
		}); err != nil {
			return fmt.Errorf("hostnet: TCP_USER_TIMEOUT: %w", err)
		}
		if serr != nil {
			return fmt.Errorf("hostnet: TCP_USER_TIMEOUT %v: %w", o.UserTimeout, serr)
		}
	}
	return nil
}

// mapErr turns a socket error into one of sim's reasons, keeping the
// original error in the message.
func mapErr(err error) error {
	var reason error
	switch {
	case errors.Is(err, io.EOF):
		return sim.ErrPeerClosed
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		reason = sim.ErrReset
	case errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, os.ErrDeadlineExceeded):
		reason = sim.ErrTimedOut
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = sim.ErrRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		reason = sim.ErrUnreachable
	case errors.Is(err, syscall.ENETDOWN):
		reason = sim.ErrNetworkDown
	case errors.Is(err, net.ErrClosed):
		reason = sim.ErrClosedLocally
	default:
		return fmt.Errorf("hostnet: %w", err)
	}
	return fmt.Errorf("%w (%v)", reason, err)
}
