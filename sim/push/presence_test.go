package push

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// heard is what a Listener received.
type heard struct {
	topic, payload string
	at             time.Duration
}

func (b *engineBed) listen(t *testing.T, filter string) *[]heard {
	t.Helper()
	var got []heard
	if err := b.srv.Listen(filter, func(topic string, payload []byte, at time.Time) {
		got = append(got, heard{topic, string(payload), b.since(at)})
	}); err != nil {
		t.Fatal(err)
	}
	return &got
}

func (b *engineBed) serverEvents(k ServerEventKind) []ServerEvent { return serverEventsOf(b.events, k) }

// offAt10s starts a client with testWill and keep-alive 60 s (a PINGREQ
// every minute), listens on filter, and switches the device off at 10 s.
func (b *engineBed) offAt10s(t *testing.T, filter string) (*Client, *[]heard) {
	t.Helper()
	got := b.listen(t, filter)
	c, _ := b.client(t, &fixedStrategy{alarm: exact(time.Minute), ack: 10 * time.Second}, ClientConfig{KeepAlive: time.Minute, Will: testWill})
	c.Start()
	b.runTo(10 * time.Second)
	b.dev.SetInterfaceUp(false)
	c.PowerOff()
	return c, got
}

// on switches the device back on.
func (b *engineBed) on(c *Client) {
	b.dev.SetInterfaceUp(true)
	c.PowerOn()
}

var testWill = &Will{Topic: "presence/phone", Payload: []byte("offline"), QoS: 1, Online: []byte("online")}

// A device switched off is declared gone by keep-alive expiry, 1.5 K
// after its last packet, and its will is published; after it comes back
// the birth message announces it; a DISCONNECT publishes no will.
func TestWillOnKeepAliveExpiryNotOnDisconnect(t *testing.T) {
	b := newEngineBed(t, ServerConfig{})
	c, got := b.offAt10s(t, "presence/#")
	b.runTo(200 * time.Second)
	wills := b.serverEvents(ServerWillPublished)
	if len(wills) != 1 || wills[0].Reason != ReasonKeepAliveTimeout || wills[0].Topic != "presence/phone" {
		t.Fatalf("wills %+v, want one for keepalive_timeout", wills)
	}
	// The birth PUBLISH (sent on SUBACK) is the last packet the server
	// heard; the will follows 1.5 K after it.
	if len(*got) != 2 || (*got)[0].payload != "online" || (*got)[1].payload != "offline" {
		t.Fatalf("listener heard %+v, want online then offline", *got)
	}
	if d := (*got)[1].at - (*got)[0].at; d != 90*time.Second {
		t.Errorf("will %v after the birth message, want 1.5 x 60 s", d)
	}
	b.on(c)
	b.runTo(210 * time.Second)
	if !c.Connected() || len(*got) != 3 || (*got)[2].payload != "online" {
		t.Fatalf("after PowerOn: connected %v, heard %+v", c.Connected(), *got)
	}
	c.Stop()
	b.runTo(400 * time.Second)
	if n := len(b.serverEvents(ServerWillPublished)); n != 1 {
		t.Errorf("%d wills after DISCONNECT, want still 1", n)
	}
}

// A device back before the server noticed takes its session over: the
// server never declared it gone, so no will.
func TestNoWillOnTakeover(t *testing.T) {
	b := newEngineBed(t, ServerConfig{})
	c, got := b.offAt10s(t, "presence/+")
	b.runTo(40 * time.Second)
	b.on(c)
	b.runTo(300 * time.Second)
	if n := len(b.serverEvents(ServerWillPublished)); n != 0 {
		t.Fatalf("%d wills, want none", n)
	}
	disc := b.serverEvents(ServerDisconnected)
	if len(disc) != 1 || disc[0].Reason != ReasonTakeover {
		t.Fatalf("server disconnects %+v, want one takeover", disc)
	}
	if len(*got) != 2 || (*got)[1].payload != "online" || (*got)[1].at < 40*time.Second {
		t.Fatalf("listener heard %+v, want two births", *got)
	}
}

