package quic

import (
	"encoding/binary"
	"fmt"
	"time"
)

// TLS 1.3 handshake message types (RFC 8446 §4).
const (
	tlsClientHello         = 1
	tlsServerHello         = 2
	tlsNewSessionTicket    = 4
	tlsEncryptedExtensions = 8
	tlsCertificate         = 11
	tlsCertificateVerify   = 15
	tlsFinished            = 20
)

// Assumed sizes of the TLS 1.3 handshake messages QUIC carries in CRYPTO
// frames, whole messages with their 4-byte headers. They are typical
// values, not measurements of a particular server: a QUIC ClientHello
// with X25519 key share and transport parameters is about 250-300 bytes
// (before the 1200-byte padding); the server's full flight is about 4 KB,
// as in push's TCP TLS model (a two-certificate RSA-2048 chain, a 256-byte
// signature); a resumption ClientHello adds a pre_shared_key extension
// with a ticket of about 200 bytes (RFC 8446 §4.2.11); Finished is a
// SHA-256 HMAC (32 bytes, RFC 8446 §4.4.4).
const (
	assumedClientHello       = 280
	assumedResumeClientHello = 480
	assumedServerHello       = 90
	assumedResumeServerHello = 128
	assumedEncryptedExt      = 80
	assumedCertificate       = 3500
	assumedCertVerify        = 264
	assumedFinished          = 36
	assumedSessionTicket     = 200
)

// Transport parameter ids (RFC 9000 §18.2).
const (
	tpMaxIdleTimeout      = 0x01
	tpStatelessResetToken = 0x02
	tpInitialSourceCID    = 0x0f
)

// transportParams are the parameters the model uses.
type transportParams struct {
	idleTimeout time.Duration
	resetToken  [resetTokenLen]byte
	hasToken    bool
	initialSCID []byte
}

// appendParams encodes p as RFC 9000 §18 transport parameters.
func appendParams(b []byte, p transportParams) []byte {
	ms := uint64(p.idleTimeout / time.Millisecond)
	b = appendVarint(b, tpMaxIdleTimeout)
	b = appendVarint(b, uint64(varintLen(ms)))
	b = appendVarint(b, ms)
	if p.hasToken {
		b = appendVarint(b, tpStatelessResetToken)
		b = appendVarint(b, resetTokenLen)
		b = append(b, p.resetToken[:]...)
	}
	b = appendVarint(b, tpInitialSourceCID)
	b = appendVarint(b, uint64(len(p.initialSCID)))
	return append(b, p.initialSCID...)
}

// parseParams decodes transport parameters, ignoring unknown ones.
func parseParams(b []byte) (transportParams, error) {
	var p transportParams
	for len(b) > 0 {
		id, n := readVarint(b)
		if n == 0 {
			return p, fmt.Errorf("%w: transport parameter id", errMalformed)
		}
		b = b[n:]
		l, n := readVarint(b)
		if n == 0 || l > uint64(len(b)-n) {
			return p, fmt.Errorf("%w: transport parameter %#x", errMalformed, id)
		}
		v := b[n : n+int(l)]
		b = b[n+int(l):]
		switch id {
		case tpMaxIdleTimeout:
			ms, k := readVarint(v)
			if k == 0 || k != len(v) || ms > uint64(1<<40) {
				return p, fmt.Errorf("%w: max_idle_timeout", errMalformed)
			}
			p.idleTimeout = time.Duration(ms) * time.Millisecond
		case tpStatelessResetToken:
			if len(v) != resetTokenLen {
				return p, fmt.Errorf("%w: stateless_reset_token", errMalformed)
			}
			copy(p.resetToken[:], v)
			p.hasToken = true
		case tpInitialSourceCID:
			if len(v) > 20 {
				return p, fmt.Errorf("%w: initial_source_connection_id", errMalformed)
			}
			p.initialSCID = v
		}
	}
	return p, nil
}

// appendMessage appends a TLS handshake message of type t whose whole size
// (header included) is size bytes: the 4-byte header, then, for messages
// that carry them, a 2-byte length and the transport parameters (the
// quic_transport_parameters extension, RFC 9001 §8.2) and a resumption
// flag, then zero filler. Only the header, parameters and flag are read by
// the peer; the rest stands in for key shares, certificates and
// signatures, which are not modelled.
func appendMessage(b []byte, t byte, size int, params []byte, resume bool) []byte {
	body := size - 4
	minBody := 0
	if params != nil {
		minBody = 2 + len(params) + 1
	}
	body = max(body, minBody)
	b = append(b, t, byte(body>>16), byte(body>>8), byte(body))
	start := len(b)
	if params != nil {
		b = binary.BigEndian.AppendUint16(b, uint16(len(params)))
		b = append(b, params...)
		flag := byte(0)
		if resume {
			flag = 1
		}
		b = append(b, flag)
	}
	for len(b)-start < body {
		b = append(b, 0)
	}
	return b
}

// message is one parsed handshake message.
type message struct {
	typ    byte
	params transportParams
	resume bool
}

// parseMessage reads one whole handshake message from the front of b and
// returns it and its size, or size 0 when b does not yet hold all of it.
func parseMessage(b []byte) (message, int, error) {
	var m message
	if len(b) < 4 {
		return m, 0, nil
	}
	m.typ = b[0]
	l := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if l > 1<<16 {
		return m, 0, fmt.Errorf("%w: TLS message of %d bytes", errMalformed, l)
	}
	if len(b) < 4+l {
		return m, 0, nil
	}
	body := b[4 : 4+l]
	switch m.typ {
	case tlsClientHello, tlsEncryptedExtensions:
		if len(body) < 3 {
			return m, 0, fmt.Errorf("%w: TLS message %d without parameters", errMalformed, m.typ)
		}
		pl := int(binary.BigEndian.Uint16(body))
		if 2+pl+1 > len(body) {
			return m, 0, fmt.Errorf("%w: transport parameters", errMalformed)
		}
		p, err := parseParams(body[2 : 2+pl])
		if err != nil {
			return m, 0, err
		}
		m.params = p
		m.resume = body[2+pl] == 1
	case tlsServerHello, tlsNewSessionTicket, tlsCertificate, tlsCertificateVerify, tlsFinished:
	default:
		return m, 0, fmt.Errorf("%w: TLS message type %d", errMalformed, m.typ)
	}
	return m, 4 + l, nil
}
