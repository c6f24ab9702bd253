package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/natsim/natsim/sim"
)

// Listener accepts real TCP connections and hands each to an event-driven
// handler on the scheduler goroutine.
type Listener struct {
	post   Poster
	ln     *net.TCPListener
	accept func(sim.Conn) sim.ConnHandler
	opts   Options
	addr   netip.AddrPort
	closed atomic.Bool
	done   chan struct{}

	open     atomic.Int64
	accepted atomic.Uint64
	refused  atomic.Uint64
}

// ListenerStats counts a Listener's connections.
type ListenerStats struct {
	// Open is the number of accepted connections not yet closed.
	Open int
	// Accepted counts connections handed to the accept function.
	Accepted int
	// Refused counts connections reset because MaxConns were open or the
	// accept function returned nil.
	Refused int
}

// Listen listens on addr ("127.0.0.1:1883"; port 0 picks a free port).
// For each connection, accept runs on the scheduler goroutine and returns
// its handler (nil refuses the connection with a RST); OnConnected
// follows at once. At most opts.MaxConns connections are open at a time.
func Listen(post Poster, addr string, accept func(sim.Conn) sim.ConnHandler, opts Options) (*Listener, error) {
	if post == nil || accept == nil {
		return nil, fmt.Errorf("hostnet: listen on %s: nil poster or accept function", addr)
	}
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("hostnet: listen: %w", err)
	}
	l := &Listener{post: post, ln: ln.(*net.TCPListener), accept: accept, opts: opts.withDefaults(), done: make(chan struct{})}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		l.addr = unmap(a.AddrPort())
	}
	go l.loop()
	return l, nil
}

// Addr returns the address the listener is bound to.
func (l *Listener) Addr() netip.AddrPort { return l.addr }

// Stats returns the listener's counters. Safe from any goroutine.
func (l *Listener) Stats() ListenerStats {
	return ListenerStats{Open: int(l.open.Load()), Accepted: int(l.accepted.Load()), Refused: int(l.refused.Load())}
}

// Close stops accepting. Open connections stay open; close them through
// their handlers (the push server's Close does). Close waits for the
// accept loop to exit.
func (l *Listener) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	err := l.ln.Close()
	<-l.done
	if err != nil {
		return fmt.Errorf("hostnet: close listener %s: %w", l.addr, err)
	}
	return nil
}

func (l *Listener) loop() {
	defer close(l.done)
	for {
		nc, err := l.ln.AcceptTCP()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: back off briefly rather than spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if l.open.Load() >= int64(l.opts.MaxConns) {
			l.refused.Add(1)
			nc.SetLinger(0)
			nc.Close()
			continue
		}
		l.open.Add(1)
		l.post.Post(func() { l.start(nc) })
	}
}

// start runs on the scheduler goroutine.
func (l *Listener) start(nc *net.TCPConn) {
	c := newConn(l.post, nil, l.opts)
	c.attach(nc) // accept sees both addresses, as sim's accept does
	h := l.accept(c)
	if h == nil {
		l.open.Add(-1)
		l.refused.Add(1)
		nc.SetLinger(0)
		nc.Close()
		return
	}
	c.h = h
	c.onDone = func() { l.open.Add(-1) }
	l.accepted.Add(1)
	if err := c.start(); err != nil {
		c.finish(err, false)
		return
	}
	h.OnConnected(c)
}
