package push

import (
	"encoding/binary"
	"fmt"
)

// TLSModel emulates the cost of a TLS handshake without doing
// cryptography: before CONNECT the client sends a flight of Client bytes
// and waits for Server bytes from the server, once per Exchange, then sends
// Final bytes (TLS 1.3 client Finished, which needs no answer) right before
// CONNECT. The server, configured with the same model, reads each client
// flight and answers it. Both sides must agree; a mismatch stalls the
// connection until a connect timeout. The zero value (no exchanges) is "no
// TLS", which real-broker runs use.
//
// The model costs round trips, bytes and radio time, which is what keep-alive
// studies need; per-record overhead on later packets (a few tens of bytes)
// is not modelled.
type TLSModel struct {
	// Exchanges are the request/response flights before CONNECT.
	Exchanges []TLSExchange
	// Final is the size of a last client flight sent without waiting.
	Final int
}

// TLSExchange is one client flight and the server's answer.
type TLSExchange struct {
	// Client is the size of the client's flight in bytes.
	Client int
	// Server is the size of the server's answer in bytes.
	Server int
}

// Assumed flight sizes: a ClientHello padded to 517 bytes (what browsers
// send), a server flight of ~4 KB (ServerHello plus a two-certificate chain),
// and ~100-byte key exchange and Finished messages. They are typical values,
// not measurements of APNs or FCM; set the model from a capture of the
// server under study when it matters.
const (
	assumedClientHello    = 517
	assumedServerFlight   = 4000
	assumedClientFinished = 80
	assumedTLS12KeyFlight = 130
	assumedTLS12Finished  = 60
)

// TLS13 is a full TLS 1.3 handshake: one round trip (RFC 8446 §2), then the
// client's Finished travels ahead of CONNECT.
func TLS13() TLSModel {
	return TLSModel{
		Exchanges: []TLSExchange{{Client: assumedClientHello, Server: assumedServerFlight}},
		Final:     assumedClientFinished,
	}
}

// TLS12 is a full TLS 1.2 handshake: two round trips (RFC 5246 §7.3) before
// application data.
func TLS12() TLSModel {
	return TLSModel{Exchanges: []TLSExchange{
		{Client: assumedClientHello, Server: assumedServerFlight},
		{Client: assumedTLS12KeyFlight, Server: assumedTLS12Finished},
	}}
}

// Enabled reports whether the model adds any handshake.
func (m TLSModel) Enabled() bool { return len(m.Exchanges) > 0 || m.Final > 0 }

// maxTLSFlight bounds a flight so a configuration cannot make a connection
// allocate without limit.
const maxTLSFlight = 1 << 20

// Validate checks sizes.
func (m TLSModel) Validate() error {
	for i, e := range m.Exchanges {
		if e.Client <= 0 || e.Server <= 0 || e.Client > maxTLSFlight || e.Server > maxTLSFlight {
			return fmt.Errorf("push: TLS exchange %d: sizes client=%d server=%d must be in [1, %d]", i, e.Client, e.Server, maxTLSFlight)
		}
	}
	if m.Final < 0 || m.Final > maxTLSFlight {
		return fmt.Errorf("push: TLS final flight %d bytes must be in [0, %d]", m.Final, maxTLSFlight)
	}
	return nil
}

// flight returns n bytes of filler shaped like TLS handshake records
// (content type 22, version 3.3, length), so a capture shows plausible
// records; the receiver only counts bytes.
func flight(n int) []byte {
	b := make([]byte, n)
	for off := 0; off+5 <= n; {
		l := n - off - 5
		if l > 16384 { // RFC 8446 §5.1: records carry at most 2^14 bytes
			l = 16384
		}
		b[off], b[off+1], b[off+2] = 22, 3, 3
		binary.BigEndian.PutUint16(b[off+3:], uint16(l))
		off += 5 + l
	}
	return b
}

// tlsProgress tracks one side's position in the emulated handshake.
type tlsProgress struct {
	step int // index of the current exchange; len(Exchanges) = Final phase
	got  int // bytes received so far in the current flight
}
