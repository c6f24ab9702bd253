package quic

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version1 is QUIC version 1 (RFC 9000 §15).
const Version1 = 0x00000001

// Wire constants.
const (
	// minInitialDatagram: a client's datagrams carrying Initial packets,
	// and a server's carrying ack-eliciting Initial packets, are padded to
	// at least 1200 bytes (RFC 9000 §14.1).
	minInitialDatagram = 1200
	// maxDatagram is the largest UDP payload sent: the 1200-byte minimum
	// every path must carry (RFC 9000 §14); no path MTU discovery.
	maxDatagram = 1200
	// tagLen is the AEAD authentication tag every protected packet
	// carries (AEAD_AES_128_GCM, RFC 9001 §5.3). Payloads travel in clear,
	// but the tag's 16 bytes are on the wire so packet sizes are real.
	tagLen = 16
	// cidLen is the length of the connection IDs both sides choose
	// (quic-go and x/net/quic use 4 to 8 bytes; at most 20, §17.2).
	cidLen = 8
	// resetTokenLen is a stateless reset token (RFC 9000 §10.3).
	resetTokenLen = 16
	// minStatelessReset: a stateless reset is at least 21 bytes long and
	// looks like a short-header packet (RFC 9000 §10.3).
	minStatelessReset = 21
)

// packetType is a packet's type; the long-header types have their
// RFC 9000 §17.2 type bits, short is the 1-RTT header.
type packetType uint8

const (
	typeInitial   packetType = 0
	typeZeroRTT   packetType = 1
	typeHandshake packetType = 2
	typeRetry     packetType = 3
	typeShort     packetType = 4
)

var typeNames = [...]string{"Initial", "0-RTT", "Handshake", "Retry", "1-RTT"}

func (t packetType) String() string { return typeNames[t] }

// level is an encryption level, which is also a packet number space for
// Initial and Handshake (0-RTT and 1-RTT share the application space,
// RFC 9000 §12.3).
type level uint8

const (
	levelInitial level = iota
	levelHandshake
	levelApp
	numLevels
)

func (t packetType) level() level {
	switch t {
	case typeInitial:
		return levelInitial
	case typeHandshake:
		return levelHandshake
	}
	return levelApp
}

// Frame types (RFC 9000 §19, Table 3).
const (
	frPadding        = 0x00
	frPing           = 0x01
	frAck            = 0x02
	frAckECN         = 0x03
	frCrypto         = 0x06
	frStream         = 0x08 // 0x08-0x0f: OFF 0x04, LEN 0x02, FIN 0x01
	frNewCID         = 0x18
	frPathChallenge  = 0x1a
	frPathResponse   = 0x1b
	frCloseTransport = 0x1c
	frCloseApp       = 0x1d
	frHandshakeDone  = 0x1e
	maxVarint        = 1<<62 - 1
	errNoError       = 0x00 // transport error codes, RFC 9000 §20.1
	errProtocol      = 0x0a
	appErrAbort      = 0x01 // our application error code for Abort
)

// errMalformed is any packet or frame that does not parse.
var errMalformed = errors.New("quic: malformed")

// appendVarint appends v as a variable-length integer (RFC 9000 §16).
func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, 0x40|byte(v>>8), byte(v))
	case v < 1<<30:
		return append(b, 0x80|byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return binary.BigEndian.AppendUint64(b, v|0xc0<<56)
}

// varintLen is the encoded size of v.
func varintLen(v uint64) int {
	switch {
	case v < 1<<6:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<30:
		return 4
	}
	return 8
}

// readVarint decodes a variable-length integer from b and returns it and
// the bytes consumed (0 when b is too short).
func readVarint(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	n := 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0
	}
	v := uint64(b[0] & 0x3f)
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n
}

// pnLength is how many bytes encode pn when the peer has acknowledged
// largestAcked (-1: nothing yet): twice the packets in flight must fit
// (RFC 9000 §17.1 and Appendix A.2).
func pnLength(pn uint64, largestAcked int64) int {
	var unacked uint64
	if largestAcked < 0 {
		unacked = pn + 1
	} else {
		unacked = pn - uint64(largestAcked)
	}
	switch {
	case unacked < 1<<7:
		return 1
	case unacked < 1<<15:
		return 2
	case unacked < 1<<23:
		return 3
	}
	return 4
}

