package push

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/natsim/natsim/sim/radio"
)

// Will is an MQTT Will Message (MQTT 3.1.1 §3.1.2.5): registered in
// CONNECT, published by the server when the connection ends without
// DISCONNECT: keep-alive expiry (§3.1.2.10), a TCP failure or reset, a
// protocol error. Online, when set, is what the client publishes to the
// same topic after every connect (a "birth" message), so a presence
// subscriber sees the device come back.
type Will struct {
	// Topic is the will topic (a topic name: no wildcards).
	Topic string
	// Payload is the will message.
	Payload []byte
	// QoS is the will QoS, 0 or 1.
	QoS byte
	// Online is published (QoS 0) to Topic after every connect; nil for
	// none.
	Online []byte
}

// Validate checks the will's topic and QoS.
func (w *Will) Validate() error {
	if err := validTopicName(w.Topic); err != nil {
		return fmt.Errorf("will: %w", err)
	}
	if w.QoS > 1 {
		return fmt.Errorf("will: QoS %d not supported (0 or 1)", w.QoS)
	}
	return nil
}

// setWill fills CONNECT's will flag, topic, payload and QoS
// (MQTT 3.1.1 §3.1.2.5-§3.1.2.7, §3.1.3.2-§3.1.3.3).
func (w *Will) setWill(pk *packets.Packet) {
	if w == nil {
		return
	}
	pk.Connect.WillFlag = true
	pk.Connect.WillTopic = w.Topic
	pk.Connect.WillPayload = w.Payload
	pk.Connect.WillQos = w.QoS
}

// publishOnline sends the birth message after a connect.
func (c *Client) publishOnline() {
	w := c.cfg.Will
	if w == nil || w.Online == nil {
		return
	}
	pk := packets.Packet{TopicName: w.Topic, Payload: w.Online}
	c.writePacket(radio.CauseOther, packets.Publish, &pk)
}

// PowerOff is the device switching off: every timer of the client stops
// and the connection is dropped without a word (no DISCONNECT, no FIN:
// the caller takes the device's interface down first, so nothing the
// abort emits leaves the device). PowerOn brings it back.
func (c *Client) PowerOff() {
	if c.state == cStopped || c.off {
		return
	}
	c.off = true
	c.halt(ReasonNetworkDown)
}

// PowerOn is the device switching back on: the client reconnects at once
// with a fresh backoff.
func (c *Client) PowerOn() {
	if !c.off {
		return
	}
	c.off = false
	c.wake()
}

// Suspend is the push app suspended by the OS (watchOS or iOS when the
// screen dims): the connection stays open and the OS still acknowledges
// TCP segments, but the strategy's timers stop and nothing received is
// processed until Resume. A connection the server closes meanwhile is
// noticed, but not re-established until Resume.
func (c *Client) Suspend() {
	if c.state == cStopped || c.suspended {
		return
	}
	c.suspended = true
	stop(&c.kaTimer)
	stop(&c.ackTO)
	stop(&c.retry)
	stop(&c.connTO)
	c.pinging = false
}

// Resume ends a suspension: held input is processed, keep-alives are
// rescheduled, and a connection lost meanwhile is re-established.
func (c *Client) Resume() {
	if !c.suspended {
		return
	}
	c.suspended = false
	if cc := c.cur; cc != nil && len(cc.held) > 0 {
		held := cc.held
		cc.held = nil
		cc.OnData(cc.conn, held)
	}
	if c.off {
		return
	}
	switch {
	case c.cur == nil:
		c.wake()
	case c.state == cConnected:
		// A keep-alive that fell due while suspended fires now, as an
		// OS timer that missed its instant fires on resume.
		switch {
		case c.kaTimer != nil || c.pinging:
		case c.kaAt.IsZero():
			c.scheduleKeepAlive()
		default:
			c.armKeepAlive(c.kaAt)
		}
	default:
		// An attempt was in progress when the app was suspended: it gets
		// a fresh connect timeout.
		stop(&c.connTO)
		c.armConnectTimeout(c.cur)
	}
}

// halt drops the current connection or attempt (abort) and every timer,
// leaving the client waiting for wake.
func (c *Client) halt(reason Reason) {
	if c.cur != nil {
		c.lose(reason, nil, abortConn)
	}
	stop(&c.retry)
	stop(&c.connTO)
	if c.state != cStopped && c.state != cIdle {
		c.state = cWaiting
	}
}

