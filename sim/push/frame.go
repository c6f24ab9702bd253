package push

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mochi-mqtt/server/v2/packets"
)

// protocolVersion is MQTT 3.1.1's protocol level (MQTT 3.1.1 §3.1.2.2).
const protocolVersion = 4

// maxRemainingLength is the largest value the four-byte Remaining Length
// field can carry (MQTT 3.1.1 §2.2.3): 268,435,455 bytes.
const maxRemainingLength = 268435455

// DefaultMaxPacketSize bounds a single MQTT packet (fixed header included)
// when a configuration leaves it zero. Push notifications are small (APNs
// caps a payload at 4 KiB, FCM at 4 KiB of data); 64 KiB leaves room for
// tests with larger payloads while keeping per-connection memory bounded.
const DefaultMaxPacketSize = 64 << 10

// Errors from framing and decoding. Test them with errors.Is; the returned
// errors wrap them with the offending values.
var (
	// ErrMalformed is a byte stream that is not valid MQTT 3.1.1.
	ErrMalformed = errors.New("malformed MQTT packet")
	// ErrTooLarge is a packet whose declared size exceeds the limit.
	ErrTooLarge = errors.New("MQTT packet too large")
)

// Reader splits a TCP byte stream into MQTT control packets. Bytes arrive
// in arbitrary pieces (OnData calls); Reader keeps at most one incomplete
// packet, never more than its maximum packet size, so a peer cannot make it
// grow without bound. The zero value is not usable; use NewReader.
type Reader struct {
	buf  []byte // unconsumed bytes carried over from earlier Feeds
	in   []byte // bytes being parsed during this Feed (buf or the caller's p)
	off  int
	err  error
	max  int32 // at most maxPacketLimit, so 32 bits hold it
	copy bool  // in aliases buf (true) or the caller's p (false)
}

// maxPacketLimit is the largest packet MQTT can frame: the type byte, a
// four-byte Remaining Length and maxRemainingLength bytes. A larger limit
// rejects nothing more, so NewReader caps it there.
const maxPacketLimit = 1 + 4 + maxRemainingLength

// NewReader returns a Reader that rejects packets larger than maxPacket
// bytes in total (fixed header included); zero means DefaultMaxPacketSize.
func NewReader(maxPacket int) *Reader {
	if maxPacket <= 0 {
		maxPacket = DefaultMaxPacketSize
	}
	return &Reader{max: int32(min(maxPacket, maxPacketLimit))}
}

// Feed hands the Reader the next bytes of the stream. Complete packets are
// then returned by Next, which must be called until it returns ok false
// before the next Feed. Packets (and slices of them) returned after an
// earlier Feed become invalid: copy what must outlive the call.
func (r *Reader) Feed(p []byte) {
	if r.err != nil {
		return
	}
	// Keep what the previous Feed left unparsed.
	if r.off < len(r.in) {
		rest := r.in[r.off:]
		if r.copy {
			n := copy(r.buf, rest)
			r.buf = r.buf[:n]
		} else {
			r.buf = append(r.buf[:0], rest...)
		}
	} else {
		r.buf = r.buf[:0]
	}
	r.off = 0
	if len(r.buf) == 0 {
		// Fast path: parse straight from the caller's slice. p is only
		// valid during OnData, so Next copies an incomplete tail out of it
		// when it stops (keepTail).
		r.in = p
		r.copy = false
		return
	}
	r.buf = append(r.buf, p...)
	r.in = r.buf
	r.copy = true
}

// Next returns the next complete packet's first byte (type and flags) and
// its body (variable header and payload), or ok false when more bytes are
// needed. After a framing error Next keeps returning it: the stream cannot
// be resynchronised, so the connection must be closed.
func (r *Reader) Next() (header byte, body []byte, ok bool, err error) {
	if r.err != nil {
		return 0, nil, false, r.err
	}
	avail := r.in[r.off:]
	if len(avail) < 2 {
		r.keepTail()
		return 0, nil, false, nil
	}
	remaining, n, complete, err := decodeRemaining(avail[1:])
	if err != nil {
		r.err = err
		return 0, nil, false, err
	}
	if !complete {
		r.keepTail()
		return 0, nil, false, nil
	}
	total := 1 + n + remaining
	if total > int(r.max) {
		r.err = fmt.Errorf("%w: %d bytes declared, limit %d", ErrTooLarge, total, r.max)
		return 0, nil, false, r.err
	}
	if len(avail) < total {
		r.keepTail()
		return 0, nil, false, nil
	}
	r.off += total
	return avail[0], avail[1+n : total], true, nil
}

// packetConn is a connection, client or server side, that consumes the
// packets a Reader decodes.
type packetConn interface {
	// live reports whether the connection still reads packets.
	live() bool
	// handle acts on one packet; an error closes the connection.
	handle(header byte, body []byte) error
	// fail closes the connection after bad input, with the reason.
	fail(reason Reason, err error)
}

// drain hands every complete packet fed so far to c while c is live. A
// framing error or a packet c rejects fails c: too large, or a protocol
// error.
func (r *Reader) drain(c packetConn) {
	for c.live() {
		h, body, ok, err := r.Next()
		if err != nil {
			reason := ReasonProtocolError
			if errors.Is(err, ErrTooLarge) {
				reason = ReasonPacketTooLarge
			}
			c.fail(reason, err)
			return
		}
		if !ok {
			return
		}
		if err := c.handle(h, body); err != nil {
			c.fail(ReasonProtocolError, err)
			return
		}
	}
}