// decodePN recovers a full packet number from its nbytes-byte truncation,
// given the largest packet number received so far (-1: none), as RFC 9000
// Appendix A.3 does.
func decodePN(largest int64, truncated uint64, nbytes int) uint64 {
	expected := uint64(largest + 1)
	win := uint64(1) << (8 * nbytes)
	hwin := win / 2
	mask := win - 1
	candidate := (expected &^ mask) | truncated
	if candidate+hwin <= expected && candidate < (1<<62)-win {
		return candidate + win
	}
	if candidate > expected+hwin && candidate >= win {
		return candidate - win
	}
	return candidate
}

// header is a parsed packet header.
type header struct {
	typ     packetType
	version uint32
	dcid    []byte
	scid    []byte
	token   []byte
	pnLen   int
	pnTrunc uint64
	// payload is the packet's frames, without the AEAD tag.
	payload []byte
	// size is the whole packet's size in the datagram.
	size int
}

// appendPacket appends one packet of type t to b: header, packet number
// (truncated to pnLen bytes), payload and a 16-byte tag of zeros. token is
// only written for Initial packets.
func appendPacket(b []byte, t packetType, dcid, scid, token []byte, pn uint64, pnLen int, payload []byte) []byte {
	pnBits := byte(pnLen - 1)
	if t == typeShort {
		// 0 1 S R R K P P: fixed bit set, spin 0, key phase 0.
		b = append(b, 0x40|pnBits)
		b = append(b, dcid...)
	} else {
		b = append(b, 0xc0|byte(t)<<4|pnBits)
		b = binary.BigEndian.AppendUint32(b, Version1)
		b = append(b, byte(len(dcid)))
		b = append(b, dcid...)
		b = append(b, byte(len(scid)))
		b = append(b, scid...)
		if t == typeInitial {
			b = appendVarint(b, uint64(len(token)))
			b = append(b, token...)
		}
		b = appendVarint(b, uint64(pnLen+len(payload)+tagLen))
	}
	for i := pnLen - 1; i >= 0; i-- {
		b = append(b, byte(pn>>(8*i)))
	}
	b = append(b, payload...)
	var tag [tagLen]byte
	return append(b, tag[:]...)
}

// packetOverhead is the bytes a packet of type t adds around its payload
// (with a 2-byte Length field, which covers payloads up to 16 KB).
func packetOverhead(t packetType, dcid, scid, token []byte, pnLen int) int {
	if t == typeShort {
		return 1 + len(dcid) + pnLen + tagLen
	}
	n := 1 + 4 + 1 + len(dcid) + 1 + len(scid) + 2 + pnLen + tagLen
	if t == typeInitial {
		n += varintLen(uint64(len(token))) + len(token)
	}
	return n
}

// parseHeader parses the first packet of datagram b. shortCIDLen is the
// length of the connection IDs this endpoint issues, needed to read a
// short header (RFC 9000 §17.3).
func parseHeader(b []byte, shortCIDLen int) (header, error) {
	var h header
	if len(b) < 1 {
		return h, errMalformed
	}
	first := b[0]
	if first&0x40 == 0 {
		return h, fmt.Errorf("%w: fixed bit clear", errMalformed)
	}
	h.pnLen = int(first&0x03) + 1
	if first&0x80 == 0 {
		h.typ = typeShort
		if len(b) < 1+shortCIDLen+h.pnLen+tagLen {
			return h, fmt.Errorf("%w: short packet of %d bytes", errMalformed, len(b))
		}
		h.dcid = b[1 : 1+shortCIDLen]
		off := 1 + shortCIDLen
		for _, c := range b[off : off+h.pnLen] {
			h.pnTrunc = h.pnTrunc<<8 | uint64(c)
		}
		off += h.pnLen
		h.payload = b[off : len(b)-tagLen]
		h.size = len(b)
		return h, nil
	}
	h.typ = packetType(first >> 4 & 0x03)
	if len(b) < 7 {
		return h, fmt.Errorf("%w: long header too short", errMalformed)
	}
	h.version = binary.BigEndian.Uint32(b[1:5])
	if h.version != Version1 {
		return h, fmt.Errorf("%w: version %#x", errMalformed, h.version)
	}
	off := 5
	cid := func() ([]byte, bool) {
		if off >= len(b) {
			return nil, false
		}
		l := int(b[off])
		off++
		if l > 20 || off+l > len(b) {
			return nil, false
		}
		c := b[off : off+l]
		off += l
		return c, true
	}
	var ok bool
	if h.dcid, ok = cid(); !ok {
		return h, fmt.Errorf("%w: destination connection ID", errMalformed)
	}
	if h.scid, ok = cid(); !ok {
		return h, fmt.Errorf("%w: source connection ID", errMalformed)
	}
	if h.typ == typeRetry {
		return h, fmt.Errorf("%w: Retry is not used", errMalformed)
	}
	if h.typ == typeInitial {
		tl, n := readVarint(b[off:])
		if n == 0 || tl > uint64(len(b)-off-n) {
			return h, fmt.Errorf("%w: token", errMalformed)
		}
		off += n
		h.token = b[off : off+int(tl)]
		off += int(tl)
	}
	length, n := readVarint(b[off:])
	if n == 0 || length > uint64(len(b)-off-n) || length < uint64(h.pnLen+tagLen) {
		return h, fmt.Errorf("%w: length", errMalformed)
	}
	off += n
	end := off + int(length)
	for _, c := range b[off : off+h.pnLen] {
		h.pnTrunc = h.pnTrunc<<8 | uint64(c)
	}
	off += h.pnLen
	h.payload = b[off : end-tagLen]
	h.size = end
	return h, nil
}

