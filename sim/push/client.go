package push

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/natsim/natsim/sim"
	"github.com/natsim/natsim/sim/radio"
	"github.com/natsim/natsim/sim/strategy"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// DialOptions are the TCP options the client wants on its connection; the
// Dialer applies them (the engine sets them on the gVisor endpoint).
type DialOptions struct {
	// KeepAlive is the strategy's TCP keep-alive; Idle zero means off.
	KeepAlive strategy.TCPKeepAlive
	// UserTimeout is TCP_USER_TIMEOUT (RFC 5482); zero means off.
	UserTimeout time.Duration
}

// Dialer opens a TCP connection to the push server with opts, delivering
// its events to h. It returns at once; OnConnected or OnClosed follows. An
// error means the attempt failed immediately (no route, network down).
// The device glue binds it to the engine's dial and the server address.
type Dialer func(opts DialOptions, h sim.ConnHandler) (sim.Conn, error)

// Client defaults, used when a ClientConfig field is zero.
const (
	// DefaultClientConnectTimeout bounds dial + TLS + CONNACK + SUBACK.
	// Our choice; Chromium's GCM client waits similar tens of seconds.
	DefaultClientConnectTimeout = 30 * time.Second
	// DefaultDedupeWindow is how many recent QoS 1 push ids the client
	// remembers to recognise redeliveries when the server's inflight limit
	// is not known (see ClientConfig.DedupeWindow).
	DefaultDedupeWindow = 1024
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// ClientID is the MQTT client identifier (required).
	ClientID string
	// Topic is the filter subscribed to; "devices/<ClientID>" when empty.
	Topic string
	// KeepAlive is the MQTT Keep Alive sent in CONNECT, in whole seconds
	// up to 65535 s (MQTT 3.1.1 §3.1.2.10). The server closes the
	// connection after 1.5 times it without a packet, so it must exceed
	// the strategy's longest interval divided by 1.5. Zero disables the
	// server's check.
	KeepAlive time.Duration
	// CleanSession asks for a non-persistent session (default false: the
	// server keeps pushes while the device is away).
	CleanSession bool
	// BestEffort subscribes with QoS 0 instead of 1.
	BestEffort bool
	// TLS is the handshake emulation; it must match the server's.
	TLS TLSModel
	// Backoff is the reconnect schedule (ExponentialBackoff when zero).
	Backoff Backoff
	// ConnectTimeout bounds one connection attempt up to SUBACK.
	ConnectTimeout time.Duration
	// MaxPacketSize bounds incoming packets (DefaultMaxPacketSize).
	MaxPacketSize int
	// SendBuffer bounds bytes queued under backpressure (DefaultSendBuffer).
	SendBuffer int
	// UserTimeout is passed to the Dialer as TCP_USER_TIMEOUT.
	UserTimeout time.Duration
	// Network is the network the device starts on.
	Network strategy.Network
	// HeartbeatTopic is where server heartbeats arrive
	// (DefaultHeartbeatTopic when empty); they are counted, not pushes.
	HeartbeatTopic string
	// DedupeWindow is how many recent QoS 1 push ids are remembered to
	// recognise redeliveries (DefaultDedupeWindow when zero). Against a
	// server that keeps at most N pushes of a session unacknowledged
	// (ServerConfig.MaxInflight), N is enough: a push comes again only if
	// the server missed its PUBACK, which happens only when its connection
	// ends first; every push the client read after it on that connection
	// is unacknowledged too (PUBACKs travel in order), and on the next
	// connection the server resends those before anything new
	// (MQTT-4.4.0-1). So fewer than N other ids arrive between a push and
	// its redelivery, however many connections fail in between. QoS 0
	// pushes are never redelivered and are not remembered.
	DedupeWindow int
	// Observer receives every client event; nil for none.
	Observer ClientObserver
	// Tag, when set, is called before every write with its radio cause
	// and size, so the radio model and packet tap can attribute the
	// packets the write produces.
	Tag func(cause radio.Cause, n int)
	// Will is the will registered in CONNECT (and its birth message);
	// nil for none.
	Will *Will
	// Alarm turns the strategy's alarm windows into fire times: the
	// device's alarm model (exact, windowed, aligned to a wake-up grid),
	// which the clients of one device's apps share so their keep-alives
	// can coalesce. Nil fires uniformly in the window, drawing from the
	// client's rng.
	Alarm *strategy.AlarmModel
}

