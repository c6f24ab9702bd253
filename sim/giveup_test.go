package sim

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

// linuxRetries2GiveUp is how long Linux keeps retransmitting an
// unacknowledged segment with tcp_retries2 = 15, RTO min 200 ms and max
// 120 s before it aborts the connection: 200 ms doubling ten times (204.6 s)
// then six expiries at the 120 s cap (ip-sysctl.rst, tcp_retries2;
// quic-presence-facts §3).
const linuxRetries2GiveUp = 924600 * time.Millisecond

// TestServerGivesUpOnAVanishedDeviceAfterGVisorRetries measures what a
// push server that only pushes waits before it learns a device vanished
// (its interface down, no FIN, no RST): the server stack's default
// profile (gVisor: MaxRetries 15, RTO 200 ms to 120 s) retransmits the
// write until it gives up. gVisor counts the tail loss probe (2 SRTT +
// 200 ms after the write, the RACK/TLP of transport/tcp/snd.go) as a
// transmission of the segment, so the 15th check fails one RTO expiry
// before Linux's: 320 ms + 204.6 s + 5 x 120 s = 804.92 s after the write
// on this 30 ms link, 119.68 s sooner than Linux's 924.6 s. docs/push.md
// quotes this figure.
func TestServerGivesUpOnAVanishedDeviceAfterGVisorRetries(t *testing.T) {
	w := NewWorld(Config{Seed: 3})
	t.Cleanup(w.Close)
	h, err := w.AddHost(HostConfig{Name: "server", Addr: serverAddr})
	if err != nil {
		t.Fatal(err)
	}
	srv := &recorder{w: w}
	var sconn Conn
	srv.onConn = func(c Conn) { sconn = c }
	if _, err := h.ListenTCP(5223, func(Conn) ConnHandler { return srv }, nil); err != nil {
		t.Fatal(err)
	}
	n, err := w.AddNetwork(NetworkConfig{Name: "lte", Prefix: homePrefix, Access: Symmetric(LinkDir{Latency: ms(30)})})
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.AddDevice(DeviceConfig{Network: n})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), &recorder{w: w}, nil); err != nil {
		t.Fatal(err)
	}
	w.Scheduler().RunFor(time.Second)
	if sconn == nil {
		t.Fatal("not connected")
	}
	d.SetInterfaceUp(false) // the device vanishes: nothing it sends leaves
	start := w.Now()
	if _, err := sconn.Write([]byte("push")); err != nil {
		t.Fatal(err)
	}
	w.Scheduler().RunFor(20 * time.Minute)
	if len(srv.closed) != 1 || !errors.Is(srv.closed[0], ErrTimedOut) {
		t.Fatalf("server closed %v, want ErrTimedOut", srv.closed)
	}
	got := srv.closedAt[0].Sub(start)
	want := ms(320) + ms(200)*(1<<10-1) + 5*120*time.Second
	if got != want {
		t.Errorf("server gave up after %v, want %v", got, want)
	}
	if d := linuxRetries2GiveUp - got; d != 119680*time.Millisecond {
		t.Errorf("gVisor gives up %v before Linux, want 119.68s", d)
	}
	t.Logf("gVisor gave up after %v; Linux tcp_retries2=15: %v", got, linuxRetries2GiveUp)
}
