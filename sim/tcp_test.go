package sim

import (
	"net/netip"
	"testing"
)

func TestHandshakeTakesTwoOneWayDelays(t *testing.T) {
	w, d, h := oneDevice(t, Config{Seed: 1}, Symmetric(LinkDir{Latency: ms(30)}), true)
	srv := &recorder{w: w}
	srv.onData = func(c Conn, p []byte) { c.Write([]byte("pong")) }
	if _, err := h.ListenTCP(5223, func(Conn) ConnHandler { return srv }, nil); err != nil {
		t.Fatal(err)
	}
	cli := &recorder{w: w}
	cli.onConn = func(c Conn) { c.Write([]byte("ping")) }
	start := w.Now()
	if _, err := d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), cli, nil); err != nil {
		t.Fatal(err)
	}
	w.Scheduler().RunFor(ms(1000))
	if len(cli.connected) != 1 || cli.connected[0].Sub(start) != ms(60) {
		t.Fatalf("connected at %v, want exactly 60ms", cli.connected)
	}
	if string(srv.data) != "ping" || string(cli.data) != "pong" {
		t.Fatalf("server got %q, client got %q", srv.data, cli.data)
	}
	if got := cli.dataAt[0].Sub(start); got != ms(120) {
		t.Fatalf("pong at %v, want 120ms", got)
	}
}
