package push

import (
	"errors"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/natsim/natsim/sim"
)

const d10 = 10 * time.Millisecond

func TestConnectSubscribePublishAck(t *testing.T) {
	b := newBed(t, ServerConfig{}, d10)
	r := b.dialRaw("dev1", 60, "devices/dev1")
	b.runTo(time.Second)
	if got := r.kinds(); len(got) != 2 || got[0] != packets.Connack || got[1] != packets.Suback {
		t.Fatalf("got packets %v, want CONNACK, SUBACK", got)
	}
	if r.got[0].SessionPresent {
		t.Fatal("first CONNACK says session present")
	}
	id, err := b.srv.Publish("dev1", "devices/dev1", []byte("hello"), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.runTo(2 * time.Second)
	pubs := r.publishes()
	if len(pubs) != 1 {
		t.Fatalf("got %d publishes, want 1", len(pubs))
	}
	gotID, published, body, ok := DecodeEnvelope(pubs[0].Payload)
	if !ok || gotID != id || string(body) != "hello" || !published.Equal(b.at(time.Second)) {
		t.Fatalf("envelope = %v %v %q %v, want %v at 1s hello", gotID, published, body, ok, id)
	}
	if at := r.gotAt[len(r.gotAt)-1]; !at.Equal(b.at(time.Second + d10)) {
		t.Fatalf("push arrived at %v, want 1s + one-way delay", at.Sub(epoch))
	}
	r.puback(pubs[0].PacketID)
	b.runTo(3 * time.Second)
	acks := b.eventsOf(ServerPublishAcked)
	if len(acks) != 1 || acks[0].Msg != id || acks[0].Latency != time.Second+d10 {
		t.Fatalf("acked events %+v, want one for %d with latency 1.01s", acks, id)
	}
	st := b.srv.Stats()
	if st.Published != 1 || st.Sent != 1 || st.Acked != 1 || st.Sessions != 1 || st.SessionsOnline != 1 || st.ConnectionsOpen != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestKeepAliveEnforcedAtOneAndAHalfTimes(t *testing.T) {
	b := newBed(t, ServerConfig{}, d10)
	r := b.dialRaw("dev1", 60, "")
	// CONNECT arrives at 3 one-way delays (30 ms): the server's clock for
	// the keep-alive starts there. A PINGREQ sent at 50 s arrives at
	// 50.01 s and restarts it: the close must come at 50.01 + 90 s.
	b.sched.At(b.at(50*time.Second), func() { r.conn.Write(pingreqBytes) })
	b.runTo(140*time.Second + 9*time.Millisecond)
	if r.isClosed {
		t.Fatal("closed before 1.5 x keep-alive after the last packet")
	}
	b.runTo(140*time.Second + d10 + d10)
	if !r.isClosed || !errors.Is(r.closed, sim.ErrReset) {
		t.Fatalf("client closed=%v err=%v, want reset by the server", r.isClosed, r.closed)
	}
	ds := b.eventsOf(ServerDisconnected)
	if len(ds) != 1 || ds[0].Reason != ReasonKeepAliveTimeout || !ds[0].Time.Equal(b.at(140*time.Second+d10)) {
		t.Fatalf("disconnects %+v, want keepalive_timeout at exactly 140.01s", ds)
	}
	if got := b.srv.Stats().Closes[ReasonKeepAliveTimeout]; got != 1 {
		t.Fatalf("keepalive_timeout closes = %d", got)
	}
}

func TestConnectTimeout(t *testing.T) {
	b := newBed(t, ServerConfig{ConnectTimeout: 5 * time.Second}, d10)
	r := &raw{b: b, r: NewReader(0)}
	b.dial(DialOptions{}, r)
	b.runTo(time.Minute)
	rej := b.eventsOf(ServerRejected)
	if len(rej) != 1 || rej[0].Reason != ReasonConnectTimeout || !rej[0].Time.Equal(b.at(5*time.Second+d10)) {
		t.Fatalf("rejections %+v, want connect_timeout 5 s after accept", rej)
	}
	if st := b.srv.Stats(); st.ConnectionsOpen != 0 || st.Closes[ReasonConnectTimeout] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSessionTakeover(t *testing.T) {
	b := newBed(t, ServerConfig{}, d10)
	old := b.dialRaw("dev1", 600, "devices/dev1")
	b.runTo(time.Second)
	// The phone's old path dies silently; it reconnects on a new one
	// before the server's keep-alive check notices.
	b.dialed[0].blackhole = true
	b.dialed[0].peer.blackhole = true
	neu := b.dialRaw("dev1", 600, "devices/dev1")
	b.runTo(2 * time.Second)
	ds := b.eventsOf(ServerDisconnected)
	if len(ds) != 1 || ds[0].Reason != ReasonTakeover {
		t.Fatalf("disconnects %+v, want one takeover", ds)
	}
	if len(neu.got) == 0 || !neu.got[0].SessionPresent {
		t.Fatalf("new connection got %v, want CONNACK with session present", neu.kinds())
	}
	st := b.srv.Stats()
	if st.Sessions != 1 || st.SessionsOnline != 1 || st.ConnectionsOpen != 1 || st.Closes[ReasonTakeover] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := b.srv.Publish("dev1", "devices/dev1", nil, 0, 0); err != nil {
		t.Fatal(err)
	}
	b.runTo(3 * time.Second)
	if len(neu.publishes()) != 1 || len(old.publishes()) != 0 {
		t.Fatalf("push went to old=%d new=%d, want new only", len(old.publishes()), len(neu.publishes()))
	}
}

func TestRedeliveryWithDupAndWrittenUnacked(t *testing.T) {
	b := newBed(t, ServerConfig{}, d10)
	first := b.dialRaw("dev1", 600, "devices/dev1")
	b.runTo(time.Second)
	b.dialed[0].blackhole = true // the PUBACK never reaches the server
	id1, _ := b.srv.Publish("dev1", "devices/dev1", []byte("a"), 1, 0)
	id2, _ := b.srv.Publish("dev1", "devices/dev1", []byte("b"), 1, 0)
	b.runTo(2 * time.Second)
	p1 := first.publishes()
	if len(p1) != 2 {
		t.Fatalf("first connection got %d pushes, want 2", len(p1))
	}
	first.puback(p1[0].PacketID)
	first.puback(p1[1].PacketID)
	b.runTo(3 * time.Second)
	second := b.dialRaw("dev1", 600, "devices/dev1")
	b.runTo(4 * time.Second)
	if d := b.eventsOf(ServerDisconnected); len(d) != 1 || d[0].Unacked != 2 {
		t.Fatalf("disconnects %+v, want takeover with 2 unacked", d)
	}
	p2 := second.publishes()
	if len(p2) != 2 {
		t.Fatalf("second connection got %d pushes, want 2 redeliveries", len(p2))
	}
	for i, want := range []MsgID{id1, id2} {
		id, _, _, _ := DecodeEnvelope(p2[i].Payload)
		if id != want || !p2[i].FixedHeader.Dup || p2[i].PacketID != p1[i].PacketID {
			t.Fatalf("redelivery %d: id %d dup %v pid %d, want id %d with DUP and pid %d", i, id, p2[i].FixedHeader.Dup, p2[i].PacketID, want, p1[i].PacketID)
		}
	}
	st := b.srv.Stats()
	if st.WrittenUnacked != 2 || st.Redelivered != 2 || st.Sent != 4 {
		t.Fatalf("stats %+v, want 2 written-unacked, 2 redelivered, 4 sent", st)
	}
}

func TestInflightWindow(t *testing.T) {
	b := newBed(t, ServerConfig{MaxInflight: 2}, d10)
	r := b.dialRaw("dev1", 600, "devices/dev1")
	b.runTo(time.Second)
	for i := 0; i < 5; i++ {
		b.srv.Publish("dev1", "devices/dev1", nil, 1, 0)
	}
	b.runTo(2 * time.Second)
	if n := len(r.publishes()); n != 2 {
		t.Fatalf("got %d pushes with a window of 2", n)
	}
	r.puback(r.publishes()[0].PacketID)
	b.runTo(3 * time.Second)
	if n := len(r.publishes()); n != 3 {
		t.Fatalf("got %d pushes after one PUBACK, want 3", n)
	}
	if info, _ := b.srv.Session("dev1"); info.Inflight != 2 || info.Stored != 2 {
		t.Fatalf("session %+v, want 2 inflight and 2 stored", info)
	}
}

func TestOfflinePolicies(t *testing.T) {
	cases := []struct {
		name      string
		cfg       ServerConfig
		topics    []string
		delivered int
		drops     map[DropReason]int
	}{
		{"keep-all", ServerConfig{Offline: KeepAll}, []string{"a", "a", "b"}, 3, map[DropReason]int{}},
		{"keep-all bounded", ServerConfig{Offline: KeepAll, OfflineLimit: 2}, []string{"a", "a", "b"}, 2, map[DropReason]int{DropOverflow: 1}},
		{"keep-last per topic", ServerConfig{Offline: KeepLast}, []string{"a", "a", "b", "a"}, 2, map[DropReason]int{DropReplaced: 2}},
		{"keep-n oldest", ServerConfig{Offline: KeepN, OfflineLimit: 2}, []string{"a", "b", "c"}, 2, map[DropReason]int{DropOverflow: 1}},
		{"keep-n flush", ServerConfig{Offline: KeepN, OfflineLimit: 2, FlushOnOverflow: true}, []string{"a", "b", "c"}, 1, map[DropReason]int{DropOverflow: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t, tc.cfg, d10)
			var last MsgID
			for _, topic := range tc.topics {
				id, err := b.srv.Publish("dev1", "devices/dev1/"+topic, nil, 1, 0)
				if err != nil {
					t.Fatal(err)
				}
				last = id
			}
			r := b.dialRaw("dev1", 600, "devices/dev1/+")
			b.runTo(time.Second)
			pubs := r.publishes()
			if len(pubs) != tc.delivered {
				t.Fatalf("delivered %d, want %d", len(pubs), tc.delivered)
			}
			if id, _, _, _ := DecodeEnvelope(pubs[len(pubs)-1].Payload); id != last {
				t.Fatalf("last delivered %d, want newest %d", id, last)
			}
			if got := b.srv.Stats().Dropped; len(got) != len(tc.drops) {
				t.Fatalf("drops %v, want %v", got, tc.drops)
			} else {
				for k, v := range tc.drops {
					if got[k] != v {
						t.Fatalf("drops %v, want %v", got, tc.drops)
					}
				}
			}
		})
	}
}

func TestTTL(t *testing.T) {
	b := newBed(t, ServerConfig{DefaultTTL: time.Hour}, d10)
	b.srv.Publish("dev1", "devices/dev1", []byte("short"), 1, 10*time.Second)
	keep, _ := b.srv.Publish("dev1", "devices/dev1", []byte("default"), 1, 0)
	b.runTo(20 * time.Second)
	r := b.dialRaw("dev1", 600, "devices/dev1")
	b.runTo(21 * time.Second)
	pubs := r.publishes()
	if len(pubs) != 1 {
		t.Fatalf("delivered %d, want 1", len(pubs))
	}
	if id, _, _, _ := DecodeEnvelope(pubs[0].Payload); id != keep {
		t.Fatalf("delivered %d, want %d", id, keep)
	}
	if got := b.srv.Stats().Dropped[DropTTL]; got != 1 {
		t.Fatalf("ttl drops %d, want 1", got)
	}
	// Expire sweeps pushes for devices that never come back.
	b.srv.Publish("dev2", "devices/dev2", nil, 1, time.Second)
	b.runTo(30 * time.Second)
	b.srv.Expire()
	if st := b.srv.Stats(); st.Dropped[DropTTL] != 2 || st.Stored != 0 {
		t.Fatalf("after Expire: %+v", st)
	}
}

func TestHeartbeat(t *testing.T) {
	b := newBed(t, ServerConfig{Heartbeat: Heartbeat{Interval: 30 * time.Second}}, d10)
	r := b.dialRaw("dev1", 600, "")
	b.runTo(61 * time.Second)
	pubs := r.publishes()
	if len(pubs) != 2 || pubs[0].TopicName != DefaultHeartbeatTopic || pubs[0].FixedHeader.Qos != 0 {
		t.Fatalf("heartbeats %+v", pubs)
	}
	// CONNECT reaches the server at 30 ms; beats at +30 s and +60 s.
	if got := r.gotAt[1]; !got.Equal(b.at(30*time.Second + 30*time.Millisecond + d10)) {
		t.Fatalf("first heartbeat at %v", got.Sub(epoch))
	}
}

func TestProtocolErrorsCloseOnlyThatConnection(t *testing.T) {
	cases := []struct {
		name   string
		bytes  []byte
		reason Reason
	}{
		{"first packet not CONNECT", pingreqBytes, ReasonProtocolError},
		{"reserved type", []byte{0xF0, 0}, ReasonProtocolError},
		{"remaining length 5 bytes", []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}, ReasonProtocolError},
		{"too large", []byte{0x10, 0xff, 0xff, 0x7f}, ReasonPacketTooLarge},
		{"PINGREQ with body", []byte{0xC0, 1, 0}, ReasonProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBed(t, ServerConfig{}, d10)
			good := b.dialRaw("good", 600, "devices/good")
			bad := &raw{b: b, r: NewReader(0), onConn: func(r *raw) { r.conn.Write(tc.bytes) }}
			b.dial(DialOptions{}, bad)
			b.runTo(time.Second)
			if !bad.isClosed {
				t.Fatal("hostile connection still open")
			}
			if got := b.srv.Stats().Closes[tc.reason]; got != 1 {
				t.Fatalf("closes %v, want one %v", b.srv.Stats().Closes, tc.reason)
			}
			b.srv.Publish("good", "devices/good", nil, 1, 0)
			b.runTo(2 * time.Second)
			if len(good.publishes()) != 1 || good.isClosed {
				t.Fatal("the other session was affected")
			}
		})
	}
}

