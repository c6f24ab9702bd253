package sim_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/natsim/natsim/sim"
)

type echo struct{}

func (echo) OnConnected(sim.Conn)        {}
func (echo) OnData(c sim.Conn, p []byte) { c.Write(p) }
func (echo) OnWritable(sim.Conn)         {}
func (echo) OnClosed(sim.Conn, error)    {}

type client struct{ w *sim.World }

func (c client) OnConnected(conn sim.Conn) {
	fmt.Println("connected after", c.w.Now().Sub(sim.DefaultEpoch))
	conn.Write([]byte("hello"))
}
func (c client) OnData(_ sim.Conn, p []byte) {
	fmt.Printf("got %q after %v\n", p, c.w.Now().Sub(sim.DefaultEpoch))
}
func (client) OnWritable(sim.Conn)      {}
func (client) OnClosed(sim.Conn, error) {}

// A world with one phone on a home network and a server, exchanging data
// over 30 ms links in virtual time.
func Example() {
	w := sim.NewWorld(sim.Config{Seed: 1})
	defer w.Close()
	server, _ := w.AddHost(sim.HostConfig{Name: "server", Addr: netip.MustParseAddr("203.0.113.10")})
	server.ListenTCP(5223, func(sim.Conn) sim.ConnHandler { return echo{} }, nil)
	home, _ := w.AddNetwork(sim.NetworkConfig{
		Name:   "home",
		Prefix: netip.MustParsePrefix("192.168.0.0/16"),
		Access: sim.Symmetric(sim.LinkDir{Latency: 30 * time.Millisecond}),
		Shared: sim.PassThrough{},
	})
	phone, _ := w.AddDevice(sim.DeviceConfig{Name: "phone", Network: home})
	phone.DialTCP(netip.MustParseAddrPort("203.0.113.10:5223"), client{w}, &sim.TCPOptions{KeepAlive: true})
	w.Scheduler().RunFor(time.Second)
	// Output:
	// connected after 60ms
	// got "hello" after 120ms
}
