package push

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/natsim/natsim/sim"
)

// engineBed is a device and the push server on the real engine (gVisor TCP)
// with a 30 ms one-way access link and no NAT.
type engineBed struct {
	w      *sim.World
	dev    *sim.Device
	srv    *Server
	events []ServerEvent
	start  time.Time
}

var engineServer = netip.MustParseAddrPort("203.0.113.10:1883")

func newEngineBed(t *testing.T, cfg ServerConfig) *engineBed {
	t.Helper()
	b := &engineBed{w: sim.NewWorld(sim.Config{Seed: 1})}
	t.Cleanup(b.w.Close)
	host, err := b.w.AddHost(sim.HostConfig{Name: "push", Addr: engineServer.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.w.AddNetwork(sim.NetworkConfig{
		Name:   "wifi",
		Prefix: netip.MustParsePrefix("192.168.0.0/16"),
		Access: sim.Symmetric(sim.LinkDir{Latency: 30 * time.Millisecond}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.dev, err = b.w.AddDevice(sim.DeviceConfig{Name: "phone", Network: n}); err != nil {
		t.Fatal(err)
	}
	cfg.Observer = ServerObserverFunc(func(ev ServerEvent) { b.events = append(b.events, ev) })
	if b.srv, err = NewServer(b.w.Clock(), cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := host.ListenTCP(engineServer.Port(), b.srv.AcceptConn, b.srv.Config().TCP.TCPOptions()); err != nil {
		t.Fatal(err)
	}
	b.start = b.w.Now()
	return b
}

func (b *engineBed) client(t *testing.T, strat *fixedStrategy, cfg ClientConfig) (*Client, *clientLog) {
	t.Helper()
	log := &clientLog{}
	cfg.ClientID, cfg.Observer = "phone", log
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 900 * time.Second
	}
	c, err := NewClient(b.w.Clock(), rand.New(rand.NewPCG(1, 1)), strat, DialerTo(b.dev.DialTCP, engineServer), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

func (b *engineBed) runTo(d time.Duration) { b.w.Scheduler().RunUntil(b.start.Add(d)) }

func (b *engineBed) since(at time.Time) time.Duration { return at.Sub(b.start) }

func TestEngineConnectPushAndKeepAlive(t *testing.T) {
	b := newEngineBed(t, ServerConfig{})
	strat := &fixedStrategy{alarm: exact(5 * time.Minute), ack: 30 * time.Second}
	c, log := b.client(t, strat, ClientConfig{})
	c.Start()
	b.w.Scheduler().At(b.start.Add(time.Second), func() {
		if _, err := b.srv.Publish("phone", "devices/phone", []byte("hi"), 1, 0); err != nil {
			t.Error(err)
		}
	})
	b.runTo(11 * time.Minute)

	// SYN/SYN-ACK, CONNECT/CONNACK, SUBSCRIBE/SUBACK: three round trips
	// of 60 ms.
	tcp := log.of(ClientTCPConnected)
	conn := log.of(ClientConnected)
	if len(tcp) != 1 || b.since(tcp[0].Time) != 60*ms || len(conn) != 1 || b.since(conn[0].Time) != 180*ms {
		t.Fatalf("tcp connected %v, connected %v; want 60 ms and 180 ms", tcp, conn)
	}
	push := log.of(ClientPushReceived)
	if len(push) != 1 || b.since(push[0].Time) != time.Second+30*ms || push[0].Latency != 30*ms {
		t.Fatalf("pushes %+v, want one at 1.03 s with 30 ms latency", push)
	}
	var acked []ServerEvent
	for _, ev := range b.events {
		if ev.Kind == ServerPublishAcked {
			acked = append(acked, ev)
		}
	}
	if len(acked) != 1 || acked[0].Latency != 60*ms {
		t.Fatalf("server acks %+v, want one after 60 ms", acked)
	}
	sent, ok := log.of(ClientKeepAliveSent), log.of(ClientKeepAliveOK)
	if len(sent) != 2 || len(ok) != 2 {
		t.Fatalf("keep-alives sent %d ok %d, want 2 and 2", len(sent), len(ok))
	}
	if b.since(sent[0].Time) != 5*time.Minute+180*ms || ok[0].RTT != 60*ms || b.since(sent[1].Time) != 10*time.Minute+240*ms {
		t.Fatalf("PINGREQs at %v and %v, RTT %v", b.since(sent[0].Time), b.since(sent[1].Time), ok[0].RTT)
	}
	// The last MQTT traffic before the first PINGREQ was the PUBACK at 1.03 s.
	if sent[0].Idle != 5*time.Minute+180*ms-(time.Second+30*ms) {
		t.Fatalf("idle before the first PINGREQ %v", sent[0].Idle)
	}
	if st := b.srv.Stats(); st.Pings != 2 || st.Acked != 1 || st.ConnectionsOpen != 1 {
		t.Fatalf("server stats %+v", st)
	}
}

func TestEngineOutageDetectedByPingTimeout(t *testing.T) {
	b := newEngineBed(t, ServerConfig{})
	strat := &fixedStrategy{alarm: exact(time.Minute), ack: 20 * time.Second}
	c, log := b.client(t, strat, ClientConfig{Backoff: MicroGBackoff(), KeepAlive: 120 * time.Second})
	c.Start()
	link := b.dev.Link()
	link.ScheduleOutage(b.start.Add(10*time.Second), b.start.Add(200*time.Second))
	b.runTo(5 * time.Minute)

	failed := log.of(ClientKeepAliveFailed)
	if len(failed) != 1 || b.since(failed[0].Time) != 80*time.Second+180*ms {
		t.Fatalf("failed keep-alives %+v, want one at 80.18 s", failed)
	}
	disc := log.of(ClientDisconnected)
	if len(disc) == 0 || disc[0].Reason != ReasonPingTimeout {
		t.Fatalf("disconnects %+v, want ping_timeout first", disc)
	}
	// The server hears nothing for 1.5 x 120 s after SUBSCRIBE (150 ms).
	var srvDisc []ServerEvent
	for _, ev := range b.events {
		if ev.Kind == ServerDisconnected {
			srvDisc = append(srvDisc, ev)
		}
	}
	if len(srvDisc) == 0 || srvDisc[0].Reason != ReasonKeepAliveTimeout || b.since(srvDisc[0].Time) != 180*time.Second+150*ms {
		t.Fatalf("server disconnects %+v, want keepalive_timeout at 180.15 s", srvDisc)
	}
	// Reconnects fail while the link is down (SYNs are lost) and succeed
	// after it comes back at 200 s.
	conns := log.of(ClientConnected)
	if len(conns) != 2 || b.since(conns[1].Time) < 200*time.Second {
		t.Fatalf("connected events %+v, want a second one after the outage", conns)
	}
	if !c.Connected() {
		t.Fatal("client not connected at the end")
	}
}

func TestEngineAddressChangeReconnectsAtOnce(t *testing.T) {
	b := newEngineBed(t, ServerConfig{})
	strat := &fixedStrategy{alarm: exact(time.Hour), ack: 20 * time.Second}
	c, log := b.client(t, strat, ClientConfig{})
	b.dev.OnNetworkChange(func(sim.NetworkChange) { c.NetworkChanged(c.cfg.Network) })
	c.Start()
	b.w.Scheduler().At(b.start.Add(10*time.Second), func() {
		if err := b.dev.ChangeAddress(); err != nil {
			t.Error(err)
		}
	})
	b.runTo(time.Minute)
	conns := log.of(ClientConnected)
	if len(conns) != 2 || b.since(conns[1].Time) != 10*time.Second+180*ms || !conns[1].SessionPresent {
		t.Fatalf("connected %+v, want a second connection 180 ms after the change, session present", conns)
	}
	if n := len(log.of(ClientBackoff)); n != 0 {
		t.Fatalf("%d backoffs after a network change, want none", n)
	}
}
