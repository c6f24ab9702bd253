package sim

import (
	"net/netip"
	"testing"
	"time"
)

// Two connections of one device: every packet the tap sees names the
// device's port of its own connection, both ways.
func TestTapNamesTheDevicePort(t *testing.T) {
	w, d, h := oneDevice(t, Config{Seed: 4}, Symmetric(LinkDir{Latency: ms(10)}), false)
	h.ListenTCP(5223, func(Conn) ConnHandler { return &recorder{w: w} }, nil)
	seen := map[uint16][2]int{} // port: packets up, down
	d.SetTap(func(tp Tap) {
		c := seen[tp.Port]
		if tp.Up {
			c[0]++
		} else {
			c[1]++
		}
		seen[tp.Port] = c
	})
	var ports []uint16
	for range 2 {
		c, err := d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), &recorder{w: w}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, c.LocalAddr().Port())
	}
	w.Scheduler().RunFor(time.Second)
	if ports[0] == 0 || ports[0] == ports[1] {
		t.Fatalf("local ports %v", ports)
	}
	if len(seen) != 2 {
		t.Fatalf("tap saw ports %v, want exactly the two connections' %v", seen, ports)
	}
	for _, p := range ports {
		if c := seen[p]; c[0] < 2 || c[1] < 1 {
			t.Errorf("port %d: %d packets up, %d down; want the handshake both ways", p, c[0], c[1])
		}
	}
	if devicePort([]byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}, true) != 0 {
		t.Error("an ICMP packet has a port")
	}
	if devicePort([]byte{0x45, 0}, true) != 0 {
		t.Error("a truncated packet has a port")
	}
}