// ClientEventKind is the kind of a ClientEvent.
type ClientEventKind uint8

// Client event kinds.
const (
	// ClientConnecting: a connection attempt starts (Attempt counts from 1
	// since the last successful connection).
	ClientConnecting ClientEventKind = iota + 1
	// ClientTCPConnected: the TCP handshake completed.
	ClientTCPConnected
	// ClientConnected: CONNACK and SUBACK received; pushes can flow.
	ClientConnected
	// ClientKeepAliveSent: a PINGREQ was sent after Idle without traffic.
	ClientKeepAliveSent
	// ClientKeepAliveOK: its PINGRESP arrived after RTT.
	ClientKeepAliveOK
	// ClientKeepAliveFailed: no PINGRESP within the strategy's AckTimeout.
	ClientKeepAliveFailed
	// ClientPushReceived: a push arrived (Msg, Latency from Publish).
	ClientPushReceived
	// ClientPushDuplicate: a push already received arrived again.
	ClientPushDuplicate
	// ClientHeartbeat: a server heartbeat arrived.
	ClientHeartbeat
	// ClientDisconnected: the connection (or attempt) ended with Reason.
	ClientDisconnected
	// ClientBackoff: the client waits Delay before attempt Attempt.
	ClientBackoff
	// ClientNetworkChanged: the device changed networks.
	ClientNetworkChanged
)

var clientEventNames = [...]string{"", "connecting", "tcp_connected", "connected", "keepalive_sent", "keepalive_ok", "keepalive_failed", "push_received", "push_duplicate", "heartbeat", "disconnected", "backoff", "network_changed"}

// String returns the snake_case name used in event streams.
func (k ClientEventKind) String() string {
	if int(k) < len(clientEventNames) && k != 0 {
		return clientEventNames[k]
	}
	return fmt.Sprintf("client_event(%d)", uint8(k))
}

// ClientEvent is one state change of a client, at virtual Time. Fields that
// do not apply to the Kind are zero.
type ClientEvent struct {
	Kind     ClientEventKind
	Time     time.Time
	ClientID string
	Attempt  int
	Reason   Reason
	Err      error
	// Idle is the time without MQTT traffic before a keep-alive (or before
	// a connection was found dead).
	Idle time.Duration
	// RTT is a keep-alive's round trip.
	RTT time.Duration
	// Delay is a backoff delay.
	Delay time.Duration
	// Latency is a push's delay from Server.Publish (envelope time).
	Latency time.Duration
	Msg     MsgID
	Topic   string
	QoS     byte
	Dup     bool
	// SessionPresent is CONNACK's flag (ClientConnected).
	SessionPresent bool
	// WasConnected tells a lost connection from a failed attempt
	// (ClientDisconnected); Uptime is how long it had been connected.
	WasConnected bool
	Uptime       time.Duration
	// Interval is the strategy's interval at the time.
	Interval time.Duration
	Network  strategy.Network
}

// ClientObserver receives client events on the scheduler goroutine.
type ClientObserver interface {
	ClientEvent(ev ClientEvent)
}

// ClientObserverFunc adapts a function to ClientObserver.
type ClientObserverFunc func(ev ClientEvent)

// ClientEvent calls f(ev).
func (f ClientObserverFunc) ClientEvent(ev ClientEvent) { f(ev) }

// ClientStats are a client's counters.
type ClientStats struct {
	// Attempts counts connection attempts; Connects the successful ones.
	Attempts int `json:"attempts"`
	Connects int `json:"connects"`
	// KeepAlives* count PINGREQs sent, answered and unanswered.
	KeepAlivesSent   int `json:"keepalives_sent"`
	KeepAlivesOK     int `json:"keepalives_ok"`
	KeepAlivesFailed int `json:"keepalives_failed"`
	// Pushes counts distinct pushes received; Duplicates the repeats.
	Pushes     int `json:"pushes"`
	Duplicates int `json:"duplicates"`
	// Heartbeats counts server heartbeats received.
	Heartbeats int `json:"heartbeats"`
	// Disconnects counts ended connections and attempts by reason.
	Disconnects map[Reason]int `json:"disconnects"`
	// BytesSent and BytesReceived count MQTT and TLS-emulation bytes (no
	// TCP/IP headers).
	BytesSent     int `json:"bytes_sent"`
	BytesReceived int `json:"bytes_received"`
	// ConnectedTime is the total time connected, up to now.
	ConnectedTime time.Duration `json:"connected_ns"`
	// NetworkChanges counts NetworkChanged calls.
	NetworkChanges int `json:"network_changes"`
	// ConnectedNow is whether the client is connected now.
	ConnectedNow bool `json:"connected_now"`
}