// ackRange is an inclusive range of acknowledged packet numbers.
type ackRange struct{ lo, hi uint64 }

// frame is one parsed frame; which fields are set depends on typ.
type frame struct {
	typ uint64
	// ACK: ranges largest first, and the peer's ack delay.
	ranges   []ackRange
	ackDelay uint64
	// CRYPTO and STREAM.
	offset   uint64
	data     []byte
	fin      bool
	streamID uint64
	// CONNECTION_CLOSE.
	errCode uint64
	reason  []byte
	// PATH_CHALLENGE / PATH_RESPONSE.
	path [8]byte
	// NEW_CONNECTION_ID.
	seq uint64
	cid []byte
}

// parseFrames calls f for each frame of payload. The frame and its slices
// are only valid during the call.
func parseFrames(payload []byte, f func(*frame) error) error {
	var fr frame
	b := payload
	next := func() (uint64, bool) {
		v, n := readVarint(b)
		if n == 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	bad := func(what string) error { return fmt.Errorf("%w: %s frame", errMalformed, what) }
	for len(b) > 0 {
		t, ok := next()
		if !ok {
			return bad("type of")
		}
		fr = frame{typ: t, ranges: fr.ranges[:0]}
		switch {
		case t == frPadding:
			for len(b) > 0 && b[0] == 0 {
				b = b[1:]
			}
			continue
		case t == frPing, t == frHandshakeDone:
		case t == frAck || t == frAckECN:
			largest, ok1 := next()
			delay, ok2 := next()
			count, ok3 := next()
			first, ok4 := next()
			if !ok1 || !ok2 || !ok3 || !ok4 || first > largest || count > 256 {
				return bad("ACK")
			}
			fr.ackDelay = delay
			fr.ranges = append(fr.ranges, ackRange{largest - first, largest})
			lo := largest - first
			for range count {
				gap, ok1 := next()
				l, ok2 := next()
				if !ok1 || !ok2 || gap+2 > lo || l > lo-gap-2 {
					return bad("ACK range of")
				}
				hi := lo - gap - 2
				lo = hi - l
				fr.ranges = append(fr.ranges, ackRange{lo, hi})
			}
			if t == frAckECN {
				for range 3 {
					if _, ok := next(); !ok {
						return bad("ACK ECN")
					}
				}
			}
		case t == frCrypto:
			off, ok1 := next()
			l, ok2 := next()
			if !ok1 || !ok2 || l > uint64(len(b)) || off+l > maxVarint {
				return bad("CRYPTO")
			}
			fr.offset, fr.data, b = off, b[:l], b[l:]
		case t >= frStream && t <= frStream|0x07:
			id, ok := next()
			if !ok {
				return bad("STREAM")
			}
			fr.streamID = id
			if t&0x04 != 0 {
				if fr.offset, ok = next(); !ok {
					return bad("STREAM offset of")
				}
			}
			l := uint64(len(b))
			if t&0x02 != 0 {
				if l, ok = next(); !ok || l > uint64(len(b)) {
					return bad("STREAM length of")
				}
			}
			if fr.offset+l > maxVarint {
				return bad("STREAM")
			}
			fr.data, b = b[:l], b[l:]
			fr.fin = t&0x01 != 0
		case t == frPathChallenge || t == frPathResponse:
			if len(b) < 8 {
				return bad("PATH")
			}
			copy(fr.path[:], b)
			b = b[8:]
		case t == frNewCID:
			seq, ok1 := next()
			_, ok2 := next() // retire prior to
			if !ok1 || !ok2 || len(b) < 1 || b[0] < 1 || b[0] > 20 || len(b) < 1+int(b[0])+resetTokenLen {
				return bad("NEW_CONNECTION_ID")
			}
			fr.seq = seq
			fr.cid = b[1 : 1+b[0]]
			b = b[1+int(b[0])+resetTokenLen:]
		case t == frCloseTransport || t == frCloseApp:
			code, ok1 := next()
			if !ok1 {
				return bad("CONNECTION_CLOSE")
			}
			if t == frCloseTransport {
				if _, ok := next(); !ok {
					return bad("CONNECTION_CLOSE")
				}
			}
			l, ok2 := next()
			if !ok2 || l > uint64(len(b)) {
				return bad("CONNECTION_CLOSE")
			}
			fr.errCode, fr.reason, b = code, b[:l], b[l:]
		default:
			return fmt.Errorf("%w: frame type %#x not modelled", errMalformed, t)
		}
		if err := f(&fr); err != nil {
			return err
		}
	}
	return nil
}

// ackEliciting reports whether a frame type elicits an ACK (RFC 9002 §2:
// all but ACK, PADDING and CONNECTION_CLOSE).
func ackEliciting(t uint64) bool {
	return t != frAck && t != frAckECN && t != frPadding && t != frCloseTransport && t != frCloseApp
}

// probing reports whether a frame type is a probing frame (RFC 9000 §9.1).
func probing(t uint64) bool {
	return t == frPathChallenge || t == frPathResponse || t == frNewCID || t == frPadding
}

// appendAck appends an ACK frame for the ranges (largest first) with the
// delay in microseconds, encoded with ack_delay_exponent 3 (the default,
// RFC 9000 §18.2).
func appendAck(b []byte, ranges []ackRange, delayMicros uint64) []byte {
	b = appendVarint(b, frAck)
	b = appendVarint(b, ranges[0].hi)
	b = appendVarint(b, delayMicros>>3)
	b = appendVarint(b, uint64(len(ranges)-1))
	b = appendVarint(b, ranges[0].hi-ranges[0].lo)
	lo := ranges[0].lo
	for _, r := range ranges[1:] {
		b = appendVarint(b, lo-r.hi-2)
		b = appendVarint(b, r.hi-r.lo)
		lo = r.lo
	}
	return b
}

// appendCrypto appends a CRYPTO frame.
func appendCrypto(b []byte, off uint64, data []byte) []byte {
	b = appendVarint(b, frCrypto)
	b = appendVarint(b, off)
	b = appendVarint(b, uint64(len(data)))
	return append(b, data...)
}

// cryptoOverhead is the bytes a CRYPTO frame adds to n bytes at off.
func cryptoOverhead(off uint64, n int) int { return 1 + varintLen(off) + varintLen(uint64(n)) }

// appendStream appends a STREAM frame with explicit offset and length.
func appendStream(b []byte, id, off uint64, data []byte, fin bool) []byte {
	t := uint64(frStream | 0x02)
	if off > 0 {
		t |= 0x04
	}
	if fin {
		t |= 0x01
	}
	b = appendVarint(b, t)
	b = appendVarint(b, id)
	if off > 0 {
		b = appendVarint(b, off)
	}
	b = appendVarint(b, uint64(len(data)))
	return append(b, data...)
}

// streamOverhead is the bytes a STREAM frame adds to n bytes at off.
func streamOverhead(id, off uint64, n int) int {
	o := 1 + varintLen(id) + varintLen(uint64(n))
	if off > 0 {
		o += varintLen(off)
	}
	return o
}

// appendClose appends a CONNECTION_CLOSE frame: app selects type 0x1d.
func appendClose(b []byte, app bool, code uint64, reason string) []byte {
	if app {
		b = appendVarint(b, frCloseApp)
		b = appendVarint(b, code)
	} else {
		b = appendVarint(b, frCloseTransport)
		b = appendVarint(b, code)
		b = appendVarint(b, 0) // frame type: unknown
	}
	b = appendVarint(b, uint64(len(reason)))
	return append(b, reason...)
}

// appendPath appends a PATH_CHALLENGE or PATH_RESPONSE frame.
func appendPath(b []byte, t uint64, data [8]byte) []byte {
	b = appendVarint(b, t)
	return append(b, data[:]...)
}
