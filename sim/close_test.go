package sim

import (
	"errors"
	"net/netip"
	"runtime"
	"testing"
	"time"
	"weak"

	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// redialer redials from OnClosed at once, as a push client that
// reconnects without going through the clock.
type redialer struct {
	recorder
	d      *Device
	to     netip.AddrPort
	redial int // redials left
	conns  []Conn
}

func (r *redialer) OnClosed(c Conn, err error) {
	r.recorder.OnClosed(c, err)
	if r.redial == 0 {
		return
	}
	r.redial--
	nc, derr := r.d.DialTCP(r.to, r, nil)
	if derr != nil {
		panic(derr)
	}
	r.conns = append(r.conns, nc)
}

func TestRedialFromOnClosedSurvivesAddressChange(t *testing.T) {
	w, d, h := oneDevice(t, Config{Seed: 5}, Symmetric(LinkDir{Latency: ms(30)}), false)
	if _, err := h.ListenTCP(5223, func(Conn) ConnHandler { return &recorder{w: w} }, nil); err != nil {
		t.Fatal(err)
	}
	to := netip.AddrPortFrom(serverAddr, 5223)
	r := &redialer{recorder: recorder{w: w}, d: d, to: to, redial: 1}
	if _, err := d.DialTCP(to, r, nil); err != nil {
		t.Fatal(err)
	}
	w.Scheduler().RunFor(time.Second)
	if len(r.connected) != 1 {
		t.Fatal("not connected")
	}
	at := w.Now()
	if err := d.ChangeAddress(); err != nil {
		t.Fatal(err)
	}
	if len(r.closed) != 1 || !errors.Is(r.closed[0], ErrAddrChanged) || !r.closedAt[0].Equal(at) {
		t.Fatalf("closed %v at %v, want ErrAddrChanged at %v", r.closed, r.closedAt, at)
	}
	if len(r.conns) != 1 || r.conns[0].LocalAddr().Addr() != d.Addr() {
		t.Fatalf("redialled %d connections; want one from the new address %s", len(r.conns), d.Addr())
	}
	w.Scheduler().RunFor(time.Second)
	// The redial leaves at the instant of the change: SYN and SYN-ACK
	// cross the 30 ms access link once each.
	if len(r.connected) != 2 || r.connected[1].Sub(at) != ms(60) {
		t.Fatalf("connected at %v, want the redial up 60 ms after %v", r.connected, at)
	}
	if len(r.closed) != 1 {
		t.Fatalf("the redialled connection closed: %v", r.closed[1:])
	}
	// The new connection carries data.
	if n, err := r.conns[0].Write([]byte("x")); n != 1 || err != nil {
		t.Fatalf("write on the redialled connection: %d, %v", n, err)
	}
}

func TestRedialFromOnClosedOnInterfaceDownFailsCleanly(t *testing.T) {
	w, d, h := oneDevice(t, Config{Seed: 5}, Symmetric(LinkDir{Latency: ms(30)}), false)
	h.ListenTCP(5223, func(Conn) ConnHandler { return &recorder{w: w} }, nil)
	to := netip.AddrPortFrom(serverAddr, 5223)
	r := &redialer{recorder: recorder{w: w}, d: d, to: to}
	d.DialTCP(to, r, nil)
	w.Scheduler().RunFor(time.Second)
	// A handler that redials on a down interface gets an error at once
	// rather than a socket: nothing loops.
	var derr error
	r2 := &recorder{w: w}
	d.OnNetworkChange(func(NetworkChange) {})
	h2 := &closeHook{recorder: r2, f: func() { _, derr = d.DialTCP(to, r2, nil) }}
	d.DialTCP(to, h2, nil)
	w.Scheduler().RunFor(time.Second)
	d.SetInterfaceUp(false)
	if len(r.closed) != 1 || !errors.Is(r.closed[0], ErrNetworkDown) || !errors.Is(derr, ErrNetworkDown) {
		t.Fatalf("closed %v, redial error %v; want ErrNetworkDown for both", r.closed, derr)
	}
}

// closeHook runs f from OnClosed.
type closeHook struct {
	*recorder
	f func()
}

func (c *closeHook) OnClosed(conn Conn, err error) { c.recorder.OnClosed(conn, err); c.f() }

func TestOnClosedRunsOnceAfterAbortAtTheSameInstant(t *testing.T) {
	w, d, h := oneDevice(t, Config{Seed: 6}, Symmetric(LinkDir{Latency: ms(30)}), false)
	h.ListenTCP(5223, func(Conn) ConnHandler { return &recorder{w: w} }, nil)
	var conn Conn
	r := &recorder{w: w}
	r.onConn = func(c Conn) { conn = c }
	d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), r, nil)
	w.Scheduler().RunFor(time.Second)
	at := w.Now()
	conn.Abort()
	conn.Abort() // idempotent
	if err := conn.Close(); err != nil || len(r.closed) != 0 {
		t.Fatalf("OnClosed ran inside Abort (%v) or Close failed (%v)", r.closed, err)
	}
	w.Scheduler().RunFor(time.Millisecond)
	if len(r.closed) != 1 || !r.closedAt[0].Equal(at) || !errors.Is(r.closed[0], ErrClosedLocally) {
		t.Fatalf("closed %v at %v, want once, ErrClosedLocally at %v", r.closed, r.closedAt, at)
	}
}

