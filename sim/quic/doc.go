// Package quic is a QUIC transport (RFC 9000, RFC 9002) for the engine:
// connections carrying one bidirectional stream, over the engine's gVisor
// UDP sockets, event-driven on the scheduler clock (no goroutines), with
// connection IDs, packet numbers and path challenges drawn from a seeded
// generator so that runs are deterministic.
//
// It models what matters for NATs and keep-alives: the handshake's round
// trips and bytes (1-RTT on first contact, the client's Initial padded to
// 1200 bytes, the server limited to three times the bytes it received
// until the client's address is validated; 0-RTT resumption once a session
// ticket arrived), the max_idle_timeout both sides announce (the effective
// one is the minimum, at least three probe timeouts), PING keep-alives,
// ACKs, loss detection and probe timeouts that double (RFC 9002),
// retransmission of lost CRYPTO and STREAM data, NAT rebinding (a packet
// with a known connection ID from a new address: the server validates the
// path with PATH_CHALLENGE/PATH_RESPONSE and moves there, unless
// Config.DisableMigration keeps it on the old address), and stateless
// resets (RFC 9000 §10.3) from a server that no longer knows a connection.
//
// Packets carry genuine RFC 9000 long and short headers (version 1,
// connection IDs, token and length fields, truncated packet numbers) and
// genuine frames, so a capture dissects as QUIC. Payload and header
// protection are not modelled: frames travel in clear, followed by a
// 16-byte field of zeros standing in for the AEAD tag so that packet sizes
// are real. TLS messages in CRYPTO frames have real types and lengths and
// carry the transport parameters; their bodies are filler of assumed size.
// Not modelled either: congestion control, flow control, more than one
// stream, Retry, version negotiation, client-initiated migration, path MTU
// discovery and the draining period after a close.
package quic
