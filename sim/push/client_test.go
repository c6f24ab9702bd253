package push

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/natsim/natsim/sim/radio"
	"github.com/natsim/natsim/sim/strategy"
)

// newTestClient builds a client on the bed with a fixed strategy.
func newTestClient(t *testing.T, b *bed, strat strategy.Strategy, cfg ClientConfig) (*Client, *clientLog) {
	t.Helper()
	log := &clientLog{}
	if cfg.ClientID == "" {
		cfg.ClientID = "dev1"
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 600 * time.Second
	}
	cfg.Observer = log
	c, err := NewClient(b.sched, rand.New(rand.NewPCG(1, 2)), strat, b.dial, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

const ms = time.Millisecond

func TestClientConnectsAndReceives(t *testing.T) {
	b := newBed(t, ServerConfig{}, d10)
	strat := &fixedStrategy{alarm: exact(time.Minute), ack: 10 * time.Second}
	var causes []radio.Cause
	c, log := newTestClient(t, b, strat, ClientConfig{Tag: func(cause radio.Cause, n int) {
		if n > 0 {
			causes = append(causes, cause)
		}
	}})
	c.Start()
	b.runTo(time.Second)
	// TCP handshake (2 delays), CONNECT/CONNACK, SUBSCRIBE/SUBACK: 60 ms.
	conn := log.of(ClientConnected)
	if len(conn) != 1 || !conn[0].Time.Equal(b.at(60*ms)) || strat.connected != 1 {
		t.Fatalf("connected events %+v", conn)
	}
	id, _ := b.srv.Publish("dev1", "devices/dev1", []byte("x"), 1, 0)
	b.runTo(3 * time.Second)
	pushes := log.of(ClientPushReceived)
	if len(pushes) != 1 || pushes[0].Msg != id || pushes[0].Latency != d10 {
		t.Fatalf("pushes %+v, want id %d with latency 10ms", pushes, id)
	}
	if acks := b.eventsOf(ServerPublishAcked); len(acks) != 1 || acks[0].Latency != 2*d10 {
		t.Fatalf("server acks %+v, want one after a round trip", acks)
	}
	want := []radio.Cause{radio.CauseReconnect, radio.CauseReconnect, radio.CausePush}
	if len(causes) != len(want) {
		t.Fatalf("write causes %v, want %v", causes, want)
	}
	for i := range want {
		if causes[i] != want[i] {
			t.Fatalf("write causes %v, want %v", causes, want)
		}
	}
}

func TestClientKeepAliveExactAlarm(t *testing.T) {
	b := newBed(t, ServerConfig{}, d10)
	strat := &fixedStrategy{alarm: exact(time.Minute), ack: 10 * time.Second}
	c, log := newTestClient(t, b, strat, ClientConfig{})
	c.Start()
	b.runTo(3 * time.Minute)
	sent := log.of(ClientKeepAliveSent)
	ok := log.of(ClientKeepAliveOK)
	if len(sent) != 2 || len(ok) != 2 {
		t.Fatalf("sent %d ok %d keep-alives in 3 min, want 2 and 2", len(sent), len(ok))
	}
	// Connected at 60 ms; the exact alarm fires at Latest after it, then
	// after each answer (20 ms round trip).
	if !sent[0].Time.Equal(b.at(time.Minute+60*ms)) || !sent[1].Time.Equal(b.at(2*time.Minute+80*ms)) {
		t.Fatalf("PINGREQs at %v and %v", sent[0].Time.Sub(epoch), sent[1].Time.Sub(epoch))
	}
	if ok[0].RTT != 2*d10 || sent[0].Idle != time.Minute {
		t.Fatalf("ok %+v sent %+v", ok[0], sent[0])
	}
	if len(strat.succeeded) != 2 || strat.succeeded[0] != time.Minute || len(strat.failed) != 0 {
		t.Fatalf("strategy saw succeeded %v failed %v", strat.succeeded, strat.failed)
	}
	if b.srv.Stats().Pings != 2 {
		t.Fatalf("server answered %d pings", b.srv.Stats().Pings)
	}
}

func TestClientAlarmWindowIsSeeded(t *testing.T) {
	fire := func(seed uint64) time.Duration {
		b := newBed(t, ServerConfig{}, d10)
		strat := &fixedStrategy{alarm: strategy.Alarm{Earliest: 30 * time.Second, Latest: time.Minute}, ack: 10 * time.Second}
		log := &clientLog{}
		c, err := NewClient(b.sched, rand.New(rand.NewPCG(seed, 0)), strat, b.dial, ClientConfig{ClientID: "d", KeepAlive: time.Hour, Observer: log})
		if err != nil {
			t.Fatal(err)
		}
		c.Start()
		b.runTo(2 * time.Minute)
		return log.of(ClientKeepAliveSent)[0].Time.Sub(epoch) - 60*ms
	}
	a, a2, other := fire(7), fire(7), fire(8)
	if a != a2 {
		t.Fatalf("same seed fired at %v and %v", a, a2)
	}
	for _, d := range []time.Duration{a, other} {
		if d < 30*time.Second || d > time.Minute {
			t.Fatalf("fired %v after connecting, outside [30s, 60s]", d)
		}
	}
	if a == other {
		t.Fatalf("seeds 7 and 8 both fired at %v", a)
	}
}

func TestClientDetectsDeadPathAndBacksOff(t *testing.T) {
	b := newBed(t, ServerConfig{}, d10)
	strat := &fixedStrategy{alarm: exact(time.Minute), ack: 10 * time.Second}
	c, log := newTestClient(t, b, strat, ClientConfig{Backoff: MicroGBackoff()})
	c.Start()
	b.runTo(time.Second)
	b.dialed[0].blackhole = true
	b.dialed[0].peer.blackhole = true
	b.runTo(2 * time.Minute)
	failed := log.of(ClientKeepAliveFailed)
	if len(failed) != 1 || !failed[0].Time.Equal(b.at(70*time.Second+60*ms)) || failed[0].Idle != time.Minute {
		t.Fatalf("failed keep-alives %+v, want one at 70.06 s after 60 s idle", failed)
	}
	if len(strat.failed) != 1 || strat.failed[0] != time.Minute || strat.disconnect != 1 {
		t.Fatalf("strategy failed %v disconnected %d", strat.failed, strat.disconnect)
	}
	disc := log.of(ClientDisconnected)
	if len(disc) != 1 || disc[0].Reason != ReasonPingTimeout || !disc[0].WasConnected {
		t.Fatalf("disconnects %+v", disc)
	}
	bo := log.of(ClientBackoff)
	if len(bo) != 1 || bo[0].Delay != 5*time.Second {
		t.Fatalf("backoff %+v, want microG's 5 s", bo)
	}
	conns := log.of(ClientConnected)
	if len(conns) != 2 || !conns[1].Time.Equal(b.at(75*time.Second+120*ms)) {
		t.Fatalf("connected %+v, want the second at 75.12 s", conns)
	}
	// The server learns of the dead connection only through the takeover.
	if d := b.eventsOf(ServerDisconnected); len(d) != 1 || d[0].Reason != ReasonTakeover {
		t.Fatalf("server disconnects %+v", d)
	}
	if st := c.Stats(); st.Connects != 2 || st.KeepAlivesFailed != 1 || st.Disconnects[ReasonPingTimeout] != 1 {
		t.Fatalf("client stats %+v", st)
	}
}

func TestClientNetworkChangeReconnectsAtOnceAndDedupes(t *testing.T) {
	b := newBed(t, ServerConfig{}, d10)
	strat := &fixedStrategy{alarm: exact(time.Hour), ack: 10 * time.Second}
	c, log := newTestClient(t, b, strat, ClientConfig{})
	c.Start()
	b.runTo(time.Second)
	b.dialed[0].blackhole = true // the PUBACK is lost
	id, _ := b.srv.Publish("dev1", "devices/dev1", nil, 1, 0)
	b.runTo(2 * time.Second)
	c.NetworkChanged(strategy.Network{Kind: "cellular", Label: "carrier"})
	b.runTo(2 * time.Second)
	if got := log.of(ClientConnecting); len(got) != 2 || !got[1].Time.Equal(b.at(2*time.Second)) {
		t.Fatalf("attempts %+v, want the second at once", got)
	}
	b.runTo(3 * time.Second)
	if !b.dialed[0].aborted {
		t.Fatal("old connection not aborted")
	}
	if got := log.of(ClientConnected); len(got) != 2 || !got[1].Time.Equal(b.at(2*time.Second+60*ms)) || !got[1].SessionPresent {
		t.Fatalf("connected %+v, want the second 60 ms after the change with session present", got)
	}
	dups := log.of(ClientPushDuplicate)
	if len(dups) != 1 || dups[0].Msg != id || !dups[0].Dup {
		t.Fatalf("duplicates %+v, want the redelivery of %d", dups, id)
	}
	if st := c.Stats(); st.Pushes != 1 || st.Duplicates != 1 || st.Disconnects[ReasonNetworkChanged] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if len(strat.failed) != 0 {
		t.Fatal("a network change was reported to the strategy as a failure")
	}
}

func TestClientTLSModelCostsRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		name      string
		m         TLSModel
		connected time.Duration
	}{
		{"none", TLSModel{}, 60 * ms},
		{"tls13", TLS13(), 80 * ms},
		{"tls12", TLS12(), 100 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t, ServerConfig{TLS: tc.m}, d10)
			c, log := newTestClient(t, b, &fixedStrategy{none: true}, ClientConfig{TLS: tc.m})
			c.Start()
			b.runTo(time.Second)
			got := log.of(ClientConnected)
			if len(got) != 1 || !got[0].Time.Equal(b.at(tc.connected)) {
				t.Fatalf("connected %+v, want at %v", got, tc.connected)
			}
			st := c.Stats()
			want := 0
			for _, e := range tc.m.Exchanges {
				want += e.Server
			}
			// CONNACK (4) + SUBACK (5) follow the server's flights.
			if st.BytesReceived != want+9 {
				t.Fatalf("received %d bytes, want %d", st.BytesReceived, want+9)
			}
		})
	}
}

