package push

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/natsim/natsim/sim"
)

func encodePublish(t testing.TB, topic string, payload []byte, qos byte, pid uint16) []byte {
	var buf bytes.Buffer
	pk := packets.Packet{TopicName: topic, Payload: payload, PacketID: pid}
	pk.FixedHeader.Qos = qos
	if err := encode(&buf, packets.Publish, &pk); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReaderReassemblesAcrossAnySplit(t *testing.T) {
	var stream []byte
	stream = append(stream, encodePublish(t, "devices/a", bytes.Repeat([]byte{7}, 300), 1, 9)...) // 2-byte length
	stream = append(stream, pingrespBytes...)
	stream = append(stream, encodePublish(t, "t", nil, 0, 0)...)
	for split := 1; split <= len(stream); split++ {
		r := NewReader(0)
		var got []byte
		var topics []string
		for off := 0; off < len(stream); off += split {
			chunk := bytes.Clone(stream[off:min(off+split, len(stream))])
			r.Feed(chunk)
			for {
				h, body, ok, err := r.Next()
				if err != nil {
					t.Fatalf("split %d: %v", split, err)
				}
				if !ok {
					break
				}
				pk, err := Decode(h, body)
				if err != nil {
					t.Fatalf("split %d: %v", split, err)
				}
				got = append(got, pk.FixedHeader.Type)
				topics = append(topics, string([]byte(pk.TopicName)))
			}
			clear(chunk) // the caller's buffer is reused after OnData
		}
		if string(got) != string([]byte{packets.Publish, packets.Pingresp, packets.Publish}) || topics[0] != "devices/a" || topics[2] != "t" {
			t.Fatalf("split %d: got %v %q", split, got, topics)
		}
		if r.Buffered() != 0 {
			t.Fatalf("split %d: %d bytes left", split, r.Buffered())
		}
	}
}

func TestReaderBounds(t *testing.T) {
	r := NewReader(64)
	r.Feed([]byte{0x30, 63}) // 65 bytes in all: over the limit before any body arrives
	if _, _, _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	r.Feed([]byte{0xC0, 0})
	if _, _, _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatal("reader recovered after a framing error")
	}
	r = NewReader(0)
	r.Feed([]byte{0x30, 0x80, 0x80, 0x80, 0x80})
	if _, _, _, err := r.Next(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed for a 5-byte length", err)
	}
}

func TestDecodeRejectsBadFlagsAndLengths(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    byte
		body []byte
	}{
		{"PUBLISH QoS 3", 0x36, []byte{0, 1, 't', 0, 1}},
		{"SUBSCRIBE flags 0000", 0x80, []byte{0, 1, 0, 1, 't', 1}},
		{"PUBACK short", 0x40, []byte{0}},
		{"CONNECT truncated", 0x10, []byte{0, 4, 'M'}},
		{"DUP on QoS 0", 0x38, []byte{0, 1, 't'}},
		{"QoS 2 PUBREL", 0x62, []byte{0, 1}},
	} {
		if _, err := Decode(tc.h, tc.body); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", tc.name, err)
		}
	}
}

func TestPubackMatchesCodec(t *testing.T) {
	var buf bytes.Buffer
	pk := packets.Packet{PacketID: 0xBEEF}
	if err := encode(&buf, packets.Puback, &pk); err != nil {
		t.Fatal(err)
	}
	if got := appendPuback(nil, 0xBEEF); !bytes.Equal(got, buf.Bytes()) {
		t.Fatalf("hand-built PUBACK %x, codec %x", got, buf.Bytes())
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	p := EncodeEnvelope(42, at, []byte("body"))
	id, got, body, ok := DecodeEnvelope(p)
	if !ok || id != 42 || !got.Equal(at) || string(body) != "body" {
		t.Fatalf("got %v %v %q %v", id, got, body, ok)
	}
	if _, _, body, ok := DecodeEnvelope([]byte("foreign payload from a real provider")); ok || string(body) != "foreign payload from a real provider" {
		t.Fatal("foreign payload decoded as an envelope")
	}
}

// nopConn is a sim.Conn that swallows writes and records closes, for
// driving a server handler directly.
type nopConn struct{ closed, aborted bool }

func (c *nopConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *nopConn) Close() error                { c.closed = true; return nil }
func (c *nopConn) Abort()                      { c.aborted = true }
func (c *nopConn) LocalAddr() netip.AddrPort   { return netip.AddrPort{} }
func (c *nopConn) RemoteAddr() netip.AddrPort  { return netip.MustParseAddrPort("192.0.2.1:5000") }

// FuzzServerInput feeds arbitrary bytes, in arbitrary pieces, into one
// server connection next to a healthy session. It must never panic; if the
// connection is closed it is with a counted reason; the healthy session
// still gets its push.
func FuzzServerInput(f *testing.F) {
	var connect bytes.Buffer
	var pk packets.Packet
	pk.Connect.ProtocolName = []byte("MQTT")
	pk.Connect.ClientIdentifier = "good"
	pk.Connect.Keepalive = 60
	encode(&connect, packets.Connect, &pk)
	f.Add(connect.Bytes(), uint8(3))
	f.Add(append(bytes.Clone(connect.Bytes()), 0x82, 6, 0, 1, 0, 1, '#', 1), uint8(1))
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}, uint8(2))
	f.Add(append(bytes.Clone(connect.Bytes()), encodePublish(f, "x", []byte("y"), 1, 3)...), uint8(5))
	var willConnect bytes.Buffer
	testWill.setWill(&pk)
	encode(&willConnect, packets.Connect, &pk)
	f.Add(willConnect.Bytes(), uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		b := newBed(t, ServerConfig{MaxPacketSize: 1024}, d10)
		good := b.dialRaw("victim", 60, "devices/victim")
		b.runTo(time.Second)
		h := b.srv.Accept()
		c := &nopConn{}
		h.OnConnected(c)
		step := int(split%16) + 1
		for off := 0; off < len(data); off += step {
			h.OnData(c, bytes.Clone(data[off:min(off+step, len(data))]))
		}
		if c.closed || c.aborted {
			h.OnClosed(c, sim.ErrClosedLocally)
			st := b.srv.Stats()
			total := 0
			for _, n := range st.Closes {
				total += n
			}
			if total == 0 {
				t.Fatal("connection closed without a counted reason")
			}
		}
		if b.srv.Stats().Closes[ReasonTakeover] > 0 {
			return // the input connected as "victim": a legitimate takeover
		}
		if _, err := b.srv.Publish("victim", "devices/victim", []byte("p"), 1, 0); err != nil {
			t.Fatal(err)
		}
		b.runTo(2 * time.Second)
		if good.isClosed || len(good.publishes()) != 1 {
			t.Fatalf("healthy session affected: closed=%v pushes=%d", good.isClosed, len(good.publishes()))
		}
	})
}
