package hostnet

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/natsim/natsim/sim"
)

// startSched runs a wall-clock scheduler until the test ends.
func startSched(t *testing.T) *sim.Scheduler {
	t.Helper()
	s := sim.NewWallScheduler()
	done := make(chan struct{})
	go func() { s.Run(); close(done) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return s
}

// on runs f on the scheduler goroutine and waits for it.
func on(s *sim.Scheduler, f func()) {
	ch := make(chan struct{})
	s.Post(func() { f(); close(ch) })
	<-ch
}

// rec is a handler that reports its events on channels.
type rec struct {
	conn   chan sim.Conn
	data   chan []byte
	closed chan error
	wr     chan struct{}
	echo   bool
}

func newRec() *rec {
	return &rec{conn: make(chan sim.Conn, 4), data: make(chan []byte, 64), closed: make(chan error, 4), wr: make(chan struct{}, 64)}
}

func (r *rec) OnConnected(c sim.Conn) { r.conn <- c }
func (r *rec) OnData(c sim.Conn, p []byte) {
	if r.echo {
		c.Write(p)
	}
	r.data <- bytes.Clone(p)
}
func (r *rec) OnWritable(sim.Conn)          { r.wr <- struct{}{} }
func (r *rec) OnClosed(_ sim.Conn, e error) { r.closed <- e }

func wait[T any](t *testing.T, ch chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func TestEchoAndPeerClose(t *testing.T) {
	s := startSched(t)
	srv := newRec()
	srv.echo = true
	acceptLocal := make(chan netip.AddrPort, 1)
	ln, err := Listen(s, "127.0.0.1:0", func(c sim.Conn) sim.ConnHandler { acceptLocal <- c.LocalAddr(); return srv }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli := newRec()
	var c *Conn
	on(s, func() { c, err = Dial(s, ln.Addr().String(), cli, Options{}) })
	if err != nil {
		t.Fatal(err)
	}
	wait(t, cli.conn, "client connected")
	sc := wait(t, srv.conn, "server accepted")
	if sc.RemoteAddr() != c.LocalAddr() || c.RemoteAddr() != ln.Addr() {
		t.Errorf("addresses: server sees %v, client local %v remote %v, listener %v", sc.RemoteAddr(), c.LocalAddr(), c.RemoteAddr(), ln.Addr())
	}
	if a := <-acceptLocal; a != ln.Addr() {
		t.Errorf("accept saw local address %v, want the listener's %v", a, ln.Addr())
	}
	on(s, func() { c.Write([]byte("hello")) })
	var got []byte
	for len(got) < 5 {
		got = append(got, wait(t, cli.data, "echo")...)
	}
	if string(got) != "hello" {
		t.Errorf("echo = %q", got)
	}
	// A graceful close: the client sees ErrClosedLocally at once, the
	// server ErrPeerClosed.
	on(s, func() { c.Close() })
	if e := wait(t, cli.closed, "client closed"); !errors.Is(e, sim.ErrClosedLocally) {
		t.Errorf("client close reason %v", e)
	}
	if e := wait(t, srv.closed, "server closed"); !errors.Is(e, sim.ErrPeerClosed) {
		t.Errorf("server close reason %v, want peer closed", e)
	}
	time.Sleep(50 * time.Millisecond)
	if st := ln.Stats(); st.Open != 0 || st.Accepted != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestAbortSendsReset(t *testing.T) {
	s := startSched(t)
	srv := newRec()
	ln, err := Listen(s, "127.0.0.1:0", func(sim.Conn) sim.ConnHandler { return srv }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli := newRec()
	on(s, func() { _, err = Dial(s, ln.Addr().String(), cli, Options{}) })
	wait(t, cli.conn, "connected")
	sc := wait(t, srv.conn, "accepted")
	on(s, func() { sc.Abort() })
	if e := wait(t, cli.closed, "client closed"); !errors.Is(e, sim.ErrReset) {
		t.Errorf("client saw %v, want reset", e)
	}
}

func TestDialRefused(t *testing.T) {
	s := startSched(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cli := newRec()
	on(s, func() { _, err = Dial(s, addr, cli, Options{}) })
	if err != nil {
		t.Fatal(err)
	}
	if e := wait(t, cli.closed, "dial failure"); !errors.Is(e, sim.ErrRefused) {
		t.Errorf("dial to a closed port: %v, want refused", e)
	}
}

func TestBackpressureBoundsBufferAndResumes(t *testing.T) {
	s := startSched(t)
	// A raw peer that does not read until told to.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peer := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			peer <- c
		}
	}()
	cli := newRec()
	var c *Conn
	const max = 64 << 10
	on(s, func() {
		c, err = Dial(s, l.Addr().String(), cli, Options{MaxBuffered: max, TCP: &sim.TCPOptions{SendBuffer: 4096}})
	})
	wait(t, cli.conn, "connected")
	pc := wait(t, peer, "peer")
	defer pc.Close()
	chunk := make([]byte, 32<<10)
	total, short := 0, false
	// Write until the buffer refuses: the kernel buffers fill, then ours.
	for i := 0; i < 1000 && !short; i++ {
		on(s, func() {
			n, err := c.Write(chunk)
			if err != nil {
				t.Errorf("write: %v", err)
			}
			total += n
			short = n < len(chunk)
			if c.Buffered() > max {
				t.Errorf("buffered %d > max %d", c.Buffered(), max)
			}
		})
	}
	if !short {
		t.Fatal("writes never became short")
	}
	// Draining the peer lets the writer flush; OnWritable follows.
	go func() {
		buf := make([]byte, 1<<20)
		for {
			if _, err := pc.Read(buf); err != nil {
				return
			}
		}
	}()
	wait(t, cli.wr, "OnWritable")
}

func TestMaxConnsRefusesExtra(t *testing.T) {
	s := startSched(t)
	srv := newRec()
	ln, err := Listen(s, "127.0.0.1:0", func(sim.Conn) sim.ConnHandler { return srv }, Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		wait(t, srv.conn, "accepted")
	}
	// The listener accepts the third connection and resets it at once;
	// the reset can reach the dialler before or after its connect
	// returns, so either way counts as refused.
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("third connection was not closed")
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("third dial: %v, want success then a reset, or a reset", err)
	}
	if st := ln.Stats(); st.Refused != 1 || st.Open != 2 {
		t.Errorf("stats %+v, want 1 refused, 2 open", st)
	}
	// Closing one makes room again, once the listener has counted it.
	conns[0].Close()
	wait(t, srv.closed, "first closed")
	for deadline := time.Now().Add(5 * time.Second); ln.Stats().Open != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v after a close, want 1 open", ln.Stats())
		}
	}
	c4, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	wait(t, srv.conn, "accepted after room")
}

func TestPausedReadsHoldTheChunk(t *testing.T) {
	s := startSched(t)
	srv := newRec()
	var sc *Conn
	ln, err := Listen(s, "127.0.0.1:0", func(c sim.Conn) sim.ConnHandler { sc = c.(*Conn); return srv }, Options{ReadBuffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wait(t, srv.conn, "accepted")
	on(s, func() { sc.SetReadPaused(true) })
	c.Write([]byte("abcdefgh"))
	first := wait(t, srv.data, "first chunk")
	select {
	case p := <-srv.data:
		t.Fatalf("got %q while paused after %q", p, first)
	case <-time.After(100 * time.Millisecond):
	}
	on(s, func() { sc.SetReadPaused(false) })
	got := string(first)
	for len(got) < 8 {
		got += string(wait(t, srv.data, "rest"))
	}
	if got != "abcdefgh" {
		t.Errorf("got %q", got)
	}
}