type clientState uint8

const (
	cIdle clientState = iota
	cWaiting
	cDialing
	cTLS
	cConnecting
	cSubscribing
	cConnected
	cStopped
)

// Client is a device's push client. All methods must be called on the
// scheduler goroutine.
//
// A full-stack run holds one per device (docs/engine.md, "Memory of a
// full-stack run"): counters are 32 bits where they count events, and
// the small fields share the last words.
type Client struct {
	clock sim.Clock
	strat strategy.Strategy
	rng   *rand.Rand
	dial  Dialer
	cur   *clientConn
	// cfg.Network is the network the device is on now (NetworkChanged).
	cfg ClientConfig

	retry   tcpip.Timer
	connTO  tcpip.Timer
	kaTimer tcpip.Timer
	ackTO   tcpip.Timer
	kaAt    time.Time // when kaTimer fires: its pending alarm on the device

	connectedAt time.Time
	lastTraffic time.Time
	pingSent    time.Time
	pingIdle    time.Duration

	seen  dedupe
	stats clientCounters

	attempt   int32 // failed attempts since the last successful connection
	state     clientState
	pinging   bool
	off       bool    // PowerOff: no timers, no reconnects until PowerOn
	suspended bool    // Suspend: no timers, input held until Resume
	ack       [4]byte // PUBACK encoding space; Write copies what it takes
}

// clientCounters are what Stats reports, as the client keeps them: event
// counts in 32 bits (an event a second would take 136 years to overflow
// one), byte counts and durations in 64.
type clientCounters struct {
	bytesSent, bytesReceived int64
	connectedTime            time.Duration

	attempts, connects                             uint32
	keepAlivesSent, keepAlivesOK, keepAlivesFailed uint32
	pushes, duplicates, heartbeats, networkChanges uint32
	disconnects                                    [numReasons]uint32
}

// NewClient returns a client for one device. rng is the device's seeded
// source (alarm windows, backoff jitter); strat decides keep-alives; dial
// opens connections.
func NewClient(clock sim.Clock, rng *rand.Rand, strat strategy.Strategy, dial Dialer, cfg ClientConfig) (*Client, error) {
	switch {
	case clock == nil:
		return nil, errors.New("push: NewClient: nil clock")
	case rng == nil:
		return nil, errors.New("push: NewClient: nil rng")
	case strat == nil:
		return nil, errors.New("push: NewClient: nil strategy")
	case dial == nil:
		return nil, errors.New("push: NewClient: nil dialer")
	}
	if cfg.ClientID == "" || len(cfg.ClientID) > 65535 || !utf8.ValidString(cfg.ClientID) {
		return nil, fmt.Errorf("push: NewClient: invalid client id %q", cfg.ClientID)
	}
	if cfg.Topic == "" {
		cfg.Topic = "devices/" + cfg.ClientID
	}
	if err := validTopicFilter(cfg.Topic); err != nil {
		return nil, fmt.Errorf("push: NewClient %q: %w", cfg.ClientID, err)
	}
	if cfg.KeepAlive < 0 || cfg.KeepAlive > 65535*time.Second || cfg.KeepAlive%time.Second != 0 {
		return nil, fmt.Errorf("push: NewClient %q: keep-alive %v must be whole seconds in [0, 65535 s]", cfg.ClientID, cfg.KeepAlive)
	}
	if cfg.Backoff.Initial == 0 && cfg.Backoff.Max == 0 {
		cfg.Backoff = ExponentialBackoff()
	}
	if err := cfg.Backoff.Validate(); err != nil {
		return nil, fmt.Errorf("push: NewClient %q: %w", cfg.ClientID, err)
	}
	if err := cfg.TLS.Validate(); err != nil {
		return nil, fmt.Errorf("push: NewClient %q: %w", cfg.ClientID, err)
	}
	if cfg.ConnectTimeout < 0 || cfg.MaxPacketSize < 0 || cfg.SendBuffer < 0 || cfg.DedupeWindow < 0 || cfg.UserTimeout < 0 {
		return nil, fmt.Errorf("push: NewClient %q: negative limit in config", cfg.ClientID)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultClientConnectTimeout
	}
	if cfg.MaxPacketSize == 0 {
		cfg.MaxPacketSize = DefaultMaxPacketSize
	}
	if cfg.SendBuffer == 0 {
		cfg.SendBuffer = DefaultSendBuffer
	}
	if cfg.DedupeWindow == 0 {
		cfg.DedupeWindow = DefaultDedupeWindow
	}
	if cfg.Alarm == nil {
		cfg.Alarm, _ = strategy.NewAlarmModel(strategy.FireUniform, false, rng) // cannot fail: rng is set
	}
	if cfg.HeartbeatTopic == "" {
		cfg.HeartbeatTopic = DefaultHeartbeatTopic
	}
	if cfg.Will != nil {
		if err := cfg.Will.Validate(); err != nil {
			return nil, fmt.Errorf("push: NewClient %q: %w", cfg.ClientID, err)
		}
	}
	return &Client{clock: clock, rng: rng, strat: strat, dial: dial, cfg: cfg}, nil
}

