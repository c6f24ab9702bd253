package push

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/natsim/natsim/sim"
)

// MsgID identifies a push published through Server.Publish. IDs start at 1
// and increase per server; 0 means "unknown" (a payload without envelope).
type MsgID uint64

// Reason says why a connection ended, on either side. It is what the
// per-reason counters and the observers report.
type Reason uint8

// Reasons a push connection ends.
const (
	// ReasonNone is no reason (an event that is not a disconnect).
	ReasonNone Reason = iota
	// ReasonKeepAliveTimeout: the server heard nothing for 1.5 times the
	// client's keep-alive (MQTT-3.1.2-24).
	ReasonKeepAliveTimeout
	// ReasonConnectTimeout: no CONNECT (server side) or no CONNACK and
	// SUBACK (client side) in time after the TCP connection opened.
	ReasonConnectTimeout
	// ReasonTakeover: a newer connection with the same client id took the
	// session over (MQTT 3.1.1 §3.1.4: the server disconnects the old one).
	ReasonTakeover
	// ReasonProtocolError: the peer sent malformed or out-of-order MQTT.
	ReasonProtocolError
	// ReasonPacketTooLarge: the peer declared a packet above the limit.
	ReasonPacketTooLarge
	// ReasonClientDisconnect: the client sent DISCONNECT.
	ReasonClientDisconnect
	// ReasonPeerClosed: the peer closed the TCP connection (FIN).
	ReasonPeerClosed
	// ReasonReset: the TCP connection was reset (RST, e.g. from a NAT that
	// forgot the mapping, or a server that no longer knows the 4-tuple).
	ReasonReset
	// ReasonTimedOut: TCP gave up (retransmissions, user timeout, TCP
	// keep-alive, or SYN retries).
	ReasonTimedOut
	// ReasonRefused: the TCP connection was refused, or CONNACK refused it.
	ReasonRefused
	// ReasonUnreachable: ICMP destination unreachable, or no route.
	ReasonUnreachable
	// ReasonNetworkDown: the device has no network.
	ReasonNetworkDown
	// ReasonNetworkChanged: the device's address or network changed, so the
	// client tore the connection down (no TCP migration).
	ReasonNetworkChanged
	// ReasonPingTimeout: no PINGRESP within the strategy's AckTimeout.
	ReasonPingTimeout
	// ReasonBufferOverflow: the peer did not read and the bounded send
	// buffer filled up.
	ReasonBufferOverflow
	// ReasonDialFailed: the dial itself failed at once.
	ReasonDialFailed
	// ReasonStopped: the local side shut down (Client.Stop, Server.Close).
	ReasonStopped
	// ReasonOther is any other error from the stack.
	ReasonOther
	// ReasonHeartbeatTimeout: the device did not acknowledge a server
	// heartbeat probe in time (Heartbeat.AckTimeout).
	ReasonHeartbeatTimeout
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:             "none",
	ReasonKeepAliveTimeout: "keepalive_timeout",
	ReasonConnectTimeout:   "connect_timeout",
	ReasonTakeover:         "takeover",
	ReasonProtocolError:    "protocol_error",
	ReasonPacketTooLarge:   "packet_too_large",
	ReasonClientDisconnect: "client_disconnect",
	ReasonPeerClosed:       "peer_closed",
	ReasonReset:            "reset",
	ReasonTimedOut:         "timed_out",
	ReasonRefused:          "refused",
	ReasonUnreachable:      "unreachable",
	ReasonNetworkDown:      "network_down",
	ReasonNetworkChanged:   "network_changed",
	ReasonPingTimeout:      "ping_timeout",
	ReasonBufferOverflow:   "buffer_overflow",
	ReasonDialFailed:       "dial_failed",
	ReasonStopped:          "stopped",
	ReasonOther:            "other",
	ReasonHeartbeatTimeout: "heartbeat_timeout",
}

