package push

import (
	"bytes"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// The floor for framing + decoding a PUBLISH is the codec's own decode of
// the same bytes, with the fixed header parsed by hand as mochi's server
// does it from its bufio.Reader. Report BenchmarkReadPublish as a ratio to
// BenchmarkCodecPublishFloor.

func benchPublish(b *testing.B) []byte {
	return encodePublish(b, "devices/phone-000001", EncodeEnvelope(1, epoch, make([]byte, 64)), 1, 7)
}

// BenchmarkCodecPublishFloor decodes a PUBLISH with the codec alone.
func BenchmarkCodecPublishFloor(b *testing.B) {
	wire := benchPublish(b)
	body := wire[2:] // one-byte remaining length for this size
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		var pk packets.Packet
		pk.ProtocolVersion = protocolVersion
		if err := pk.FixedHeader.Decode(wire[0]); err != nil {
			b.Fatal(err)
		}
		pk.FixedHeader.Remaining = len(body)
		if err := pk.PublishDecode(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadPublish frames (Reader) and decodes (Decode) the same bytes
// delivered in one OnData call.
func BenchmarkReadPublish(b *testing.B) {
	wire := benchPublish(b)
	r := NewReader(0)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		r.Feed(wire)
		h, body, ok, err := r.Next()
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
		if _, err := Decode(h, body); err != nil {
			b.Fatal(err)
		}
		if _, _, ok, _ := r.Next(); ok {
			b.Fatal("extra packet")
		}
	}
}

// BenchmarkReadPublishSplit delivers the PUBLISH in two segments, the
// slow path that copies the incomplete head.
func BenchmarkReadPublishSplit(b *testing.B) {
	wire := benchPublish(b)
	half := len(wire) / 2
	r := NewReader(0)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		r.Feed(wire[:half])
		if _, _, ok, _ := r.Next(); ok {
			b.Fatal("early packet")
		}
		r.Feed(wire[half:])
		h, body, ok, err := r.Next()
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
		if _, err := Decode(h, body); err != nil {
			b.Fatal(err)
		}
		r.Next()
	}
}

// BenchmarkServerPingreq is the server's whole handling of a PINGREQ on a
// connected session: framing, decode, keep-alive bookkeeping, PINGRESP.
func BenchmarkServerPingreq(b *testing.B) {
	bd := newBed(b, ServerConfig{}, time.Millisecond)
	h := bd.srv.Accept()
	c := &nopConn{}
	h.OnConnected(c)
	var connect bytes.Buffer
	var pk packets.Packet
	pk.Connect.ProtocolName = []byte("MQTT")
	pk.Connect.ClientIdentifier = "phone"
	pk.Connect.Keepalive = 600
	encode(&connect, packets.Connect, &pk)
	h.OnData(c, connect.Bytes())
	if bd.srv.Stats().Connects != 1 {
		b.Fatal("not connected")
	}
	b.ReportAllocs()
	for b.Loop() {
		h.OnData(c, pingreqBytes)
	}
	if c.closed || c.aborted || bd.srv.Stats().Pings == 0 {
		b.Fatal("PINGREQ not handled")
	}
}

// BenchmarkCodecPingreqFloor is the codec's decode of a PINGREQ header and
// encode of the PINGRESP, the least any server does per PINGREQ.
func BenchmarkCodecPingreqFloor(b *testing.B) {
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		var pk packets.Packet
		if err := pk.FixedHeader.Decode(pingreqBytes[0]); err != nil {
			b.Fatal(err)
		}
		resp := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingresp}}
		buf.Reset()
		resp.PingrespEncode(&buf)
	}
}