// Start makes the first connection attempt at once.
func (c *Client) Start() {
	if c.state != cIdle {
		return
	}
	c.connect()
}

// Stop sends DISCONNECT, closes the connection and stops reconnecting.
func (c *Client) Stop() {
	if c.state == cStopped {
		return
	}
	if c.cur != nil && c.state == cConnected {
		c.write(radio.CauseOther, disconnectBytes)
	}
	c.lose(ReasonStopped, nil, closeConn)
	c.state = cStopped
	stop(&c.retry)
}

// NetworkChanged tells the client the device moved to network n (address
// change, Wi-Fi/cellular handover): TCP connections do not survive it
// (facts §6.4), so the client tears the connection down and reconnects at
// once, with a fresh backoff.
func (c *Client) NetworkChanged(n strategy.Network) {
	c.cfg.Network = n
	c.stats.networkChanges++
	c.emit(ClientEvent{Kind: ClientNetworkChanged, Network: n})
	if c.state == cIdle || c.state == cStopped || (c.asleep() && c.cur == nil) {
		return
	}
	c.attempt = 0
	if c.cur != nil {
		c.lose(ReasonNetworkChanged, sim.ErrAddrChanged, abortConn)
		return // lose reconnects at once for this reason
	}
	c.reconnectAfter(0)
}

// Connected reports whether pushes can flow now.
func (c *Client) Connected() bool { return c.state == cConnected }

// LocalAddr returns the device-side address of the client's current
// connection, and false while it has none.
func (c *Client) LocalAddr() (netip.AddrPort, bool) {
	if c.cur == nil || c.cur.conn == nil {
		return netip.AddrPort{}, false
	}
	return c.cur.conn.LocalAddr(), true
}

// Cause is the radio cause of the client's current activity, for
// attributing received packets: reconnect while connecting, keepalive
// while a PINGREQ is outstanding, otherwise push.
func (c *Client) Cause() radio.Cause {
	switch {
	case c.state >= cDialing && c.state <= cSubscribing:
		return radio.CauseReconnect
	case c.pinging:
		return radio.CauseKeepAlive
	case c.state == cConnected:
		return radio.CausePush
	}
	return radio.CauseOther
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	k := &c.stats
	st := ClientStats{
		Attempts: int(k.attempts), Connects: int(k.connects),
		KeepAlivesSent: int(k.keepAlivesSent), KeepAlivesOK: int(k.keepAlivesOK), KeepAlivesFailed: int(k.keepAlivesFailed),
		Pushes: int(k.pushes), Duplicates: int(k.duplicates), Heartbeats: int(k.heartbeats),
		Disconnects: make(map[Reason]int),
		BytesSent:   int(k.bytesSent), BytesReceived: int(k.bytesReceived),
		ConnectedTime: k.connectedTime, NetworkChanges: int(k.networkChanges),
	}
	for _, r := range Reasons() {
		if n := k.disconnects[r]; n > 0 {
			st.Disconnects[r] = int(n)
		}
	}
	st.ConnectedNow = c.state == cConnected
	if st.ConnectedNow {
		st.ConnectedTime += c.clock.Now().Sub(c.connectedAt)
	}
	return st
}