// keepTail copies an incomplete packet out of the caller's slice, which is
// only valid during the OnData call, into the Reader's own buffer.
func (r *Reader) keepTail() {
	if r.copy {
		return
	}
	r.buf = append(r.buf[:0], r.in[r.off:]...)
	r.in = r.buf
	r.off = 0
	r.copy = true
}

// Buffered reports how many bytes of an incomplete packet the Reader holds.
func (r *Reader) Buffered() int { return len(r.in) - r.off }

// decodeRemaining reads MQTT's variable-length Remaining Length (MQTT 3.1.1
// §2.2.3): up to four bytes, seven bits each, least significant first. It
// reports complete false when p ends before the field does.
func decodeRemaining(p []byte) (value, n int, complete bool, err error) {
	mult := 1
	for i := 0; i < 4; i++ {
		if i >= len(p) {
			return 0, 0, false, nil
		}
		b := p[i]
		value += int(b&0x7f) * mult
		if b&0x80 == 0 {
			return value, i + 1, true, nil
		}
		mult *= 128
	}
	return 0, 0, false, fmt.Errorf("%w: remaining length longer than 4 bytes", ErrMalformed)
}

// fixedBodyLen is the exact body length of packets with no payload, so a
// peer cannot smuggle bytes behind a PINGREQ (MQTT 3.1.1 §3.4, §3.12-§3.14).
func fixedBodyLen(t byte) (int, bool) {
	switch t {
	case packets.Connack, packets.Puback, packets.Pubrec, packets.Pubrel, packets.Pubcomp, packets.Unsuback:
		return 2, true
	case packets.Pingreq, packets.Pingresp, packets.Disconnect:
		return 0, true
	}
	return 0, false
}

// Decode decodes one framed packet (its first byte and body, as returned by
// Reader.Next) as MQTT 3.1.1. Strings and byte slices in the result alias
// body: copy them to keep them.
func Decode(header byte, body []byte) (packets.Packet, error) {
	var pk packets.Packet
	pk.ProtocolVersion = protocolVersion
	if err := pk.FixedHeader.Decode(header); err != nil {
		return pk, fmt.Errorf("%w: header byte %#02x: %v", ErrMalformed, header, err)
	}
	pk.FixedHeader.Remaining = len(body)
	t := pk.FixedHeader.Type
	if want, ok := fixedBodyLen(t); ok && len(body) != want {
		return pk, fmt.Errorf("%w: %s with %d-byte body, want %d", ErrMalformed, packetName(t), len(body), want)
	}
	var err error
	switch t {
	case packets.Connect:
		err = pk.ConnectDecode(body)
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Subscribe:
		err = pk.SubscribeDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Unsubscribe:
		err = pk.UnsubscribeDecode(body)
	case packets.Pingreq, packets.Pingresp, packets.Disconnect:
	case packets.Pubrec, packets.Pubrel, packets.Pubcomp, packets.Unsuback:
		err = fmt.Errorf("QoS 2 and UNSUBACK are outside natsim's subset")
	default:
		err = fmt.Errorf("reserved packet type %d", t)
	}
	if err != nil {
		return pk, fmt.Errorf("%w: %s: %v", ErrMalformed, packetName(t), err)
	}
	return pk, nil
}

func packetName(t byte) string {
	if n, ok := packets.PacketNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type %d", t)
}

// encode appends the MQTT 3.1.1 encoding of pk (of type t) to buf.
func encode(buf *bytes.Buffer, t byte, pk *packets.Packet) error {
	pk.ProtocolVersion = protocolVersion
	pk.FixedHeader.Type = t
	switch t {
	case packets.Connect:
		return pk.ConnectEncode(buf)
	case packets.Connack:
		return pk.ConnackEncode(buf)
	case packets.Publish:
		return pk.PublishEncode(buf)
	case packets.Puback:
		return pk.PubackEncode(buf)
	case packets.Subscribe:
		pk.FixedHeader.Qos = 1 // MQTT-3.8.1-1: flags 0010
		return pk.SubscribeEncode(buf)
	case packets.Suback:
		return pk.SubackEncode(buf)
	case packets.Pingreq:
		return pk.PingreqEncode(buf)
	case packets.Pingresp:
		return pk.PingrespEncode(buf)
	case packets.Disconnect:
		return pk.DisconnectEncode(buf)
	}
	return fmt.Errorf("push: cannot encode %s", packetName(t))
}

// mustEncodeConst encodes a packet with no variable part once, at init.
func mustEncodeConst(t byte) []byte {
	var buf bytes.Buffer
	var pk packets.Packet
	if err := encode(&buf, t, &pk); err != nil {
		panic(err) // a bug in this file, not bad input
	}
	return buf.Bytes()
}

// Constant packets, encoded once by the codec.
var (
	pingreqBytes    = mustEncodeConst(packets.Pingreq)
	pingrespBytes   = mustEncodeConst(packets.Pingresp)
	disconnectBytes = mustEncodeConst(packets.Disconnect)
)

// appendPuback appends a PUBACK for packet id.
func appendPuback(b []byte, id uint16) []byte {
	// Fixed layout (MQTT 3.1.1 §3.4): 0x40, remaining length 2, packet id.
	// Built by hand on the hot path; TestPubackMatchesCodec checks it
	// against the codec's encoding.
	return append(b, packets.Puback<<4, 2, byte(id>>8), byte(id))
}
