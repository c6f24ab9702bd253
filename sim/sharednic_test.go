package sim

import (
	"net/netip"
	"testing"
	"time"
)

func TestDevicesOfAStackShareOneNICAndKeepTheirOwnPackets(t *testing.T) {
	w := NewWorld(Config{Seed: 3})
	t.Cleanup(w.Close)
	h, err := w.AddHost(HostConfig{Name: "server", Addr: serverAddr})
	if err != nil {
		t.Fatal(err)
	}
	n, err := w.AddNetwork(NetworkConfig{Name: "lte", Prefix: homePrefix, Access: Symmetric(LinkDir{Latency: ms(20)})})
	if err != nil {
		t.Fatal(err)
	}
	srv := &recorder{w: w}
	srv.onData = func(c Conn, p []byte) { c.Write(p) }
	if _, err := h.ListenTCP(5223, func(Conn) ConnHandler { return srv }, nil); err != nil {
		t.Fatal(err)
	}
	var drops []Event
	w.Subscribe(func(e Event) {
		if e.Kind == EventDrop {
			drops = append(drops, e)
		}
	})
	const devices = 3
	var ds []*Device
	ports := make([]map[uint16]int, devices) // per device: port -> packets seen
	clis := make([]*recorder, devices)
	for i := range devices {
		d, err := w.AddDevice(DeviceConfig{Network: n})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
		ports[i] = map[uint16]int{}
		d.SetTap(func(tp Tap) { ports[i][tp.Port]++ })
		clis[i] = &recorder{w: w}
		clis[i].onConn = func(c Conn) { c.Write([]byte{byte('a' + i)}) }
		if _, err := d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), clis[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	w.Scheduler().RunFor(time.Second)

	st := ds[0].st
	if got := len(st.s.NICInfo()); got != 1 {
		t.Fatalf("device stack has %d NICs, want 1", got)
	}
	for i, d := range ds {
		if d.st != st || d.ep != st.nic {
			t.Fatalf("device %d is not on the shared NIC", i)
		}
		// Handshake, data, echo: each device saw its own connection's
		// packets only, both ways.
		if len(ports[i]) != 1 || string(clis[i].data) != string(rune('a'+i)) {
			t.Fatalf("device %d: tap ports %v, echo %q", i, ports[i], clis[i].data)
		}
	}
	if !st.peers[ip4(serverAddr)] {
		t.Fatalf("the server's address is not on the device NIC: peers %v", st.peers)
	}

	// The reset device 1's teardown emits comes from its old address:
	// still device 1's, dropped at its interface.
	if err := ds[1].ChangeAddress(); err != nil {
		t.Fatal(err)
	}
	w.Scheduler().RunFor(time.Second)
	if len(drops) != 1 || drops[0].Drop != DropInterfaceDown || drops[0].Device != ds[1] {
		t.Fatalf("drops %v, want device 1's reset dropped at its interface", drops)
	}
	// On its new address device 1 connects again, and its packets are
	// its own.
	clear(ports[1])
	if _, err := ds[1].DialTCP(netip.AddrPortFrom(serverAddr, 5223), &recorder{w: w}, nil); err != nil {
		t.Fatal(err)
	}
	w.Scheduler().RunFor(time.Second)
	if len(ports[1]) != 1 || len(ports[0]) != 1 || len(ports[2]) != 1 {
		t.Fatalf("tap ports after the change: %v", ports)
	}
}

func TestPeerAddressMakesWayForADevice(t *testing.T) {
	w := NewWorld(Config{Seed: 1})
	t.Cleanup(w.Close)
	n, err := w.AddNetwork(NetworkConfig{Name: "wifi", Prefix: homePrefix})
	if err != nil {
		t.Fatal(err)
	}
	a, err := w.AddDevice(DeviceConfig{Network: n})
	if err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddr("192.168.7.7")
	a.st.addPeer(ip4(peer))
	if !a.st.peers[ip4(peer)] {
		t.Fatalf("peer %s not put on the NIC", peer)
	}
	b, err := w.AddDevice(DeviceConfig{Network: n, Addr: peer})
	if err != nil {
		t.Fatalf("device on a peer's address: %v", err)
	}
	if b.st != a.st || b.st.devs[ip4(peer)] != b {
		t.Fatal("the device does not own its address on the shared NIC")
	}
	if _, ok := b.st.peers[ip4(peer)]; ok {
		t.Fatal("the address is still a peer's")
	}
	// A device's own address is never taken for a peer's.
	b.st.addPeer(ip4(peer))
	if _, ok := b.st.peers[ip4(peer)]; ok {
		t.Fatal("a device's address became a peer's")
	}
}
