package push

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/natsim/natsim/sim"
	"github.com/natsim/natsim/sim/strategy"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// Server defaults, used when a ServerConfig field is zero.
const (
	// DefaultConnectTimeout is how long an accepted connection may stay
	// without a CONNECT (TLS emulation included) before the server closes
	// it. MQTT 3.1.1 §3.1 leaves the value to the server ("within a
	// reasonable amount of time", §4.8 non-normative); 10 s is our choice.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultMaxInflight is the number of unacknowledged QoS 1 pushes per
	// session, mosquitto's max_inflight_messages default (mosquitto.conf(5)).
	DefaultMaxInflight = 20
	// DefaultSendBuffer bounds the bytes a connection queues while the
	// peer does not read.
	DefaultSendBuffer = 256 << 10
	// DefaultHeartbeatTopic is the topic of server-originated heartbeats.
	DefaultHeartbeatTopic = "$natsim/heartbeat"
)

// ServerTCP is the TCP configuration of the server's listening socket. The
// server itself does not apply it (it only sees sim.Conn); whoever creates
// the listener reads it from the ServerConfig and applies it.
type ServerTCP struct {
	// KeepAlive enables TCP keep-alive on accepted connections when its
	// Idle is non-zero.
	KeepAlive strategy.TCPKeepAlive
	// UserTimeout is TCP_USER_TIMEOUT (RFC 5482); zero leaves it off.
	UserTimeout time.Duration
}

// Heartbeat configures server-originated keep-alives: a QoS 0 PUBLISH on
// Topic every Interval on each connection. They refresh NATs that refresh
// on inbound packets (Linux conntrack) but not outbound-only CGNs (facts
// §6.7). Interval zero disables them.
type Heartbeat struct {
	Interval time.Duration
	Topic    string // DefaultHeartbeatTopic when empty
	// AckTimeout, when non-zero, makes heartbeats probes: sent at QoS 1,
	// and the connection is closed (ReasonHeartbeatTimeout, will
	// published) when the PUBACK is not back within AckTimeout.
	AckTimeout time.Duration
}

// ServerConfig configures a Server. The zero value is usable: every zero
// field takes its default.
type ServerConfig struct {
	// ConnectTimeout closes connections that send no CONNECT in time.
	ConnectTimeout time.Duration
	// MaxPacketSize bounds an incoming packet (DefaultMaxPacketSize).
	MaxPacketSize int
	// MaxInflight bounds unacknowledged QoS 1 pushes per session.
	MaxInflight int
	// SendBuffer bounds bytes queued per connection under backpressure.
	SendBuffer int
	// Offline is the store policy for undelivered pushes.
	Offline OfflinePolicy
	// OfflineLimit is KeepN's N (DefaultKeepN) and KeepAll's bound
	// (DefaultKeepAllLimit).
	OfflineLimit int
	// FlushOnOverflow makes KeepN drop every stored push on overflow,
	// as FCM does, instead of the oldest one.
	FlushOnOverflow bool
	// DefaultTTL applies to Publish calls with ttl zero; zero means pushes
	// never expire.
	DefaultTTL time.Duration
	// Heartbeat configures server-originated keep-alives.
	Heartbeat Heartbeat
	// TCP is for the listener (see ServerTCP).
	TCP ServerTCP
	// TLS is the handshake emulation expected before CONNECT; it must
	// match the clients'.
	TLS TLSModel
	// RoutePublishes makes the server a small broker: a PUBLISH from a
	// client is delivered to every session whose subscriptions match its
	// topic (payload as sent, no envelope added), stored for offline
	// persistent sessions under the offline policy like any push. Off by
	// default: in natsim's push model devices do not publish, and such
	// publishes are acknowledged and dropped. natsim pushd turns it on so
	// that real MQTT clients (mosquitto_pub, a provider on a socket) can
	// publish through it.
	RoutePublishes bool
	// KeepAliveFactor: a connection silent for KeepAliveFactor times the
	// client's Keep Alive is closed. Zero means 1.5 (MQTT-3.1.2-24).
	KeepAliveFactor float64
	// Observer receives every server event; nil for none.
	Observer ServerObserver
}