func stop(t *tcpip.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

func (c *Client) emit(ev ClientEvent) {
	if c.cfg.Observer == nil {
		return
	}
	ev.Time = c.clock.Now()
	ev.ClientID = c.cfg.ClientID
	ev.Interval = c.strat.Interval()
	if ev.Network == (strategy.Network{}) {
		ev.Network = c.cfg.Network
	}
	c.cfg.Observer.ClientEvent(ev)
}

// connect starts a connection attempt now.
func (c *Client) connect() {
	c.retry = nil
	cc := &clientConn{c: c}
	c.cur = cc
	c.state = cDialing
	c.stats.attempts++
	c.emit(ClientEvent{Kind: ClientConnecting, Attempt: int(c.attempt) + 1})
	opts := DialOptions{UserTimeout: c.cfg.UserTimeout}
	if k, ok := c.strat.TCP(); ok {
		opts.KeepAlive = k
	}
	c.tag(radio.CauseReconnect, 0)
	conn, err := c.dial(opts, cc)
	if c.cur != cc {
		return // the handler already closed it synchronously
	}
	if err != nil {
		c.lose(ReasonDialFailed, err, keepConn)
		return
	}
	if cc.conn == nil {
		cc.conn = conn
	}
	c.armConnectTimeout(cc)
}

// armConnectTimeout bounds attempt cc up to SUBACK.
func (c *Client) armConnectTimeout(cc *clientConn) {
	c.connTO = c.clock.AfterFunc(c.cfg.ConnectTimeout, func() {
		if c.cur == cc && c.state != cConnected {
			c.lose(ReasonConnectTimeout, nil, abortConn)
		}
	})
}

func (c *Client) tag(cause radio.Cause, n int) {
	if c.cfg.Tag != nil {
		c.cfg.Tag(cause, n)
	}
}

// write sends b on the current connection with its radio cause.
func (c *Client) write(cause radio.Cause, b []byte) bool {
	cc := c.cur
	if cc == nil || cc.conn == nil {
		return false
	}
	c.tag(cause, len(b))
	c.stats.bytesSent += int64(len(b))
	c.lastTraffic = c.clock.Now()
	if err := cc.out.write(cc.conn, b); err != nil {
		if errors.Is(err, errBufferFull) {
			c.lose(ReasonBufferOverflow, err, abortConn)
		} else {
			c.lose(reasonFromErr(err), err, abortConn)
		}
		return false
	}
	return true
}

// writePacket encodes and sends pk. The client writes packets only while
// connecting (CONNECT, SUBSCRIBE, the birth message): its encoding space
// is made per packet rather than kept per client, as write copies what it
// takes.
func (c *Client) writePacket(cause radio.Cause, t byte, pk *packets.Packet) bool {
	var buf bytes.Buffer
	if err := encode(&buf, t, pk); err != nil {
		c.lose(ReasonOther, err, abortConn)
		return false
	}
	return c.write(cause, buf.Bytes())
}

func (c *Client) sendConnect() {
	c.state = cConnecting
	pk := packets.Packet{}
	pk.Connect.ProtocolName = []byte("MQTT")
	pk.Connect.Clean = c.cfg.CleanSession
	pk.Connect.Keepalive = uint16(c.cfg.KeepAlive / time.Second)
	pk.Connect.ClientIdentifier = c.cfg.ClientID
	c.cfg.Will.setWill(&pk)
	c.writePacket(radio.CauseReconnect, packets.Connect, &pk)
}

// lose ends the current connection or attempt and schedules the next.
func (c *Client) lose(reason Reason, err error, how closeHow) {
	cc := c.cur
	if cc == nil {
		return
	}
	now := c.clock.Now()
	was := c.state == cConnected
	c.cur = nil
	stop(&c.connTO)
	if c.kaTimer != nil {
		c.cfg.Alarm.Cancel(c.kaAt)
	}
	stop(&c.kaTimer)
	stop(&c.ackTO)
	if was {
		idle := now.Sub(c.lastTraffic)
		if c.pinging {
			idle = c.pingIdle
		}
		switch reason {
		case ReasonReset, ReasonTimedOut, ReasonPeerClosed, ReasonUnreachable:
			// A connection found dead is a failed keep-alive for the
			// strategy (strategy.Strategy.Failed).
			c.strat.Failed(now, idle)
		}
		c.strat.Disconnected(now)
		c.stats.connectedTime += now.Sub(c.connectedAt)
	}
	c.pinging = false
	c.stats.disconnects[reason]++
	var uptime time.Duration
	if was {
		uptime = now.Sub(c.connectedAt)
	}
	c.emit(ClientEvent{Kind: ClientDisconnected, Reason: reason, Err: err, WasConnected: was, Uptime: uptime})
	if cc.conn != nil && how != keepConn {
		if how == abortConn {
			cc.conn.Abort()
		} else {
			cc.conn.Close()
		}
	}
	cc.dead = true
	if c.state == cStopped || reason == ReasonStopped {
		c.state = cStopped
		return
	}
	if c.asleep() {
		c.state = cWaiting // PowerOn or Resume reconnects
		return
	}
	if reason == ReasonNetworkChanged {
		c.reconnectAfter(0)
		return
	}
	d := c.cfg.Backoff.Delay(int(c.attempt), c.rng)
	c.attempt++
	c.emit(ClientEvent{Kind: ClientBackoff, Delay: d, Attempt: int(c.attempt) + 1})
	c.reconnectAfter(d)
}

// reconnectAfter schedules the next attempt. Even an immediate one goes
// through the clock, as an event of its own: lose runs in the middle of
// handling another event (a packet, a timer, OnClosed, NetworkChanged), and
// the dial waits until that handling has finished. After an address change
// the engine's OnClosed and the app's NetworkChanged both ask for an
// immediate reconnect; the second call re-arms this timer instead of
// dialling a second time.
func (c *Client) reconnectAfter(d time.Duration) {
	c.state = cWaiting
	stop(&c.retry)
	c.retry = c.clock.AfterFunc(d, func() {
		if c.state == cWaiting {
			c.connect()
		}
	})
}

// connected runs when SUBACK arrives.
func (c *Client) connected(sessionPresent bool) {
	now := c.clock.Now()
	stop(&c.connTO)
	c.state = cConnected
	c.attempt = 0
	c.connectedAt = now
	c.stats.connects++
	c.strat.Connected(now, c.cfg.Network)
	c.emit(ClientEvent{Kind: ClientConnected, SessionPresent: sessionPresent})
	c.publishOnline()
	if c.state == cConnected {
		c.scheduleKeepAlive()
	}
}

// scheduleKeepAlive arms the next PINGREQ at the instant the device's
// alarm model picks in the strategy's alarm window.
func (c *Client) scheduleKeepAlive() {
	now := c.clock.Now()
	a, ok := c.strat.Next(now)
	if !ok {
		return
	}
	a.Earliest = max(a.Earliest, 0)
	a.Latest = max(a.Latest, a.Earliest)
	at, _ := c.cfg.Alarm.Set(now, a) // the window is valid now
	c.armKeepAlive(at)
}

// armKeepAlive arms the PINGREQ timer for at, the device alarm set for it.
func (c *Client) armKeepAlive(at time.Time) {
	now := c.clock.Now()
	c.kaAt = at
	cc := c.cur
	c.kaTimer = c.clock.AfterFunc(max(at.Sub(now), 0), func() {
		if c.cur == cc && c.state == cConnected && !c.pinging {
			c.sendPing()
		}
	})
}

func (c *Client) sendPing() {
	now := c.clock.Now()
	c.kaTimer = nil
	c.pinging = true
	c.pingSent = now
	c.pingIdle = now.Sub(c.lastTraffic)
	c.stats.keepAlivesSent++
	c.emit(ClientEvent{Kind: ClientKeepAliveSent, Idle: c.pingIdle})
	if s, ok := c.strat.(strategy.KeepAliveSender); ok {
		s.KeepAliveSent(now)
	}
	if p, ok := c.cur.conn.(sim.Pinger); ok {
		// The transport keeps alive by itself (a QUIC PING frame): its
		// acknowledgement is the answer, and a probe never answered ends
		// the connection by the transport's idle timeout, not AckTimeout.
		cc := c.cur
		c.tag(radio.CauseKeepAlive, 0)
		c.lastTraffic = now
		if err := p.Ping(func() {
			if c.cur == cc {
				c.pingAnswered()
			}
		}); err != nil {
			c.lose(reasonFromErr(err), err, abortConn)
		}
		return
	}
	if !c.write(radio.CauseKeepAlive, pingreqBytes) {
		return
	}
	if to := c.strat.AckTimeout(); to > 0 {
		cc := c.cur
		c.ackTO = c.clock.AfterFunc(to, func() {
			if c.cur == cc && c.pinging {
				c.ackTO = nil
				now := c.clock.Now()
				c.stats.keepAlivesFailed++
				c.emit(ClientEvent{Kind: ClientKeepAliveFailed, Idle: c.pingIdle, RTT: now.Sub(c.pingSent)})
				c.strat.Failed(now, c.pingIdle)
				c.pinging = false // Failed already reported; lose must not repeat it
				c.lose(ReasonPingTimeout, nil, abortConn)
			}
		})
	}
}

func (c *Client) pingAnswered() {
	if !c.pinging {
		return // unsolicited PINGRESP: ignore
	}
	now := c.clock.Now()
	stop(&c.ackTO)
	c.pinging = false
	c.stats.keepAlivesOK++
	c.emit(ClientEvent{Kind: ClientKeepAliveOK, Idle: c.pingIdle, RTT: now.Sub(c.pingSent)})
	c.strat.Succeeded(now, c.pingIdle)
	c.scheduleKeepAlive()
}

func (c *Client) receivePublish(pk *packets.Packet) {
	qos := pk.FixedHeader.Qos
	if qos > 1 {
		c.lose(ReasonProtocolError, errors.New("PUBLISH with QoS 2"), abortConn)
		return
	}
	if qos == 1 && pk.PacketID == 0 {
		c.lose(ReasonProtocolError, errors.New("QoS 1 PUBLISH without packet id (MQTT-2.3.1-1)"), abortConn)
		return
	}
	// Every QoS 1 PUBLISH is acknowledged (MQTT-4.3.2-2), a heartbeat too:
	// otherwise a broker that sends heartbeats at QoS 1 would redeliver them.
	if qos == 1 && !c.write(radio.CausePush, appendPuback(c.ack[:0], pk.PacketID)) {
		return
	}
	if pk.TopicName == c.cfg.HeartbeatTopic {
		c.stats.heartbeats++
		c.emit(ClientEvent{Kind: ClientHeartbeat, Topic: c.cfg.HeartbeatTopic})
		return
	}
	id, published, _, ok := DecodeEnvelope(pk.Payload)
	ev := ClientEvent{Kind: ClientPushReceived, Msg: id, QoS: qos, Dup: pk.FixedHeader.Dup, Topic: string([]byte(pk.TopicName))}
	if ok {
		ev.Latency = c.clock.Now().Sub(published)
		if qos == 1 && c.seen.repeat(id, c.cfg.DedupeWindow) {
			c.stats.duplicates++
			ev.Kind = ClientPushDuplicate
			c.emit(ev)
			return
		}
	}
	c.stats.pushes++
	c.emit(ev)
}

// dedupe remembers the last push ids a client received, up to a window,
// oldest forgotten first. It grows as pushes arrive (a few dozen a day per
// phone), never past the window, and is searched linearly: a map and ring
// preallocated to the 1,024-id default window cost 44 KB per device, two
// thirds of a full-stack run's heap (docs/engine.md, "Memory").
type dedupe struct {
	log []MsgID // a ring once it holds window ids
	pos int     // the oldest id once the ring is full
}

// repeat reports whether id is among the remembered ids; if not, it
// remembers id, forgetting the oldest when window ids are held.
func (d *dedupe) repeat(id MsgID, window int) bool {
	if slices.Contains(d.log, id) {
		return true
	}
	if len(d.log) < window {
		if len(d.log) == cap(d.log) {
			// Double, but not past the window: the ring's final
			// size is known.
			d.log = slices.Grow(d.log, min(max(len(d.log), 4), window-len(d.log)))
		}
		d.log = append(d.log, id)
		return false
	}
	d.log[d.pos] = id
	d.pos = (d.pos + 1) % len(d.log)
	return false
}

// clientConn is one connection attempt; it implements sim.ConnHandler and
// ignores events once the client has moved on from it.
type clientConn struct {
	c    *Client
	conn sim.Conn
	r    *Reader
	out  sendBuffer
	tls  tlsProgress
	held []byte // input received while the app is suspended
	dead bool
	// sessionPresent is CONNACK's flag, reported once SUBACK arrives.
	sessionPresent bool
}

func (cc *clientConn) live() bool { return !cc.dead && cc.c.cur == cc }

// OnConnected starts TLS emulation or CONNECT.
func (cc *clientConn) OnConnected(conn sim.Conn) {
	if !cc.live() {
		return
	}
	c := cc.c
	cc.conn = conn
	cc.out.max = c.cfg.SendBuffer
	cc.r = NewReader(c.cfg.MaxPacketSize)
	c.lastTraffic = c.clock.Now()
	c.emit(ClientEvent{Kind: ClientTCPConnected})
	if c.cfg.TLS.Enabled() {
		c.state = cTLS
		cc.sendTLSFlight()
		return
	}
	c.sendConnect()
}

// sendTLSFlight sends the client flight of the current step, and after the
// last exchange the final flight and CONNECT.
func (cc *clientConn) sendTLSFlight() {
	c, m := cc.c, cc.c.cfg.TLS
	if cc.tls.step < len(m.Exchanges) {
		c.write(radio.CauseReconnect, flight(m.Exchanges[cc.tls.step].Client))
		return
	}
	if m.Final > 0 && !c.write(radio.CauseReconnect, flight(m.Final)) {
		return
	}
	c.sendConnect()
}

// OnData handles the server's TLS flights and MQTT packets.
func (cc *clientConn) OnData(conn sim.Conn, p []byte) {
	if !cc.live() {
		return
	}
	c := cc.c
	if c.suspended {
		cc.held = append(cc.held, p...)
		return
	}
	c.stats.bytesReceived += int64(len(p))
	if c.state == cTLS {
		m := c.cfg.TLS
		for len(p) > 0 && c.state == cTLS && cc.live() {
			want := m.Exchanges[cc.tls.step].Server
			take := min(want-cc.tls.got, len(p))
			cc.tls.got += take
			p = p[take:]
			if cc.tls.got == want {
				cc.tls.step++
				cc.tls.got = 0
				cc.sendTLSFlight()
			}
		}
		if len(p) == 0 || !cc.live() {
			return
		}
	}
	cc.r.Feed(p)
	cc.r.drain(cc)
}

// fail closes the connection with a RST after bad input.
func (cc *clientConn) fail(reason Reason, err error) { cc.c.lose(reason, err, abortConn) }

func (cc *clientConn) handle(h byte, body []byte) error {
	c := cc.c
	pk, err := Decode(h, body)
	if err != nil {
		return err
	}
	c.lastTraffic = c.clock.Now()
	t := pk.FixedHeader.Type
	switch c.state {
	case cConnecting:
		if t != packets.Connack {
			return fmt.Errorf("got %s, want CONNACK", packetName(t))
		}
		if pk.ReasonCode != 0 {
			c.lose(ReasonRefused, fmt.Errorf("CONNACK return code %d", pk.ReasonCode), closeConn)
			return nil
		}
		cc.sessionPresent = pk.SessionPresent
		c.state = cSubscribing
		sub := packets.Packet{PacketID: 1, Filters: packets.Subscriptions{{Filter: c.cfg.Topic, Qos: 1}}}
		if c.cfg.BestEffort {
			sub.Filters[0].Qos = 0
		}
		c.writePacket(radio.CauseReconnect, packets.Subscribe, &sub)
		return nil
	case cSubscribing:
		switch t {
		case packets.Suback:
			if len(pk.ReasonCodes) != 1 || pk.ReasonCodes[0] > 1 {
				c.lose(ReasonRefused, fmt.Errorf("SUBACK return codes %v", pk.ReasonCodes), closeConn)
				return nil
			}
			c.connected(cc.sessionPresent)
			return nil
		case packets.Publish:
			// Redeliveries may arrive before SUBACK (session present).
			c.receivePublish(&pk)
			return nil
		}
		return fmt.Errorf("got %s, want SUBACK", packetName(t))
	case cConnected:
		switch t {
		case packets.Publish:
			c.receivePublish(&pk)
		case packets.Pingresp:
			c.pingAnswered()
		case packets.Suback, packets.Puback:
		default:
			return fmt.Errorf("unexpected %s from the server", packetName(t))
		}
		return nil
	}
	return fmt.Errorf("unexpected %s before CONNECT", packetName(t))
}

// OnWritable flushes queued bytes.
func (cc *clientConn) OnWritable(conn sim.Conn) {
	if !cc.live() {
		return
	}
	if err := cc.out.flush(cc.conn); err != nil {
		cc.c.lose(reasonFromErr(err), err, abortConn)
	}
}

// OnClosed reports the connection's end.
func (cc *clientConn) OnClosed(conn sim.Conn, err error) {
	if !cc.live() {
		cc.dead = true
		return
	}
	cc.c.lose(reasonFromErr(err), err, keepConn)
}
