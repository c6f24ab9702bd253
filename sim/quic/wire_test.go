package quic

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"
)

// RFC 9000 Appendix A.1's examples of variable-length integers.
func TestVarintRFC9000Examples(t *testing.T) {
	for _, c := range []struct {
		hex string
		v   uint64
	}{
		{"c2197c5eff14e88c", 151288809941952652},
		{"9d7f3e7d", 494878333},
		{"7bbd", 15293},
		{"25", 37},
	} {
		b, _ := hex.DecodeString(c.hex)
		v, n := readVarint(b)
		if v != c.v || n != len(b) {
			t.Errorf("readVarint(%s) = %d, %d; want %d", c.hex, v, n, c.v)
		}
		if got := appendVarint(nil, c.v); !bytes.Equal(got, b) {
			t.Errorf("appendVarint(%d) = %x, want %s", c.v, got, c.hex)
		}
		if varintLen(c.v) != len(b) {
			t.Errorf("varintLen(%d) = %d", c.v, varintLen(c.v))
		}
	}
	// "the two-byte sequence 0x4025 decodes to 37 as well"
	if v, n := readVarint([]byte{0x40, 0x25}); v != 37 || n != 2 {
		t.Errorf("0x4025 = %d, %d", v, n)
	}
	if _, n := readVarint([]byte{0x80, 1}); n != 0 {
		t.Error("truncated varint decoded")
	}
}

// RFC 9000 Appendix A.2 and A.3: packet number encoding and decoding.
func TestPacketNumberRFC9000Examples(t *testing.T) {
	// A.2: largest acked 0xabe8b3, sending 0xac5c02: 16 bits; sending
	// 0xace8fe: 24 bits.
	if n := pnLength(0xac5c02, 0xabe8b3); n != 2 {
		t.Errorf("pnLength(0xac5c02) = %d bytes, want 2", n)
	}
	if n := pnLength(0xace8fe, 0xabe8b3); n != 3 {
		t.Errorf("pnLength(0xace8fe) = %d bytes, want 3", n)
	}
	// A.3: largest received 0xa82f30ea, 16-bit truncated 0x9b32.
	if pn := decodePN(0xa82f30ea, 0x9b32, 2); pn != 0xa82f9b32 {
		t.Errorf("decodePN = %#x, want 0xa82f9b32", pn)
	}
	for _, c := range []struct {
		largest int64
		pn      uint64
	}{{-1, 0}, {0, 1}, {254, 255}, {255, 300}, {65530, 65600}, {1 << 20, 1<<20 + 70000}} {
		l := pnLength(c.pn, c.largest)
		trunc := c.pn & (1<<(8*l) - 1)
		if got := decodePN(c.largest, trunc, l); got != c.pn {
			t.Errorf("round trip of %d after %d: got %d", c.pn, c.largest, got)
		}
	}
}

