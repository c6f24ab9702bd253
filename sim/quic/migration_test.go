package quic

import (
	"testing"
	"time"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/sim"
)

// pinger sends a PING every interval from first on, as a keep-alive
// strategy does, and records the acknowledgements.
func (b *bed) pinger(c *Conn, first, interval time.Duration) *int {
	acks := new(int)
	var ping func()
	ping = func() {
		if c.closed {
			return
		}
		c.Ping(func() { *acks++ })
		b.w.Scheduler().At(b.w.Now().Add(interval), ping)
	}
	b.at(first, ping)
	return acks
}

// A UDP mapping shorter than the PING interval: the mapping expires, a
// push sent in the gap is lost on the old mapping, the next PING opens a
// new mapping on another port, the server validates the new path, moves
// there and the push arrives late; the connection survives.
func TestNATRebindingMigrates(t *testing.T) {
	b := newBedPorts(t, 10*time.Second, 10*time.Second, nat.PortSequential, Config{}, Config{})
	cl := &app{b: b}
	c := b.dial(cl)
	b.pinger(c, 5*time.Second, 15*time.Second) // PINGs at 5, 20, 35 s
	// The mapping (refreshed at 5 s) expires at 15 s; push at 17 s.
	b.at(17*time.Second, func() { b.srv.conns[0].Write([]byte("push")) })
	b.runTo(60 * time.Second)
	if len(cl.closed) != 0 {
		t.Fatalf("client closed: %v", cl.closed)
	}
	// Every PING after the first finds its mapping gone: 20, 35, 50 s.
	if b.count(EventPathMigrated, true) != 3 || b.count(EventPathMigrated, false) != 3 {
		t.Fatalf("migration events %v", b.events)
	}
	if string(cl.data) != "push" {
		t.Fatalf("client got %q", cl.data)
	}
	// Not before the PING at 20 s re-opened the path.
	if at := b.since(cl.dataAt[0]); at < 20*time.Second || at > 30*time.Second {
		t.Errorf("push arrived at %v, want after the 20 s PING", at)
	}
	if got := b.srv.conns[0].RemoteAddr(); got == c.LocalAddr() || got.Port() == 0 {
		t.Errorf("server sends to %v", got)
	}
}

// The haproxy #3329 story: a server that keeps sending to the old
// address after a rebinding. The client's PINGs reach it, its ACKs are
// dropped by the NAT, the client probes with doubling PTOs and the idle
// timeout closes the connection 30 s after the first unanswered PING.
func TestNoMigrationClientProbesThenIdlesOut(t *testing.T) {
	b := newBedPorts(t, 10*time.Second, 10*time.Second, nat.PortSequential, Config{}, Config{DisableMigration: true})
	cl := &app{b: b}
	c := b.dial(cl)
	b.pinger(c, 5*time.Second, 15*time.Second)
	b.runTo(2 * time.Minute)
	// First unanswered PING at 20 s; idle timeout 30 s.
	b.closedOnce(cl, sim.ErrTimedOut, 50*time.Second, 51*time.Second)
	if b.count(EventPathMigrated, true) != 0 || b.count(EventIdleTimeout, false) != 1 {
		t.Errorf("events %v", b.events)
	}
	st := c.Stats()
	// PTOs with ~80 ms RTT: 0.2 s doubling within 30 s gives 7 or 8
	// probes (the PING at 35 s adds none: one is already outstanding).
	if st.PTOs < 6 || st.PTOs > 10 {
		t.Errorf("PTOs %d", st.PTOs)
	}
}

// restartBed runs a client pinging every 10 s from 5 s on against a
// server that restarts at 7 s, forgetting its connections, with reset key
// key (the first server's key is "0123456789abcdef").
func restartBed(t *testing.T, key string) (*bed, *app) {
	b := newBed(t, 30*time.Second, 120*time.Second, Config{}, Config{StatelessResetKey: []byte("0123456789abcdef")})
	cl := &app{b: b}
	b.pinger(b.dial(cl), 5*time.Second, 10*time.Second)
	b.at(7*time.Second, func() {
		b.ln.Close()
		cfg := b.srvCfg
		cfg.StatelessResetKey = []byte(key)
		ln, err := Listen(b.w.Clock(), b.host.ListenUDP, serverAP.Port(), cfg, func(sim.Conn) sim.ConnHandler { return b.srv })
		if err != nil {
			t.Error(err)
		}
		b.ln = ln
	})
	b.runTo(time.Minute)
	return b, cl
}

// A server that lost its state (restart with the same reset key) answers
// the client's next packet with a stateless reset; the client closes at
// once instead of waiting for its idle timeout.
func TestStatelessResetAfterServerRestart(t *testing.T) {
	b, cl := restartBed(t, "0123456789abcdef")
	// One round trip after the 15 s PING.
	b.closedOnce(cl, sim.ErrReset, 15*time.Second, 15200*time.Millisecond)
	if b.count(EventStatelessReset, false) != 1 || b.count(EventStatelessReset, true) != 1 || b.ln.Stats().StatelessResets != 1 {
		t.Errorf("events %v", b.events)
	}
}

// A reset token from another key is not recognised: the client ignores
// the packet and idles out.
func TestStatelessResetWithWrongKeyIsIgnored(t *testing.T) {
	b, cl := restartBed(t, "another key.....")
	// The 15 s PING is the last packet sent after a receipt: 45 s.
	b.closedOnce(cl, sim.ErrTimedOut, 45*time.Second, 46*time.Second)
	if b.count(EventStatelessReset, false) != 0 {
		t.Errorf("events %v", b.events)
	}
}