// String returns the snake_case name used in results.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// MarshalText makes Reason a readable JSON map key and value.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Reasons lists every reason in order, for iterating counters
// deterministically.
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons)
	for r := ReasonNone + 1; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// reasonFromErr maps a sim.ConnHandler.OnClosed error to a Reason.
func reasonFromErr(err error) Reason {
	switch {
	case err == nil, errors.Is(err, sim.ErrClosedLocally):
		return ReasonStopped
	case errors.Is(err, sim.ErrPeerClosed):
		return ReasonPeerClosed
	case errors.Is(err, sim.ErrReset):
		return ReasonReset
	case errors.Is(err, sim.ErrTimedOut):
		return ReasonTimedOut
	case errors.Is(err, sim.ErrRefused):
		return ReasonRefused
	case errors.Is(err, sim.ErrUnreachable):
		return ReasonUnreachable
	case errors.Is(err, sim.ErrNetworkDown):
		return ReasonNetworkDown
	case errors.Is(err, sim.ErrAddrChanged):
		return ReasonNetworkChanged
	}
	return ReasonOther
}

// Envelope framing: the built-in server prefixes every payload with the
// message id and publish time so the device can report which push arrived
// and its end-to-end latency. A provider publishing through a real broker
// builds the same envelope with EncodeEnvelope.
const (
	envelopeMagic0 = 'n'
	envelopeMagic1 = 's'
	envelopeVer    = 1
	// EnvelopeSize is the number of bytes the envelope adds to a payload.
	EnvelopeSize = 3 + 8 + 8
)

// EncodeEnvelope returns body prefixed with id and the publish time
// (Unix nanoseconds, virtual time on the virtual clock).
func EncodeEnvelope(id MsgID, published time.Time, body []byte) []byte {
	b := make([]byte, EnvelopeSize, EnvelopeSize+len(body))
	b[0], b[1], b[2] = envelopeMagic0, envelopeMagic1, envelopeVer
	binary.BigEndian.PutUint64(b[3:], uint64(id))
	binary.BigEndian.PutUint64(b[11:], uint64(published.UnixNano()))
	return append(b, body...)
}

// DecodeEnvelope splits a payload made by EncodeEnvelope. ok is false for a
// payload without a valid envelope (then body is p).
func DecodeEnvelope(p []byte) (id MsgID, published time.Time, body []byte, ok bool) {
	if len(p) < EnvelopeSize || p[0] != envelopeMagic0 || p[1] != envelopeMagic1 || p[2] != envelopeVer {
		return 0, time.Time{}, p, false
	}
	id = MsgID(binary.BigEndian.Uint64(p[3:]))
	published = time.Unix(0, int64(binary.BigEndian.Uint64(p[11:])))
	return id, published, p[EnvelopeSize:], id != 0
}

// sendBuffer holds what a Conn's Write did not take (backpressure), up to a
// bound, and flushes it on OnWritable.
type sendBuffer struct {
	pending []byte
	max     int
}

// write writes b through c, queueing what does not fit. It fails with
// ErrBufferFull when the queue would exceed its bound.
func (s *sendBuffer) write(c sim.Conn, b []byte) error {
	if len(s.pending) > 0 {
		if len(s.pending)+len(b) > s.max {
			return errBufferFull
		}
		s.pending = append(s.pending, b...)
		return nil
	}
	n, err := c.Write(b)
	if err != nil {
		return err
	}
	if n < len(b) {
		if len(b)-n > s.max {
			return errBufferFull
		}
		s.pending = append(s.pending[:0], b[n:]...)
	}
	return nil
}

// flush writes queued bytes after OnWritable.
func (s *sendBuffer) flush(c sim.Conn) error {
	if len(s.pending) == 0 {
		return nil
	}
	n, err := c.Write(s.pending)
	if err != nil {
		return err
	}
	rest := copy(s.pending, s.pending[n:])
	s.pending = s.pending[:rest]
	return nil
}

var errBufferFull = errors.New("send buffer full")