// A suspended app keeps its connection: what arrives waits until Resume,
// and a keep-alive that fell due while suspended fires at Resume, in time
// for the server's 1.5 K.
func TestSuspendHoldsInputAndResumeFiresAMissedKeepAlive(t *testing.T) {
	b := newEngineBed(t, ServerConfig{})
	c, log := b.client(t, &fixedStrategy{alarm: exact(time.Minute), ack: 10 * time.Second}, ClientConfig{KeepAlive: time.Minute})
	c.Start()
	b.runTo(10 * time.Second)
	c.Suspend()
	b.w.Scheduler().At(b.start.Add(20*time.Second), func() {
		if _, err := b.srv.Publish("phone", "devices/phone", []byte("hi"), 1, 0); err != nil {
			t.Error(err)
		}
	})
	b.runTo(70 * time.Second)
	if n := len(log.of(ClientPushReceived)) + len(log.of(ClientKeepAliveSent)); n != 0 {
		t.Fatalf("%d pushes or keep-alives while suspended, want none", n)
	}
	c.Resume()
	b.runTo(80 * time.Second)
	pushes, pings := log.of(ClientPushReceived), log.of(ClientKeepAliveSent)
	if len(pushes) != 1 || b.since(pushes[0].Time) != 70*time.Second || pushes[0].Latency != 50*time.Second {
		t.Fatalf("pushes %+v, want one at 70 s, 50 s late", pushes)
	}
	if len(pings) != 1 || b.since(pings[0].Time) != 70*time.Second {
		t.Fatalf("keep-alives %+v, want the missed one at 70 s", pings)
	}
	b.runTo(200 * time.Second)
	if disc := b.serverEvents(ServerDisconnected); len(disc) != 0 {
		t.Fatalf("server disconnects %+v, want none", disc)
	}
}

func TestWillValidate(t *testing.T) {
	for _, w := range []Will{{Topic: "a/+"}, {Topic: ""}, {Topic: "a", QoS: 2}} {
		if err := w.Validate(); err == nil {
			t.Errorf("%+v: no error", w)
		}
	}
	b := newEngineBed(t, ServerConfig{})
	_, err := NewClient(b.w.Clock(), rand.New(rand.NewPCG(1, 1)), &fixedStrategy{}, DialerTo(b.dev.DialTCP, engineServer),
		ClientConfig{ClientID: "phone", Will: &Will{Topic: "presence/#"}})
	if err == nil || !strings.Contains(err.Error(), "will") {
		t.Fatalf("NewClient with a wildcard will topic: %v", err)
	}
	if err := b.srv.Listen("a/#/b", func(string, []byte, time.Time) {}); err == nil || !strings.Contains(err.Error(), "Listen") {
		t.Errorf("Listen accepted a bad filter: %v", err)
	}
}

// Server heartbeats with a deadline are probes: an answered probe keeps
// the connection (no keep-alive from the device at all), an unanswered one
// ends it AckTimeout after it was sent, and the will goes out.
func TestHeartbeatProbeDeclaresASilentDeviceGone(t *testing.T) {
	b := newEngineBed(t, ServerConfig{Heartbeat: Heartbeat{Interval: 30 * time.Second, AckTimeout: 5 * time.Second}})
	got := b.listen(t, "presence/phone")
	c, log := b.client(t, &fixedStrategy{alarm: exact(time.Hour), ack: 10 * time.Second}, ClientConfig{KeepAlive: 3600 * time.Second, Will: testWill})
	c.Start()
	b.runTo(40 * time.Second)
	if n := len(log.of(ClientHeartbeat)); n != 1 {
		t.Fatalf("%d heartbeats by 40 s, want 1", n)
	}
	b.dev.SetInterfaceUp(false)
	c.PowerOff()
	b.runTo(120 * time.Second)
	conn := b.serverEvents(ServerConnected)[0].Time
	disc := b.serverEvents(ServerDisconnected)
	if len(disc) != 1 || disc[0].Reason != ReasonHeartbeatTimeout {
		t.Fatalf("server disconnects %+v, want one heartbeat_timeout", disc)
	}
	if d := disc[0].Time.Sub(conn); d != 65*time.Second {
		t.Errorf("declared gone %v after CONNACK, want the second probe (60 s) + 5 s", d)
	}
	if len(*got) != 2 || (*got)[1].payload != "offline" {
		t.Errorf("listener heard %+v, want the will", *got)
	}
	if st := b.srv.Stats(); st.Heartbeats != 2 || st.Closes[ReasonHeartbeatTimeout] != 1 {
		t.Errorf("stats %+v", st)
	}
}