func TestPacketRoundTrip(t *testing.T) {
	dcid, scid := []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{9, 9, 9, 9, 9, 9, 9, 9}
	var payload []byte
	payload = appendAck(payload, []ackRange{{10, 12}, {5, 7}, {0, 1}}, 4000)
	payload = appendCrypto(payload, 100, []byte("hello"))
	payload = appendStream(payload, 0, 7, []byte("mqtt"), true)
	payload = appendPath(payload, frPathChallenge, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	payload = appendClose(payload, true, 1, "bye")
	payload = appendVarint(payload, frPing)
	payload = append(payload, 0, 0, 0) // padding
	for _, typ := range []packetType{typeInitial, typeZeroRTT, typeHandshake, typeShort} {
		dg := appendPacket(nil, typ, dcid, scid, nil, 300, 2, payload)
		if want := packetOverhead(typ, dcid, scid, nil, 2) + len(payload); len(dg) != want {
			t.Errorf("%v: %d bytes, overhead says %d", typ, len(dg), want)
		}
		if typ != typeShort {
			dg = appendPacket(dg, typeShort, dcid, nil, nil, 1, 1, []byte{frPing}) // coalesced
		}
		h, err := parseHeader(dg, len(dcid))
		if err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		if h.typ != typ || !bytes.Equal(h.dcid, dcid) || h.pnTrunc != 300 || !bytes.Equal(h.payload, payload) {
			t.Errorf("%v: parsed %+v", typ, h)
		}
		if typ != typeShort && (!bytes.Equal(h.scid, scid) || h.size == len(dg)) {
			t.Errorf("%v: scid %x size %d", typ, h.scid, h.size)
		}
		if typ != typeShort && dg[0]&0x80 == 0 {
			t.Errorf("%v: not a long header", typ)
		}
	}
	var kinds []uint64
	err := parseFrames(payload, func(f *frame) error {
		kinds = append(kinds, f.typ)
		switch {
		case f.typ == frAck:
			if len(f.ranges) != 3 || f.ranges[0] != (ackRange{10, 12}) || f.ranges[1] != (ackRange{5, 7}) || f.ranges[2] != (ackRange{0, 1}) || f.ackDelay != 500 {
				t.Errorf("ACK %+v", f)
			}
		case f.typ == frCrypto:
			if f.offset != 100 || string(f.data) != "hello" {
				t.Errorf("CRYPTO %+v", f)
			}
		case f.typ&^7 == frStream:
			if f.offset != 7 || string(f.data) != "mqtt" || !f.fin || f.streamID != 0 {
				t.Errorf("STREAM %+v", f)
			}
		case f.typ == frCloseApp:
			if f.errCode != 1 || string(f.reason) != "bye" {
				t.Errorf("CLOSE %+v", f)
			}
		}
		return nil
	})
	if err != nil || len(kinds) != 6 {
		t.Fatalf("frames %x: %v", kinds, err)
	}
}

func TestTransportParamsAndMessages(t *testing.T) {
	p := transportParams{idleTimeout: 30 * time.Second, hasToken: true, initialSCID: []byte{1, 2, 3}}
	p.resetToken[3] = 7
	raw := appendParams(nil, p)
	// max_idle_timeout 30000 ms: id 0x01, length 4, varint 0x80007530.
	if !bytes.HasPrefix(raw, []byte{0x01, 0x04, 0x80, 0x00, 0x75, 0x30}) {
		t.Errorf("params %x", raw)
	}
	msg := appendMessage(nil, tlsEncryptedExtensions, 80, raw, true)
	msg = appendMessage(msg, tlsFinished, 36, nil, false)
	if len(msg) != 80+36 {
		t.Errorf("messages are %d bytes", len(msg))
	}
	m, n, err := parseMessage(msg)
	if err != nil || n != 80 || m.typ != tlsEncryptedExtensions || !m.resume || m.params.idleTimeout != 30*time.Second || m.params.resetToken != p.resetToken || !bytes.Equal(m.params.initialSCID, p.initialSCID) {
		t.Fatalf("parsed %+v %d %v", m, n, err)
	}
	if _, n, _ := parseMessage(msg[80 : 80+20]); n != 0 {
		t.Error("a partial message parsed")
	}
}

func TestSpanSetAndStreams(t *testing.T) {
	var s spanSet
	s.add(10, 20)
	s.add(30, 40)
	s.add(20, 30)
	s.add(0, 5)
	if len(s) != 2 || s[0] != (span{0, 5}) || s[1] != (span{10, 40}) || !s.covers(12, 39) || s.covers(4, 11) {
		t.Fatalf("set %v", s)
	}
	var tx sendStream
	tx.write([]byte("abcdefghij"))
	off, d, _ := tx.take(4)
	off2, d2, _ := tx.take(100)
	if off != 0 || string(d) != "abcd" || off2 != 4 || string(d2) != "efghij" {
		t.Fatalf("take %d %q %d %q", off, d, off2, d2)
	}
	tx.lost(0, 4, false)
	tx.ack(4, 10, false)
	if tx.base != 0 || tx.unacked() != 10 {
		t.Errorf("base %d unacked %d", tx.base, tx.unacked())
	}
	off, d, _ = tx.take(100)
	if off != 0 || string(d) != "abcd" {
		t.Fatalf("resend %d %q", off, d)
	}
	tx.ack(0, 4, false)
	if tx.base != 10 || tx.unacked() != 0 || tx.pending() {
		t.Errorf("after acks: base %d unacked %d", tx.base, tx.unacked())
	}
	var rx recvStream
	var got []byte
	deliver := func(p []byte) { got = append(got, p...) }
	rx.push(5, []byte("fgh"), false, deliver)
	rx.push(0, []byte("abc"), false, deliver)
	rx.push(2, []byte("cde"), false, deliver)
	rx.push(0, []byte("ab"), false, deliver)
	if string(got) != "abcdefgh" {
		t.Errorf("reassembled %q", got)
	}
}

func TestAckRangesReceived(t *testing.T) {
	var rs []ackRange
	for _, pn := range []uint64{0, 1, 2, 5, 4, 9, 3, 7} {
		rs = addRecv(rs, pn)
	}
	want := []ackRange{{9, 9}, {7, 7}, {0, 5}}
	if len(rs) != len(want) {
		t.Fatalf("ranges %v", rs)
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Fatalf("ranges %v, want %v", rs, want)
		}
	}
	if !received(rs, 4) || received(rs, 6) || received(rs, 10) {
		t.Error("received")
	}
}