// TestCloseKeepsNoResets checks that closing a world with open
// connections leaves no packet records behind: the resets the stacks send
// as they close would never be routed, and a million devices' would take
// hundreds of MB at the end of the run.
func TestCloseKeepsNoResets(t *testing.T) {
	w, d, h := oneDevice(t, Config{Seed: 5}, Symmetric(LinkDir{Latency: ms(30)}), false)
	if _, err := h.ListenTCP(5223, func(Conn) ConnHandler { return &recorder{w: w} }, nil); err != nil {
		t.Fatal(err)
	}
	r := &recorder{w: w}
	if _, err := d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), r, nil); err != nil {
		t.Fatal(err)
	}
	w.Scheduler().RunFor(time.Second)
	if len(r.connected) != 1 {
		t.Fatal("not connected")
	}
	w.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.out) != 0 {
		t.Errorf("%d packets emitted while closing are kept, want none", len(w.out))
	}
}

// TestCloseLetsGoOfStacks checks that a closed world keeps no gVisor
// stack reachable while its devices, hosts and connections are still
// held (a partitioned run reads their records after closing each
// partition's world), and that those records read as closed.
func TestCloseLetsGoOfStacks(t *testing.T) {
	w, d, h := oneDevice(t, Config{Seed: 5}, Symmetric(LinkDir{Latency: ms(30)}), false)
	if _, err := h.ListenTCP(5223, func(Conn) ConnHandler { return &recorder{w: w} }, nil); err != nil {
		t.Fatal(err)
	}
	us, err := d.ListenUDP(4000, &udpRec{w: w})
	if err != nil {
		t.Fatal(err)
	}
	var conn Conn
	r := &recorder{w: w}
	r.onConn = func(c Conn) { conn = c }
	if _, err := d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), r, nil); err != nil {
		t.Fatal(err)
	}
	w.Scheduler().RunFor(time.Second)
	if conn == nil {
		t.Fatal("not connected")
	}
	var stacks []weak.Pointer[stack.Stack]
	for _, st := range w.stacks {
		stacks = append(stacks, weak.Make(st.s))
	}
	w.Close()
	w.Close() // idempotent
	// Two cycles: an object with a finalizer keeps what it reaches for
	// one more.
	runtime.GC()
	runtime.GC()
	for i, p := range stacks {
		if p.Value() != nil {
			t.Errorf("stack %d of %d is still reachable after Close", i, len(stacks))
		}
	}
	if _, err := conn.Write([]byte("x")); !errors.Is(err, ErrClosedLocally) {
		t.Errorf("write after Close: %v, want ErrClosedLocally", err)
	}
	conn.Abort()
	if err := conn.Close(); err != nil {
		t.Errorf("close after Close: %v", err)
	}
	if err := us.WriteTo([]byte("x"), netip.AddrPortFrom(serverAddr, 9)); err == nil {
		t.Error("a UDP write after Close succeeded")
	}
	if err := us.Close(); err != nil {
		t.Errorf("UDP close after Close: %v", err)
	}
	if !d.Addr().IsValid() || d.Network() == nil || w.Stats().Packets == 0 {
		t.Errorf("the device's records are gone: %v, %v, %+v", d.Addr(), d.Network(), w.Stats())
	}
	runtime.KeepAlive(d)
	runtime.KeepAlive(h)
	runtime.KeepAlive(conn)
}