func TestClientStopSendsDisconnect(t *testing.T) {
	b := newBed(t, ServerConfig{}, d10)
	c, log := newTestClient(t, b, &fixedStrategy{none: true}, ClientConfig{})
	c.Start()
	b.runTo(time.Second)
	c.Stop()
	b.runTo(time.Hour)
	if d := b.eventsOf(ServerDisconnected); len(d) != 1 || d[0].Reason != ReasonClientDisconnect {
		t.Fatalf("server disconnects %+v", d)
	}
	if n := len(log.of(ClientConnecting)); n != 1 {
		t.Fatalf("%d attempts after Stop, want no reconnect", n)
	}
}

func TestBackoffSchedules(t *testing.T) {
	m := MicroGBackoff()
	want := []time.Duration{5, 15, 25, 35, 45, 55, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 600}
	for k, w := range want {
		if got := m.Base(k); got != w*time.Second {
			t.Fatalf("microG attempt %d: %v, want %v s", k, got, w)
		}
	}
	e := ExponentialBackoff()
	rng := rand.New(rand.NewPCG(3, 4))
	for k := 0; k < 20; k++ {
		base := e.Base(k)
		d := e.Delay(k, rng)
		if d < time.Duration(float64(base)*0.8) || d > min(time.Duration(float64(base)*1.2), e.Max) {
			t.Fatalf("attempt %d: %v outside ±20%% of %v", k, d, base)
		}
	}
	if e.Base(30) != 5*time.Minute {
		t.Fatalf("exponential cap %v", e.Base(30))
	}
	if _, err := BackoffPreset("nope"); err == nil {
		t.Fatal("unknown preset accepted")
	}
	if err := (Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 0.5}).Validate(); err == nil {
		t.Fatal("shrinking multiplier accepted")
	}
}