func TestCleanSessionIsDiscarded(t *testing.T) {
	b := newBed(t, ServerConfig{}, d10)
	r := &raw{b: b, r: NewReader(0), onConn: func(r *raw) { r.connect("", 60, true) }}
	b.dial(DialOptions{}, r)
	b.runTo(time.Second)
	if len(r.got) != 1 || r.got[0].ReasonCode != 0 {
		t.Fatalf("got %v", r.kinds())
	}
	if b.srv.Stats().Sessions != 1 {
		t.Fatal("no auto-id session")
	}
	r.conn.Write(disconnectBytes)
	b.runTo(2 * time.Second)
	if st := b.srv.Stats(); st.Sessions != 0 || st.Closes[ReasonClientDisconnect] != 1 {
		t.Fatalf("stats %+v, want the clean session gone", st)
	}
	// An empty id with a persistent session is refused (MQTT-3.1.3-8).
	r2 := &raw{b: b, r: NewReader(0), onConn: func(r *raw) { r.connect("", 60, false) }}
	b.dial(DialOptions{}, r2)
	b.runTo(3 * time.Second)
	if len(r2.got) != 1 || r2.got[0].ReasonCode != 2 || !r2.isClosed {
		t.Fatalf("got %+v closed %v, want CONNACK 2 and close", r2.got, r2.isClosed)
	}
}

