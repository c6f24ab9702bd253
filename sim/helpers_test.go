package sim

import (
	"net/netip"
	"testing"
	"time"
)

// recorder is a ConnHandler that records what happened.
type recorder struct {
	w         *World
	connected []time.Time
	data      []byte
	dataAt    []time.Time
	closed    []error
	closedAt  []time.Time
	onConn    func(c Conn)
	onData    func(c Conn, p []byte)
}

func (r *recorder) OnConnected(c Conn) {
	r.connected = append(r.connected, r.w.Now())
	if r.onConn != nil {
		r.onConn(c)
	}
}
func (r *recorder) OnData(c Conn, p []byte) {
	r.data = append(r.data, p...)
	r.dataAt = append(r.dataAt, r.w.Now())
	if r.onData != nil {
		r.onData(c, p)
	}
}
func (r *recorder) OnWritable(Conn) {}
func (r *recorder) OnClosed(c Conn, err error) {
	r.closed = append(r.closed, err)
	r.closedAt = append(r.closedAt, r.w.Now())
}

var (
	serverAddr = netip.MustParseAddr("203.0.113.10")
	homePrefix = netip.MustParsePrefix("192.168.0.0/16")
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// oneDevice builds a world with a server and one device on a network
// with the given access link; the core link has no delay.
func oneDevice(t testing.TB, cfg Config, access LinkConfig, shared bool) (*World, *Device, *Host) {
	t.Helper()
	w := NewWorld(cfg)
	t.Cleanup(w.Close)
	h, err := w.AddHost(HostConfig{Name: "server", Addr: serverAddr})
	if err != nil {
		t.Fatal(err)
	}
	nc := NetworkConfig{Name: "wifi", Prefix: homePrefix, Access: access}
	if shared {
		nc.Shared = PassThrough{}
	}
	n, err := w.AddNetwork(nc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.AddDevice(DeviceConfig{Name: "phone", Network: n})
	if err != nil {
		t.Fatal(err)
	}
	return w, d, h
}
