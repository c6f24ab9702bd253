package quic

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/natsim/natsim/sim"
)

// Defaults and limits.
const (
	// DefaultIdleTimeout is the max_idle_timeout an endpoint announces
	// when Config.IdleTimeout is zero: 30 s, the default of Go's
	// golang.org/x/net/quic (Config.MaxIdleTimeout) and of quic-go.
	DefaultIdleTimeout = 30 * time.Second
	// MinIdleTimeout and MaxIdleTimeout bound Config.IdleTimeout. RFC 9000
	// allows up to 2^62 ms; an hour is far beyond any NAT's UDP timer
	// (Envoy's listener default is 300 s).
	MinIdleTimeout = time.Second
	MaxIdleTimeout = time.Hour
	// DefaultHandshakeTimeout bounds a handshake: 10 s, x/net/quic's
	// default (quic-go's HandshakeIdleTimeout is 5 s).
	DefaultHandshakeTimeout = 10 * time.Second
	// maxAckDelay is the max_ack_delay both sides use (RFC 9000 §18.2
	// default 25 ms); initialRTT is kInitialRtt (RFC 9002 §6.2.2).
	maxAckDelay = 25 * time.Millisecond
	initialRTT  = 333 * time.Millisecond
	// granularity is kGranularity (RFC 9002 §6.1.2).
	granularity = time.Millisecond
	// maxSendBuffer bounds the bytes queued on the stream; Write takes
	// less (backpressure) beyond it.
	maxSendBuffer = 256 << 10
)

// ListenFunc opens a UDP socket on a device or host of the engine (the
// ListenUDP method value of a *sim.Device or *sim.Host).
type ListenFunc func(port uint16, h sim.UDPHandler) (*sim.UDPSocket, error)

// Config configures a Dialer or a Listener. The zero value with Rand set
// is usable.
type Config struct {
	// IdleTimeout is the max_idle_timeout this endpoint announces (RFC 9000
	// §10.1); the connection's effective idle timeout is the smaller of
	// the two sides' (and at least three PTOs). Zero: DefaultIdleTimeout.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the handshake. Zero: DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// ZeroRTT (client): once a connection has delivered a session ticket,
	// later connections of the same Dialer resume with 0-RTT (RFC 9001
	// §4.6): the application's first bytes travel with the ClientHello.
	ZeroRTT bool
	// DisableMigration (server): keep sending to the address the
	// connection started on when packets arrive from a new one (the
	// haproxy #3329 behaviour). Default false: after a NAT rebinding the
	// server validates the new path and moves there (RFC 9000 §9).
	DisableMigration bool
	// StatelessResetKey (server) derives stateless reset tokens from
	// connection IDs (RFC 9000 §10.3.2). A restarted server with the same
	// key answers its lost connections' packets with a reset the client
	// recognises. Nil: drawn from Rand.
	StatelessResetKey []byte
	// Rand draws connection IDs, path challenges and the default reset key,
	// so that runs are deterministic. Required.
	Rand *rand.Rand
	// Observer receives connection events (migrations, idle timeouts,
	// stateless resets); nil for none.
	Observer Observer
}

func (c Config) withDefaults() (Config, error) {
	if c.Rand == nil {
		return c, errors.New("quic: Config.Rand is nil")
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.IdleTimeout < MinIdleTimeout || c.IdleTimeout > MaxIdleTimeout {
		return c, fmt.Errorf("quic: idle timeout %v out of range [%v, %v]", c.IdleTimeout, MinIdleTimeout, MaxIdleTimeout)
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.HandshakeTimeout < 0 {
		return c, fmt.Errorf("quic: negative handshake timeout %v", c.HandshakeTimeout)
	}
	if c.StatelessResetKey == nil {
		c.StatelessResetKey = make([]byte, 16)
		for i := range c.StatelessResetKey {
			c.StatelessResetKey[i] = byte(c.Rand.Uint32())
		}
	}
	return c, nil
}

// EventKind is the kind of an Event.
type EventKind uint8

// Event kinds.
const (
	// EventPathMigrated: the connection moved to a new peer address. The
	// server reports it when the new path is validated (PATH_RESPONSE);
	// the client when the server challenges it on a new path, which is how
	// a client behind a NAT learns that its mapping was rebound.
	EventPathMigrated EventKind = iota + 1
	// EventIdleTimeout: the connection was idle longer than its effective
	// idle timeout and closed silently (RFC 9000 §10.1).
	EventIdleTimeout
	// EventStatelessReset: the client received a stateless reset for the
	// connection (RFC 9000 §10.3) and closed it; a server reports sending
	// one (Conn is nil then).
	EventStatelessReset
)

var eventNames = [...]string{"", "quic_path_migrated", "quic_idle_timeout", "quic_stateless_reset"}

// String returns the snake_case name used in event streams.
func (k EventKind) String() string {
	if int(k) < len(eventNames) && k != 0 {
		return eventNames[k]
	}
	return fmt.Sprintf("quic_event(%d)", uint8(k))
}

// Event is one connection event, at virtual Time.
type Event struct {
	Kind EventKind
	Time time.Time
	// Conn is the connection (nil for a stateless reset a server sends).
	Conn *Conn
	// Server tells which side reports it.
	Server bool
	// Local is the reporting socket's address; Remote the peer's address
	// (after a migration, the new one); Old the address before it.
	Local, Remote, Old netip.AddrPort
	// Idle is the effective idle timeout (EventIdleTimeout).
	Idle time.Duration
}

// Observer receives events on the scheduler goroutine.
type Observer interface {
	QUICEvent(ev Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ev Event)

// QUICEvent calls f(ev).
func (f ObserverFunc) QUICEvent(ev Event) { f(ev) }

// Stats are a connection's counters.
type Stats struct {
	// PacketsSent and PacketsReceived count QUIC packets (several may
	// share a datagram); Datagrams* count UDP datagrams and their bytes
	// (UDP payload).
	PacketsSent, PacketsReceived     int
	DatagramsSent, DatagramsReceived int
	BytesSent, BytesReceived         int
	// PacketsLost counts packets declared lost (RFC 9002 §6.1); PTOs the
	// probe timeouts that fired.
	PacketsLost, PTOs int
	// Pings counts keep-alive PINGs sent through Ping.
	Pings int
	// Migrations counts path changes (see EventPathMigrated).
	Migrations int
	// ZeroRTT reports whether the connection resumed with 0-RTT.
	ZeroRTT bool
	// SmoothedRTT is the current RTT estimate (RFC 9002 §5.3).
	SmoothedRTT time.Duration
	// IdleTimeout is the effective idle timeout (zero before the
	// handshake completes).
	IdleTimeout time.Duration
}