func (c *ServerConfig) withDefaults() (ServerConfig, error) {
	d := *c
	if d.ConnectTimeout < 0 || d.MaxPacketSize < 0 || d.MaxInflight < 0 || d.SendBuffer < 0 ||
		d.OfflineLimit < 0 || d.DefaultTTL < 0 || d.Heartbeat.Interval < 0 || d.Heartbeat.AckTimeout < 0 {
		return d, fmt.Errorf("push: server config has a negative value: %+v", *c)
	}
	if d.KeepAliveFactor != 0 && d.KeepAliveFactor < 1 {
		return d, fmt.Errorf("push: keep-alive factor %g is below 1", d.KeepAliveFactor)
	}
	if d.MaxInflight > 65535 {
		return d, fmt.Errorf("push: max inflight %d exceeds the 65535 MQTT packet ids", d.MaxInflight)
	}
	if d.ConnectTimeout == 0 {
		d.ConnectTimeout = DefaultConnectTimeout
	}
	if d.MaxPacketSize == 0 {
		d.MaxPacketSize = DefaultMaxPacketSize
	}
	if d.MaxInflight == 0 {
		d.MaxInflight = DefaultMaxInflight
	}
	if d.SendBuffer == 0 {
		d.SendBuffer = DefaultSendBuffer
	}
	if d.OfflineLimit == 0 {
		d.OfflineLimit = DefaultKeepAllLimit
		if d.Offline == KeepN {
			d.OfflineLimit = DefaultKeepN
		}
	}
	if d.Heartbeat.Topic == "" {
		d.Heartbeat.Topic = DefaultHeartbeatTopic
	}
	if err := validTopicName(d.Heartbeat.Topic); err != nil {
		return d, fmt.Errorf("push: heartbeat: %w", err)
	}
	if d.Offline > KeepN {
		return d, fmt.Errorf("push: unknown offline policy %d", d.Offline)
	}
	if err := d.TLS.Validate(); err != nil {
		return d, err
	}
	return d, nil
}

// ServerEventKind is the kind of a ServerEvent.
type ServerEventKind uint8

// Server event kinds.
const (
	// ServerConnected: a CONNECT was accepted (CONNACK sent).
	ServerConnected ServerEventKind = iota + 1
	// ServerDisconnected: a connection that sent CONNECT ended, with
	// Reason and Err; Unacked counts its written but unacknowledged pushes.
	ServerDisconnected
	// ServerRejected: a connection ended before a valid CONNECT.
	ServerRejected
	// ServerSubscribed: a SUBSCRIBE was granted (Topic is the filter).
	ServerSubscribed
	// ServerPublished: the provider published (Msg, Topic, QoS).
	ServerPublished
	// ServerPublishSent: a push was written into a connection (Dup for a
	// redelivery).
	ServerPublishSent
	// ServerPublishAcked: the device acknowledged a QoS 1 push; Latency is
	// from Publish to the PUBACK.
	ServerPublishAcked
	// ServerDropped: a push was discarded undelivered (Drop says why).
	ServerDropped
	// ServerHeartbeatSent: a server-originated heartbeat was written.
	ServerHeartbeatSent
	// ServerWillPublished: the server published the will of ClientID,
	// whose connection ended with Reason (Topic, QoS are the will's).
	ServerWillPublished
)

var serverEventNames = [...]string{"", "connected", "disconnected", "rejected", "subscribed", "published", "publish_sent", "publish_acked", "dropped", "heartbeat_sent", "will_published"}

// String returns the snake_case name used in event streams.
func (k ServerEventKind) String() string {
	if int(k) < len(serverEventNames) && k != 0 {
		return serverEventNames[k]
	}
	return fmt.Sprintf("server_event(%d)", uint8(k))
}

// ServerEvent is one thing that happened on the server, at virtual Time.
// Fields that do not apply to the Kind are zero.
type ServerEvent struct {
	Kind           ServerEventKind
	Time           time.Time
	ClientID       string
	Remote         netip.AddrPort
	Msg            MsgID
	Topic          string
	QoS            byte
	Dup            bool
	SessionPresent bool
	Reason         Reason
	Err            error
	Drop           DropReason
	Latency        time.Duration
	Unacked        int
}

// ServerObserver receives server events on the scheduler goroutine. It
// must not call back into the Server synchronously except Publish.
type ServerObserver interface {
	ServerEvent(ev ServerEvent)
}

// ServerObserverFunc adapts a function to ServerObserver.
type ServerObserverFunc func(ev ServerEvent)

// ServerEvent calls f(ev).
func (f ServerObserverFunc) ServerEvent(ev ServerEvent) { f(ev) }

// ServerStats is a snapshot of the server's counters.
type ServerStats struct {
	// Sessions is the number of sessions held (online or not).
	Sessions int `json:"sessions"`
	// ConnectionsOpen is the number of accepted connections not yet closed.
	ConnectionsOpen int `json:"connections_open"`
	// SessionsOnline is the number of sessions with a live connection.
	SessionsOnline int `json:"sessions_online"`
	// Accepted counts accepted TCP connections; Connects counts CONNACKs.
	Accepted int `json:"accepted"`
	Connects int `json:"connects"`
	// Published counts provider pushes; Sent counts PUBLISH packets written
	// (redeliveries included); Redelivered counts the DUP ones.
	Published   int `json:"published"`
	Sent        int `json:"sent"`
	Redelivered int `json:"redelivered"`
	// Acked counts PUBACKs that matched an inflight push.
	Acked int `json:"acked"`
	// WrittenUnacked counts QoS 1 pushes written into a connection that
	// closed before acknowledging them: pushes sent into dead connections.
	WrittenUnacked int `json:"written_unacked"`
	// Stored is the number of pushes queued (not yet written) now.
	Stored int `json:"stored"`
	// Dropped counts discarded pushes by reason.
	Dropped map[DropReason]int `json:"dropped"`
	// Closes counts ended connections by reason.
	Closes map[Reason]int `json:"closes"`
	// Pings counts PINGREQs answered; Heartbeats counts server heartbeats.
	Pings      int `json:"pings"`
	Heartbeats int `json:"heartbeats"`
	// Wills counts will messages published.
	Wills int `json:"wills"`
}