// wake reconnects after PowerOn or Resume.
func (c *Client) wake() {
	if c.state == cStopped || c.state == cIdle || c.cur != nil {
		return
	}
	c.attempt = 0
	c.reconnectAfter(0)
}

// asleep reports whether the client must not reconnect by itself now.
func (c *Client) asleep() bool { return c.off || c.suspended }

// ServerWillPublished is reported (ServerEvent Kind) when the server
// publishes a will: ClientID is the device whose connection ended, Topic
// the will topic, Reason why the connection ended.

// Listener receives the messages published on the server whose topic
// matches its filter: wills, and clients' PUBLISHes. It is the provider's
// own subscription (a presence service), inside the server process, so it
// sees them at the instant the server acts. at is the server's clock.
type Listener func(topic string, payload []byte, at time.Time)

type listener struct {
	filter string
	f      Listener
}

// Listen registers f for messages matching filter (an MQTT topic filter).
// Listeners are called in registration order, on the scheduler goroutine,
// and must not call back into the server except Publish.
func (s *Server) Listen(filter string, f Listener) error {
	if f == nil {
		return errors.New("push: Listen: nil listener")
	}
	if err := validTopicFilter(filter); err != nil {
		return fmt.Errorf("push: Listen: %w", err)
	}
	s.listeners = append(s.listeners, listener{filter, f})
	return nil
}

// notify calls the listeners matching topic.
func (s *Server) notify(topic string, payload []byte) {
	if len(s.listeners) == 0 {
		return
	}
	now := s.clock.Now()
	for _, l := range s.listeners {
		if topicMatch(l.filter, topic) {
			l.f(topic, payload, now)
		}
	}
}

// keepWill remembers the will CONNECT registered (the decoder's slices
// alias the read buffer, so it is copied).
func (sc *serverConn) keepWill(pk *packets.Packet) {
	if !pk.Connect.WillFlag {
		sc.will = nil
		return
	}
	sc.will = &Will{Topic: string([]byte(pk.Connect.WillTopic)), Payload: bytes.Clone(pk.Connect.WillPayload), QoS: min(pk.Connect.WillQos, 1)}
	if sc.will.Payload == nil {
		sc.will.Payload = []byte{}
	}
}

// willOnLoss publishes the connection's will if it ended ungracefully
// (MQTT 3.1.1 §3.1.2.5). Not on DISCONNECT (§3.1.2.10 says the server
// discards it), not on a takeover (the device is back: the newer
// connection is proof of life), not on the server's own shutdown.
func (sc *serverConn) willOnLoss(clientID string, reason Reason) {
	w := sc.will
	sc.will = nil
	if w == nil {
		return
	}
	switch reason {
	case ReasonClientDisconnect, ReasonTakeover, ReasonStopped:
		return
	}
	s := sc.s
	s.stats.Wills++
	s.emit(ServerEvent{Kind: ServerWillPublished, ClientID: clientID, Topic: w.Topic, QoS: w.QoS, Reason: reason})
	s.route(w.Topic, w.Payload, w.QoS)
	s.notify(w.Topic, w.Payload)
}

// arm makes pk a probe when heartbeats have a deadline: a QoS 1 PUBLISH,
// with a packet id no inflight push uses, whose PUBACK must come back
// within Heartbeat.AckTimeout (sc.probePID and sc.probeTimer). It returns
// false when the previous probe is still outstanding (no new one is sent).
func (sc *serverConn) arm(pk *packets.Packet) bool {
	to := sc.s.cfg.Heartbeat.AckTimeout
	if to <= 0 {
		return true
	}
	if sc.probePID != 0 {
		return false
	}
	pk.FixedHeader.Qos = 1
	pk.PacketID = sc.sess.allocPID()
	sc.probePID = pk.PacketID
	sc.probeTimer = sc.s.clock.AfterFunc(to, func() {
		if sc.state == stateConnected && sc.probePID != 0 {
			sc.shut(ReasonHeartbeatTimeout, nil, abortConn)
		}
	})
	return true
}

// probeAcked reports whether pid acknowledges the outstanding probe, and
// clears it.
func (sc *serverConn) probeAcked(pid uint16) bool {
	if sc.probePID == 0 || pid != sc.probePID {
		return false
	}
	sc.stopProbe()
	return true
}

func (sc *serverConn) stopProbe() {
	if sc.probeTimer != nil {
		sc.probeTimer.Stop()
		sc.probeTimer = nil
	}
	sc.probePID = 0
}
