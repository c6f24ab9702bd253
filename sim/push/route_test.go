package push

import (
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestRoutePublishesToMatchingSessions(t *testing.T) {
	b := newBed(t, ServerConfig{RoutePublishes: true, Offline: KeepAll}, d10)
	sub := b.dialRaw("sub", 60, "news/+")
	other := b.dialRaw("other", 60, "sport/#")
	pub := b.dialRaw("pub", 60, "")
	b.runTo(time.Second)
	pub.send(packets.Publish, packets.Packet{FixedHeader: packets.FixedHeader{Qos: 1}, TopicName: "news/today", PacketID: 7, Payload: []byte("raw bytes")})
	b.runTo(2 * time.Second)
	pubs := sub.publishes()
	if len(pubs) != 1 || string(pubs[0].Payload) != "raw bytes" || pubs[0].TopicName != "news/today" || pubs[0].FixedHeader.Qos != 1 {
		t.Fatalf("subscriber got %+v, want one QoS 1 news/today with the payload as sent", pubs)
	}
	if n := len(other.publishes()); n != 0 {
		t.Fatalf("non-matching subscriber got %d publishes", n)
	}
	if k := pub.kinds(); len(k) != 2 || k[1] != packets.Puback {
		t.Fatalf("publisher got %v, want CONNACK, PUBACK", k)
	}
}

func TestPublishesNotRoutedByDefault(t *testing.T) {
	b := newBed(t, ServerConfig{}, d10)
	sub := b.dialRaw("sub", 60, "news/+")
	pub := b.dialRaw("pub", 60, "")
	b.runTo(time.Second)
	pub.send(packets.Publish, packets.Packet{TopicName: "news/today", Payload: []byte("x")})
	b.runTo(2 * time.Second)
	if n := len(sub.publishes()); n != 0 {
		t.Fatalf("got %d routed publishes without RoutePublishes", n)
	}
}

func TestKeepAliveFactor(t *testing.T) {
	b := newBed(t, ServerConfig{KeepAliveFactor: 2}, d10)
	r := b.dialRaw("dev1", 10, "")
	b.runTo(19 * time.Second)
	if r.isClosed {
		t.Fatal("closed before 2 x keep-alive")
	}
	b.runTo(21 * time.Second)
	if !r.isClosed {
		t.Fatal("not closed after 2 x keep-alive")
	}
	if _, err := NewServer(b.sched, ServerConfig{KeepAliveFactor: 0.5}); err == nil {
		t.Fatal("factor 0.5 accepted")
	}
}