// Server is the built-in MQTT 3.1.1 push server. All methods must be
// called on the scheduler goroutine.
type Server struct {
	clock sim.Clock
	cfg   ServerConfig

	sessions map[string]*session
	order    []*session // creation order, for deterministic sweeps
	conns    connList   // accepted, not closed, in accept order
	nextMsg  MsgID
	nextConn uint64
	autoID   int
	closed   bool

	scratch bytes.Buffer
	stats   ServerStats
	drops   [numDrops]int
	closes  [numReasons]int
	stored  int
	online  int

	listeners []listener // provider-side subscribers (Listen)
}

// NewServer returns a server on clock.
func NewServer(clock sim.Clock, cfg ServerConfig) (*Server, error) {
	if clock == nil {
		return nil, errors.New("push: NewServer: nil clock")
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Server{clock: clock, cfg: c, sessions: make(map[string]*session)}, nil
}

// Config returns the server's configuration with defaults filled in (the
// harness reads TCP from it to configure the listener).
func (s *Server) Config() ServerConfig { return s.cfg }

// Accept returns the handler for a newly accepted connection. The listener
// calls it once per connection, before OnConnected.
func (s *Server) Accept() sim.ConnHandler {
	s.nextConn++
	sc := &serverConn{s: s, seq: s.nextConn, state: stateNew}
	sc.out.max = s.cfg.SendBuffer
	return sc
}

// AcceptSecured is AcceptConn for transports that carry their own TLS
// handshake (QUIC, RFC 9001): the connection skips the TLS emulation and
// expects CONNECT at once.
func (s *Server) AcceptSecured(sim.Conn) sim.ConnHandler {
	sc := s.Accept().(*serverConn)
	sc.secured = true
	return sc
}

// session is a client's persistent state (MQTT 3.1.1 §4.1).
type session struct {
	id       string
	clean    bool
	subs     []subscription
	queue    msgQueue   // stored, not yet written
	inflight []*message // QoS 1 written, not acknowledged, in send order
	nextPID  uint16
	conn     *serverConn
	gone     bool
}

type subscription struct {
	filter string
	qos    byte
}

func (s *Server) session(id string, create bool) *session {
	if ss, ok := s.sessions[id]; ok {
		return ss
	}
	if !create {
		return nil
	}
	ss := &session{id: id}
	s.sessions[id] = ss
	s.order = append(s.order, ss)
	return ss
}

func (s *Server) dropSession(ss *session) {
	for ss.queue.len() > 0 {
		s.drop(ss, ss.queue.pop(), DropSessionEnded)
		s.stored--
	}
	for _, m := range ss.inflight {
		s.drop(ss, m, DropSessionEnded)
	}
	ss.inflight = nil
	ss.gone = true
	delete(s.sessions, ss.id)
	kept := s.order[:0]
	for _, o := range s.order {
		if !o.gone {
			kept = append(kept, o)
		}
	}
	clear(s.order[len(kept):])
	s.order = kept
}

func (s *Server) emit(ev ServerEvent) {
	if s.cfg.Observer != nil {
		ev.Time = s.clock.Now()
		s.cfg.Observer.ServerEvent(ev)
	}
}

func (s *Server) drop(ss *session, m *message, why DropReason) {
	s.drops[why]++
	s.emit(ServerEvent{Kind: ServerDropped, ClientID: ss.id, Msg: m.id, Topic: m.topic, QoS: m.qos, Drop: why})
}

// Publish stores a push for the device with clientID on topic and sends it
// at once if the device is connected and subscribed. qos is 0 or 1; ttl is
// the time to live (zero: the configured default). The payload is wrapped
// in an envelope carrying the id and publish time (see EncodeEnvelope).
// Publishing to a client id the server has not seen creates its session.
func (s *Server) Publish(clientID, topic string, payload []byte, qos byte, ttl time.Duration) (MsgID, error) {
	if s.closed {
		return 0, errors.New("push: Publish: server closed")
	}
	if clientID == "" || len(clientID) > 65535 || !utf8.ValidString(clientID) {
		return 0, fmt.Errorf("push: Publish: invalid client id %q", clientID)
	}
	if err := validTopicName(topic); err != nil {
		return 0, fmt.Errorf("push: Publish to %q: %w", clientID, err)
	}
	if qos > 1 {
		return 0, fmt.Errorf("push: Publish to %q: QoS %d not supported (0 or 1)", clientID, qos)
	}
	if ttl < 0 {
		return 0, fmt.Errorf("push: Publish to %q: negative ttl %v", clientID, ttl)
	}
	// Fixed header (at most 5) + topic length and bytes + packet id.
	if size := 5 + 2 + len(topic) + 2 + EnvelopeSize + len(payload); size > s.cfg.MaxPacketSize {
		return 0, fmt.Errorf("push: Publish to %q: packet of %d bytes exceeds max packet size %d", clientID, size, s.cfg.MaxPacketSize)
	}
	now := s.clock.Now()
	s.nextMsg++
	m := &message{id: s.nextMsg, topic: topic, qos: qos, published: now}
	m.payload = EncodeEnvelope(m.id, now, payload)
	if ttl == 0 {
		ttl = s.cfg.DefaultTTL
	}
	if ttl > 0 {
		m.expires = now.Add(ttl)
	}
	s.stats.Published++
	ss := s.session(clientID, true)
	s.emit(ServerEvent{Kind: ServerPublished, ClientID: clientID, Msg: m.id, Topic: topic, QoS: qos})
	s.enqueue(ss, m)
	s.dispatch(ss)
	return m.id, nil
}

// route delivers a client's PUBLISH to every session subscribed to its
// topic, in session creation order. Each session gets its own copy (packet
// ids and delivery state are per session); the payload is kept as sent.
func (s *Server) route(topic string, payload []byte, qos byte) {
	now := s.clock.Now()
	s.nextMsg++
	id := s.nextMsg
	s.stats.Published++
	var body []byte
	var topicCopy string
	for _, ss := range s.order {
		if _, ok := ss.grant(topic); !ok {
			continue
		}
		if body == nil {
			// The decoder's slices alias the read buffer.
			body = bytes.Clone(payload)
			if body == nil {
				body = []byte{}
			}
			topicCopy = string([]byte(topic))
		}
		m := &message{id: id, topic: topicCopy, qos: qos, published: now, payload: body}
		if s.cfg.DefaultTTL > 0 {
			m.expires = now.Add(s.cfg.DefaultTTL)
		}
		s.emit(ServerEvent{Kind: ServerPublished, ClientID: ss.id, Msg: id, Topic: topicCopy, QoS: qos})
		s.enqueue(ss, m)
		s.dispatch(ss)
	}
}

// enqueue applies the offline policy and appends m.
func (s *Server) enqueue(ss *session, m *message) {
	switch s.cfg.Offline {
	case KeepLast:
		n := 0
		ss.queue.removeIf(func(o *message) bool { return o.topic == m.topic }, func(o *message) {
			n++
			s.drop(ss, o, DropReplaced)
		})
		s.stored -= n
	case KeepN, KeepAll:
		if ss.queue.len() >= s.cfg.OfflineLimit {
			if s.cfg.Offline == KeepN && s.cfg.FlushOnOverflow {
				for ss.queue.len() > 0 {
					s.drop(ss, ss.queue.pop(), DropOverflow)
					s.stored--
				}
			} else {
				s.drop(ss, ss.queue.pop(), DropOverflow)
				s.stored--
			}
		}
	}
	ss.queue.push(m)
	s.stored++
}

// dispatch writes stored pushes while the session is online, subscribed and
// within its inflight window.
func (s *Server) dispatch(ss *session) {
	sc := ss.conn
	now := s.clock.Now()
	// Under backpressure, wait for OnWritable rather than queue bytes.
	for sc != nil && sc.state == stateConnected && len(sc.out.pending) == 0 && ss.queue.len() > 0 && len(ss.subs) > 0 {
		m := ss.queue.peek()
		if m.expired(now) {
			ss.queue.pop()
			s.stored--
			s.drop(ss, m, DropTTL)
			continue
		}
		qos, ok := ss.grant(m.topic)
		if !ok {
			ss.queue.pop()
			s.stored--
			s.drop(ss, m, DropNoSubscriber)
			continue
		}
		qos = min(qos, m.qos)
		if qos == 1 && len(ss.inflight) >= s.cfg.MaxInflight {
			return
		}
		ss.queue.pop()
		s.stored--
		if qos == 1 {
			m.pid = ss.allocPID()
			ss.inflight = append(ss.inflight, m)
		}
		m.qos = qos
		if !sc.writePublish(m, false) {
			return
		}
	}
}

// grant returns the QoS of the first subscription matching topic.
func (ss *session) grant(topic string) (byte, bool) {
	for _, sub := range ss.subs {
		if topicMatch(sub.filter, topic) {
			return sub.qos, true
		}
	}
	return 0, false
}

// allocPID returns a packet id not used by an inflight push (MQTT-2.3.1-2).
func (ss *session) allocPID() uint16 {
	for {
		ss.nextPID++
		if ss.nextPID == 0 {
			ss.nextPID = 1
		}
		used := ss.conn != nil && ss.conn.probePID == ss.nextPID
		for _, m := range ss.inflight {
			if m.pid == ss.nextPID {
				used = true
				break
			}
		}
		if !used {
			return ss.nextPID
		}
	}
}

// Expire drops stored pushes whose time to live has run out, in session
// creation order. Expiry is otherwise noticed lazily when a push would be
// written; call Expire before reading final counters.
func (s *Server) Expire() {
	now := s.clock.Now()
	for _, ss := range s.order {
		n := 0
		ss.queue.removeIf(func(m *message) bool { return m.expired(now) }, func(m *message) {
			n++
			s.drop(ss, m, DropTTL)
		})
		s.stored -= n
	}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() ServerStats {
	st := s.stats
	st.Sessions = len(s.sessions)
	st.ConnectionsOpen = s.conns.n
	st.SessionsOnline = s.online
	st.Stored = s.stored
	st.Dropped = make(map[DropReason]int)
	for d := DropNone + 1; d < numDrops; d++ {
		if s.drops[d] > 0 {
			st.Dropped[d] = s.drops[d]
		}
	}
	st.Closes = make(map[Reason]int)
	for _, r := range Reasons() {
		if s.closes[r] > 0 {
			st.Closes[r] = s.closes[r]
		}
	}
	return st
}

// SessionInfo describes one session, for tests and per-device results.
type SessionInfo struct {
	ClientID string
	Online   bool
	Stored   int
	Inflight int
	Filters  []string
}

// Session returns the state of the session for clientID.
func (s *Server) Session(clientID string) (SessionInfo, bool) {
	ss := s.session(clientID, false)
	if ss == nil {
		return SessionInfo{}, false
	}
	info := SessionInfo{ClientID: ss.id, Online: ss.conn != nil && ss.conn.state == stateConnected, Stored: ss.queue.len(), Inflight: len(ss.inflight)}
	for _, sub := range ss.subs {
		info.Filters = append(info.Filters, sub.filter)
	}
	return info, true
}

// Close closes every connection (reason stopped) and refuses further
// Publish calls. Sessions are kept for inspection.
func (s *Server) Close() {
	s.closed = true
	for sc := s.conns.head; sc != nil; {
		next := sc.next
		sc.shut(ReasonStopped, nil, closeConn)
		sc = next
	}
}

// connList is an intrusive list of open connections in accept order.
type connList struct {
	head, tail *serverConn
	n          int
}

func (l *connList) add(c *serverConn) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	l.n++
}

func (l *connList) remove(c *serverConn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
	l.n--
}

type connState uint8

const (
	stateNew connState = iota
	stateTLS
	stateAwaitConnect
	stateConnected
	stateClosed
)

// serverConn is one accepted connection; it implements sim.ConnHandler.
// The server holds one per connected device, so the small fields come last
// and share a word.
type serverConn struct {
	s          *Server
	c          sim.Conn
	seq        uint64
	r          *Reader
	out        sendBuffer
	tls        tlsProgress
	sess       *session
	keepAlive  time.Duration // 1.5 x the client's keep-alive; 0: none
	lastRx     time.Time
	timer      tcpip.Timer // connect timeout, then keep-alive
	hb         tcpip.Timer
	probeTimer tcpip.Timer // the outstanding heartbeat probe's deadline (presence.go)
	will       *Will       // registered in CONNECT; nil: none
	prev, next *serverConn
	probePID   uint16 // the outstanding heartbeat probe's packet id; 0: none
	state      connState
	secured    bool // the transport did the TLS handshake (AcceptSecured)
}

// OnConnected starts the connect timeout.
func (sc *serverConn) OnConnected(c sim.Conn) {
	if sc.state != stateNew {
		return
	}
	s := sc.s
	sc.c = c
	s.stats.Accepted++
	s.conns.add(sc)
	if s.closed {
		sc.shut(ReasonStopped, nil, closeConn)
		return
	}
	sc.r = NewReader(s.cfg.MaxPacketSize)
	sc.state = stateAwaitConnect
	if s.cfg.TLS.Enabled() && !sc.secured {
		sc.state = stateTLS
	}
	sc.timer = s.clock.AfterFunc(s.cfg.ConnectTimeout, sc.onTimer)
}

// OnPing implements sim.PingHandler: a transport keep-alive (QUIC PING)
// counts as traffic for the MQTT keep-alive check.
func (sc *serverConn) OnPing(sim.Conn) {
	if sc.state == stateConnected {
		sc.lastRx = sc.s.clock.Now()
	}
}

// onTimer enforces the connect timeout and then the keep-alive.
func (sc *serverConn) onTimer() {
	switch sc.state {
	case stateTLS, stateAwaitConnect:
		sc.shut(ReasonConnectTimeout, nil, abortConn)
	case stateConnected:
		if sc.keepAlive == 0 {
			return
		}
		// Re-arm rather than reset on every packet: one timer event per
		// keep-alive period instead of one per packet.
		due := sc.lastRx.Add(sc.keepAlive)
		if now := sc.s.clock.Now(); now.Before(due) {
			sc.timer.Reset(due.Sub(now))
			return
		}
		sc.shut(ReasonKeepAliveTimeout, nil, abortConn)
	}
}

// OnData frames and handles incoming packets.
func (sc *serverConn) OnData(c sim.Conn, p []byte) {
	if sc.state == stateTLS {
		p = sc.consumeTLS(p)
		if sc.state != stateAwaitConnect || len(p) == 0 {
			return
		}
	}
	if !sc.live() {
		return
	}
	sc.r.Feed(p)
	sc.r.drain(sc)
}

// live reports whether the connection still reads packets.
func (sc *serverConn) live() bool {
	return sc.state == stateAwaitConnect || sc.state == stateConnected
}

// fail closes the connection with a RST after bad input.
func (sc *serverConn) fail(reason Reason, err error) { sc.shut(reason, err, abortConn) }

// consumeTLS counts the emulated handshake's client flights, answering each
// one, and returns the bytes that follow the handshake.
func (sc *serverConn) consumeTLS(p []byte) []byte {
	m := sc.s.cfg.TLS
	for len(p) > 0 && sc.state == stateTLS {
		var want int
		if sc.tls.step < len(m.Exchanges) {
			want = m.Exchanges[sc.tls.step].Client
		} else {
			want = m.Final
		}
		take := min(want-sc.tls.got, len(p))
		sc.tls.got += take
		p = p[take:]
		if sc.tls.got < want {
			break
		}
		if sc.tls.step < len(m.Exchanges) {
			if !sc.write(flight(m.Exchanges[sc.tls.step].Server)) {
				return nil
			}
		}
		sc.tls.step++
		sc.tls.got = 0
		if sc.tls.step > len(m.Exchanges) || (sc.tls.step == len(m.Exchanges) && m.Final == 0) {
			sc.state = stateAwaitConnect
		}
	}
	return p
}

// OnWritable flushes queued bytes and resumes dispatch.
func (sc *serverConn) OnWritable(c sim.Conn) {
	if sc.state == stateClosed {
		return
	}
	if err := sc.out.flush(sc.c); err != nil {
		sc.shut(reasonFromErr(err), err, abortConn)
		return
	}
	if sc.sess != nil && len(sc.out.pending) == 0 {
		sc.s.dispatch(sc.sess)
	}
}

// OnClosed records the end of the connection.
func (sc *serverConn) OnClosed(c sim.Conn, err error) {
	if sc.state == stateClosed {
		return
	}
	if sc.c == nil {
		sc.c = c
		sc.s.conns.add(sc) // closed before OnConnected: keep counts balanced
	}
	sc.shut(reasonFromErr(err), err, keepConn)
}

// closeHow says what shut does with the Conn.
type closeHow uint8

const (
	keepConn  closeHow = iota // the Conn is already gone (OnClosed)
	closeConn                 // FIN: takeover, DISCONNECT, shutdown
	abortConn                 // RST: protocol errors and timeouts
)

// shut ends the connection once: it detaches the session, counts, reports,
// and closes or aborts the Conn as how says.
func (sc *serverConn) shut(reason Reason, err error, how closeHow) {
	if sc.state == stateClosed {
		return
	}
	s := sc.s
	wasConnected := sc.state == stateConnected
	sc.state = stateClosed
	if sc.timer != nil {
		sc.timer.Stop()
	}
	if sc.hb != nil {
		sc.hb.Stop()
	}
	sc.stopProbe()
	s.conns.remove(sc)
	s.closes[reason]++
	ev := ServerEvent{Kind: ServerRejected, Reason: reason, Err: err}
	if sc.c != nil {
		ev.Remote = sc.c.RemoteAddr()
	}
	if ss := sc.sess; ss != nil && wasConnected {
		ev.Kind = ServerDisconnected
		ev.ClientID = ss.id
		for _, m := range ss.inflight {
			if m.conn == sc.seq {
				ev.Unacked++
			}
		}
		s.stats.WrittenUnacked += ev.Unacked
		if ss.conn == sc {
			ss.conn = nil
			s.online--
		}
	}
	s.emit(ev)
	if ev.Kind == ServerDisconnected {
		sc.willOnLoss(ev.ClientID, reason)
	}
	if ss := sc.sess; ss != nil && ss.clean && ss.conn == nil && !ss.gone {
		s.dropSession(ss) // MQTT-3.1.2-6: a clean session ends with its connection
	}
	sc.sess = nil
	sc.out.pending = nil
	if sc.c != nil && how != keepConn {
		if how == abortConn {
			sc.c.Abort()
		} else {
			sc.c.Close()
		}
	}
}

// write sends b, closing the connection on failure.
func (sc *serverConn) write(b []byte) bool {
	if err := sc.out.write(sc.c, b); err != nil {
		if errors.Is(err, errBufferFull) {
			sc.shut(ReasonBufferOverflow, err, abortConn)
		} else {
			sc.shut(reasonFromErr(err), err, abortConn)
		}
		return false
	}
	return true
}

func (sc *serverConn) writePacket(t byte, pk *packets.Packet) bool {
	buf := &sc.s.scratch
	buf.Reset()
	if err := encode(buf, t, pk); err != nil {
		sc.shut(ReasonOther, err, abortConn)
		return false
	}
	return sc.write(buf.Bytes())
}

// writePublish writes push m on this connection.
func (sc *serverConn) writePublish(m *message, dup bool) bool {
	s := sc.s
	pk := packets.Packet{TopicName: m.topic, Payload: m.payload, PacketID: m.pid}
	pk.FixedHeader.Qos = m.qos
	pk.FixedHeader.Dup = dup && m.qos > 0
	m.conn = sc.seq
	s.stats.Sent++
	if pk.FixedHeader.Dup {
		s.stats.Redelivered++
	}
	s.emit(ServerEvent{Kind: ServerPublishSent, ClientID: sc.sess.id, Remote: sc.c.RemoteAddr(), Msg: m.id, Topic: m.topic, QoS: m.qos, Dup: pk.FixedHeader.Dup})
	return sc.writePacket(packets.Publish, &pk)
}

// handle processes one packet.
func (sc *serverConn) handle(h byte, body []byte) error {
	pk, err := Decode(h, body)
	if err != nil {
		return err
	}
	s := sc.s
	sc.lastRx = s.clock.Now()
	t := pk.FixedHeader.Type
	if sc.state == stateAwaitConnect {
		if t != packets.Connect {
			return fmt.Errorf("first packet is %s, want CONNECT (MQTT-3.1.0-1)", packetName(t))
		}
		return sc.handleConnect(&pk)
	}
	switch t {
	case packets.Connect:
		return errors.New("second CONNECT (MQTT-3.1.0-2)")
	case packets.Pingreq:
		s.stats.Pings++
		sc.write(pingrespBytes)
	case packets.Puback:
		sc.handlePuback(pk.PacketID)
	case packets.Subscribe:
		return sc.handleSubscribe(&pk)
	case packets.Unsubscribe:
		return sc.handleUnsubscribe(&pk)
	case packets.Publish:
		// Devices do not publish in natsim's push model; accept and
		// acknowledge (MQTT 3.1.1 §4.3) but route nowhere, unless the
		// server routes publishes (natsim pushd).
		if pk.FixedHeader.Qos > 1 {
			return errors.New("PUBLISH with QoS 2 is outside natsim's subset")
		}
		if code := pk.PublishValidate(0); code != packets.CodeSuccess {
			return fmt.Errorf("PUBLISH: %v", code)
		}
		if err := validTopicName(pk.TopicName); err != nil {
			return fmt.Errorf("PUBLISH: %w", err)
		}
		if pk.FixedHeader.Qos == 1 && !sc.write(appendPuback(nil, pk.PacketID)) {
			return nil
		}
		if s.cfg.RoutePublishes {
			s.route(pk.TopicName, pk.Payload, pk.FixedHeader.Qos)
		}
		s.notify(pk.TopicName, pk.Payload)
	case packets.Disconnect:
		sc.shut(ReasonClientDisconnect, nil, closeConn)
	default:
		return fmt.Errorf("unexpected %s from a client", packetName(t))
	}
	return nil
}

func (sc *serverConn) handleConnect(pk *packets.Packet) error {
	s := sc.s
	if code := pk.ConnectValidate(); code != packets.CodeSuccess {
		return fmt.Errorf("CONNECT: %v", code)
	}
	// MQTT-3.1.2-2: refuse other protocol levels with return code 1.
	if pk.ProtocolVersion != protocolVersion {
		sc.refuse(1)
		return nil
	}
	id := pk.Connect.ClientIdentifier
	if id == "" {
		if !pk.Connect.Clean {
			sc.refuse(2) // MQTT-3.1.3-8: identifier rejected
			return nil
		}
		s.autoID++
		id = fmt.Sprintf("auto-%d", s.autoID) // MQTT-3.1.3-6
	}
	id = string([]byte(id)) // the decoder's string aliases the read buffer
	old := s.session(id, false)
	if old != nil && old.conn != nil {
		// MQTT-3.1.4-2: a new connection with an existing client id
		// disconnects the old one (a phone that reconnects before the
		// server noticed its old connection died).
		old.conn.shut(ReasonTakeover, nil, closeConn)
		old = s.session(id, false)
	}
	present := old != nil && !pk.Connect.Clean
	if old != nil && pk.Connect.Clean {
		s.dropSession(old)
	}
	ss := s.session(id, true)
	ss.clean = pk.Connect.Clean
	ss.conn = sc
	s.online++
	sc.sess = ss
	sc.state = stateConnected
	sc.keepWill(pk)
	s.stats.Connects++
	sc.timer.Stop()
	sc.keepAlive = time.Duration(pk.Connect.Keepalive) * time.Second * 3 / 2 // MQTT-3.1.2-24
	if f := s.cfg.KeepAliveFactor; f != 0 && f != 1.5 {
		sc.keepAlive = time.Duration(float64(time.Duration(pk.Connect.Keepalive)*time.Second) * f)
	}
	if sc.keepAlive > 0 {
		sc.timer = s.clock.AfterFunc(sc.keepAlive, sc.onTimer)
	}
	ack := packets.Packet{SessionPresent: present}
	if !sc.writePacket(packets.Connack, &ack) {
		return nil
	}
	s.emit(ServerEvent{Kind: ServerConnected, ClientID: id, Remote: sc.c.RemoteAddr(), SessionPresent: present})
	if hb := s.cfg.Heartbeat; hb.Interval > 0 {
		sc.hb = s.clock.AfterFunc(hb.Interval, sc.onHeartbeat)
	}
	// MQTT-4.4.0-1: resend unacknowledged QoS 1 pushes with DUP, in order.
	now := s.clock.Now()
	kept := ss.inflight[:0]
	for _, m := range ss.inflight {
		if m.expired(now) {
			s.drop(ss, m, DropTTL)
			continue
		}
		kept = append(kept, m)
	}
	clear(ss.inflight[len(kept):])
	ss.inflight = kept
	for _, m := range ss.inflight {
		if sc.state != stateConnected || !sc.writePublish(m, true) {
			return nil
		}
	}
	s.dispatch(ss)
	return nil
}

// refuse answers CONNECT with a refusal return code and closes.
func (sc *serverConn) refuse(code byte) {
	ack := packets.Packet{ReasonCode: code}
	if sc.writePacket(packets.Connack, &ack) {
		sc.shut(ReasonRefused, fmt.Errorf("CONNACK return code %d", code), closeConn)
	}
}

func (sc *serverConn) handlePuback(pid uint16) {
	if sc.probeAcked(pid) {
		return
	}
	s, ss := sc.s, sc.sess
	for i, m := range ss.inflight {
		if m.pid != pid {
			continue
		}
		ss.inflight = append(ss.inflight[:i], ss.inflight[i+1:]...)
		s.stats.Acked++
		s.emit(ServerEvent{Kind: ServerPublishAcked, ClientID: ss.id, Remote: sc.c.RemoteAddr(), Msg: m.id, Topic: m.topic, QoS: 1, Latency: s.clock.Now().Sub(m.published)})
		s.dispatch(ss)
		return
	}
	// An unknown id is a late PUBACK for a push already acknowledged or
	// dropped: harmless.
}

func (sc *serverConn) handleSubscribe(pk *packets.Packet) error {
	s, ss := sc.s, sc.sess
	if code := pk.SubscribeValidate(); code != packets.CodeSuccess {
		return fmt.Errorf("SUBSCRIBE: %v", code)
	}
	if pk.PacketID == 0 {
		return errors.New("SUBSCRIBE without packet id (MQTT-2.3.1-1)")
	}
	ack := packets.Packet{PacketID: pk.PacketID}
	for _, f := range pk.Filters {
		if err := validTopicFilter(f.Filter); err != nil {
			return fmt.Errorf("SUBSCRIBE: %w", err)
		}
		qos := min(f.Qos, 1) // QoS 2 is granted as 1 (MQTT-3.8.4-6)
		filter := string([]byte(f.Filter))
		replaced := false
		for i := range ss.subs {
			if ss.subs[i].filter == filter {
				ss.subs[i].qos, replaced = qos, true
			}
		}
		if !replaced {
			if len(ss.subs) >= maxSubscriptions {
				return fmt.Errorf("SUBSCRIBE: more than %d filters", maxSubscriptions)
			}
			ss.subs = append(ss.subs, subscription{filter: filter, qos: qos})
		}
		ack.ReasonCodes = append(ack.ReasonCodes, qos)
		s.emit(ServerEvent{Kind: ServerSubscribed, ClientID: ss.id, Remote: sc.c.RemoteAddr(), Topic: filter, QoS: qos})
	}
	if !sc.writePacket(packets.Suback, &ack) {
		return nil
	}
	s.dispatch(ss)
	return nil
}

// maxSubscriptions bounds a session's filters (memory per session).
const maxSubscriptions = 64

func (sc *serverConn) handleUnsubscribe(pk *packets.Packet) error {
	ss := sc.sess
	if pk.PacketID == 0 || len(pk.Filters) == 0 {
		return errors.New("UNSUBSCRIBE without packet id or filters (MQTT-3.10.3-2)")
	}
	for _, f := range pk.Filters {
		kept := ss.subs[:0]
		for _, sub := range ss.subs {
			if sub.filter != f.Filter {
				kept = append(kept, sub)
			}
		}
		ss.subs = kept
	}
	// UNSUBACK: 0xB0, remaining length 2, packet id (MQTT 3.1.1 §3.11).
	sc.write([]byte{packets.Unsuback << 4, 2, byte(pk.PacketID >> 8), byte(pk.PacketID)})
	return nil
}

func (sc *serverConn) onHeartbeat() {
	if sc.state != stateConnected {
		return
	}
	s := sc.s
	pk := packets.Packet{TopicName: s.cfg.Heartbeat.Topic}
	if !sc.arm(&pk) {
		sc.hb.Reset(s.cfg.Heartbeat.Interval) // the last probe is still out
		return
	}
	s.stats.Heartbeats++
	s.emit(ServerEvent{Kind: ServerHeartbeatSent, ClientID: sc.sess.id, Remote: sc.c.RemoteAddr(), Topic: pk.TopicName})
	if sc.writePacket(packets.Publish, &pk) {
		sc.hb.Reset(s.cfg.Heartbeat.Interval)
	}
}