func TestNewClientRejectsBadConfig(t *testing.T) {
	b := newBed(t, ServerConfig{}, d10)
	rng := rand.New(rand.NewPCG(1, 1))
	s := &fixedStrategy{}
	for _, cfg := range []ClientConfig{
		{},
		{ClientID: "d", KeepAlive: 1500 * ms},
		{ClientID: "d", KeepAlive: 70000 * time.Second},
		{ClientID: "d", Topic: "a/#/b"},
		{ClientID: "d", TLS: TLSModel{Exchanges: []TLSExchange{{Client: 0, Server: 1}}}},
	} {
		if _, err := NewClient(b.sched, rng, s, b.dial, cfg); err == nil {
			t.Errorf("NewClient(%+v) succeeded", cfg)
		}
	}
	if _, err := NewClient(b.sched, nil, s, b.dial, ClientConfig{ClientID: "d"}); err == nil {
		t.Error("nil rng accepted")
	}
}

// A full-stack run holds a client, two frame readers and a connection
// record on each side per device: their sizes are the push protocol's
// share of the per-device budget (docs/engine.md, "Memory of a full-stack
// run"). Each ceiling is the allocation size class the record fills.
func TestPerDeviceRecordSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"Client", unsafe.Sizeof(Client{}), 704},
		{"Reader", unsafe.Sizeof(Reader{}), 80},
		{"clientConn", unsafe.Sizeof(clientConn{}), 112},
		{"serverConn", unsafe.Sizeof(serverConn{}), 208},
	} {
		if c.size > c.max {
			t.Errorf("%s is %d bytes, want <= %d: every device pays for a field added here", c.name, c.size, c.max)
		}
	}
}

// A window as long as the server's inflight limit recognises every
// redelivery, however many QoS 0 pushes arrive in between
// (ClientConfig.DedupeWindow).
func TestClientDedupeWindowOfTheInflightLimitSuffices(t *testing.T) {
	const inflight = 3
	b := newBed(t, ServerConfig{MaxInflight: inflight}, d10)
	strat := &fixedStrategy{alarm: exact(time.Hour), ack: 10 * time.Second}
	c, log := newTestClient(t, b, strat, ClientConfig{DedupeWindow: inflight})
	c.Start()
	b.runTo(time.Second)
	b.dialed[0].blackhole = true // every PUBACK is lost
	var qos1 []MsgID
	for i := range 5 {
		id, err := b.srv.Publish("dev1", "devices/dev1", nil, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		qos1 = append(qos1, id)
		for range 4 * i {
			if _, err := b.srv.Publish("dev1", "devices/dev1", nil, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.runTo(2 * time.Second)
	c.NetworkChanged(strategy.Network{Kind: "cellular", Label: "carrier"})
	b.runTo(5 * time.Second)
	dups := log.of(ClientPushDuplicate)
	var got []MsgID
	for _, d := range dups {
		got = append(got, d.Msg)
	}
	if !slices.Equal(got, qos1[:inflight]) {
		t.Fatalf("duplicates %v, want the %d inflight pushes %v", got, inflight, qos1[:inflight])
	}
	if st := c.Stats(); st.Pushes != 5+4*(0+1+2+3+4) || st.Duplicates != inflight {
		t.Fatalf("stats %+v, want 45 pushes and %d duplicates", st, inflight)
	}
}