func TestPublishValidation(t *testing.T) {
	b := newBed(t, ServerConfig{MaxPacketSize: 100}, d10)
	for _, tc := range []struct {
		id, topic string
		payload   []byte
		qos       byte
		ttl       time.Duration
	}{
		{"", "t", nil, 0, 0},
		{"d", "", nil, 0, 0},
		{"d", "a/#", nil, 0, 0},
		{"d", "t", nil, 2, 0},
		{"d", "t", nil, 0, -1},
		{"d", "t", make([]byte, 100), 0, 0},
	} {
		if _, err := b.srv.Publish(tc.id, tc.topic, tc.payload, tc.qos, tc.ttl); err == nil {
			t.Errorf("Publish(%q, %q, %d bytes, %d, %v) succeeded", tc.id, tc.topic, len(tc.payload), tc.qos, tc.ttl)
		}
	}
}

func TestTopicMatch(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/#", "a/b/c", true},
		{"a/#", "a", true},
		{"#", "a/b", true},
		{"+/b", "a/b", true},
		{"#", "$natsim/heartbeat", false},
		{"a/b", "a/c", false},
		{"a/+/c", "a/b/c", true},
	} {
		if got := topicMatch(tc.filter, tc.topic); got != tc.want {
			t.Errorf("topicMatch(%q, %q) = %v", tc.filter, tc.topic, got)
		}
	}
}
