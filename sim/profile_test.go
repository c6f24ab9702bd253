package sim

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

// TestDevicesWithDifferentMaxRetriesGiveUpAtDifferentTimes puts two
// devices with different TCP profiles in one world and cuts both off
// after a write. gVisor's schedule (transport/tcp/snd.go), as in
// TestRetransmissionFollowsRTOBackoffInVirtualTime: a tail loss probe
// 320 ms after the write (2*SRTT + 200 ms), then RTO expiries 200 ms
// later, doubling; each expiry first checks the segment's transmission
// count (original, probe, retransmissions) against MaxRetries, so the
// k-th expiry, at 320 ms + 200 ms*(2^k - 1), gives up when k = MaxRetries.
func TestDevicesWithDifferentMaxRetriesGiveUpAtDifferentTimes(t *testing.T) {
	w := NewWorld(Config{Seed: 7})
	t.Cleanup(w.Close)
	h, err := w.AddHost(HostConfig{Name: "server", Addr: serverAddr})
	if err != nil {
		t.Fatal(err)
	}
	h.ListenTCP(5223, func(Conn) ConnHandler { return &recorder{w: w} }, nil)
	n, err := w.AddNetwork(NetworkConfig{Name: "wifi", Prefix: homePrefix, Access: Symmetric(LinkDir{Latency: ms(30)})})
	if err != nil {
		t.Fatal(err)
	}
	retries := []int{3, 5}
	var devs []*Device
	var recs []*recorder
	var conns []Conn
	for _, r := range retries {
		d, err := w.AddDevice(DeviceConfig{Network: n, TCP: &TCPProfile{MinRTO: ms(200), MaxRetries: r}})
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{w: w}
		rec.onConn = func(c Conn) { conns = append(conns, c) }
		if _, err := d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), rec, nil); err != nil {
			t.Fatal(err)
		}
		devs, recs = append(devs, d), append(recs, rec)
	}
	if devs[0].st == devs[1].st {
		t.Fatal("devices with different TCP profiles share a stack")
	}
	w.Scheduler().RunFor(time.Second)
	if len(conns) != 2 {
		t.Fatalf("%d of 2 connected", len(conns))
	}
	start := w.Now()
	for i, d := range devs {
		d.Link().SetDown(true)
		conns[i].Write([]byte("hello"))
	}
	w.Scheduler().RunFor(time.Minute)
	for i, r := range retries {
		want := ms(320) + ms(200)*time.Duration(1<<r-1)
		rec := recs[i]
		if len(rec.closed) != 1 || !errors.Is(rec.closed[0], ErrTimedOut) {
			t.Fatalf("max retries %d: closed %v, want ErrTimedOut", r, rec.closed)
		}
		if got := rec.closedAt[0].Sub(start); got != want {
			t.Errorf("max retries %d: gave up after %v, want %v", r, got, want)
		}
	}
}

func TestDevicesWithTheSameProfileShareStacksUpToTheLimit(t *testing.T) {
	w := NewWorld(Config{Seed: 1, DevicesPerStack: 2})
	t.Cleanup(w.Close)
	n, _ := w.AddNetwork(NetworkConfig{Name: "wifi", Prefix: homePrefix})
	other := &TCPProfile{MaxRetries: 4}
	var st []*netStack
	for i := range 5 {
		cfg := DeviceConfig{Network: n}
		if i%2 == 1 {
			cfg.TCP = other
		}
		d, err := w.AddDevice(cfg)
		if err != nil {
			t.Fatal(err)
		}
		st = append(st, d.st)
	}
	// Default profile: devices 0, 2, 4 on stacks A, A, B; the other:
	// devices 1, 3 on stack C.
	if st[0] != st[2] || st[4] == st[0] || st[1] != st[3] || st[1] == st[0] || st[1] == st[4] {
		t.Fatalf("stacks %v", st)
	}
}
