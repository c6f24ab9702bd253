package scenarios

import (
	"strconv"
	"time"
)

// The presence event types: a device that vanishes for a while. They take
// group, fraction (default 1) and duration.
const (
	// EventDeviceOff switches devices off: they vanish without FIN or RST
	// and all their timers stop. After Duration (optional; absent: off for
	// the rest of the run) they come back and reconnect.
	EventDeviceOff EventType = "device-off"
	// EventCoverageLoss takes devices out of coverage for Duration: every
	// packet to and from them is dropped, their timers keep running.
	EventCoverageLoss EventType = "coverage-loss"
	// EventAppSuspended suspends the push app for Duration: the connection
	// stays (the OS still acknowledges TCP), the strategy's timers stop
	// and nothing is read until the app resumes, as a watchOS or iOS app
	// suspended when the screen dims.
	EventAppSuspended EventType = "app-suspended"
)

// IsPresenceEvent reports whether t makes devices vanish (device-off,
// coverage-loss, app-suspended).
func IsPresenceEvent(t EventType) bool {
	return t == EventDeviceOff || t == EventCoverageLoss || t == EventAppSuspended
}

// Outages are random outages of a group's devices: each device goes out
// of coverage at the instants of a Poisson process of rate RatePerDay,
// for Duration each time, drawn from the scenario's seed.
type Outages struct {
	// RatePerDay is the mean number of outages per device per day.
	// Required.
	RatePerDay float64 `yaml:"rate_per_day" jsonschema:"required,exclusiveMinimum=0"`
	// Duration is how long each outage lasts. Required.
	Duration time.Duration `yaml:"duration" jsonschema:"required"`
	// Kind is what an outage is: "coverage-loss" (default), "device-off"
	// or "app-suspended", with the meanings of the timeline events.
	Kind EventType `yaml:"kind"`
}

// Will is an MQTT Will Message (MQTT 3.1.1 §3.1.2.5) a group's devices
// register in CONNECT. The server publishes it when a connection ends
// without DISCONNECT (keep-alive expiry, TCP failure, protocol error). A
// device with a will also publishes OnlinePayload to Topic after every
// connect, so the provider's presence subscriber sees it come back.
type Will struct {
	// Topic is the will topic; "{device}" is replaced by the device's
	// name. Default "presence/{device}".
	Topic string `yaml:"topic"`
	// Payload is the will message. Default "offline".
	Payload string `yaml:"payload"`
	// OnlinePayload is what the device publishes to Topic on connect.
	// Default "online".
	OnlinePayload string `yaml:"online_payload"`
	// QoS is the will QoS, 0 or 1. Default 1.
	QoS int `yaml:"qos" jsonschema:"enum=0,enum=1"`
}

// Defaults of a group's will.
const (
	DefaultWillTopic     = "presence/{device}"
	DefaultWillPayload   = "offline"
	DefaultOnlinePayload = "online"
)

// presenceDefaults fills the defaults of a group's outages and will.
func presenceDefaults(s *Scenario, has func(string) bool) {
	for _, name := range sortedKeys(s.Groups) {
		g := s.Groups[name]
		if g == nil {
			continue
		}
		p := "groups." + name
		if o := g.Outages; o != nil && !has(p+".outages.kind") {
			o.Kind = EventCoverageLoss
		}
		if w := g.Will; w != nil {
			if !has(p + ".will.topic") {
				w.Topic = DefaultWillTopic
			}
			if !has(p + ".will.payload") {
				w.Payload = DefaultWillPayload
			}
			if !has(p + ".will.online_payload") {
				w.OnlinePayload = DefaultOnlinePayload
			}
			if !has(p + ".will.qos") {
				w.QoS = 1
			}
		}
	}
	for i := range s.Timeline {
		e := &s.Timeline[i]
		if IsPresenceEvent(e.Type) && !has(indexPath("timeline", i)+".fraction") {
			e.Fraction = 1
		}
	}
}

// presenceGroup checks a group's outages and will.
func (v *validator) presenceGroup(p string, g *Group, s *Scenario) {
	if o := g.Outages; o != nil {
		if !(o.RatePerDay > 0) {
			v.errorf(p+".outages.rate_per_day", "must be positive, got %s", strconv.FormatFloat(o.RatePerDay, 'g', -1, 64))
		}
		v.positive(p+".outages.duration", o.Duration)
		if o.Duration >= s.Duration && s.Duration > 0 {
			v.errorf(p+".outages.duration", "must be shorter than the run (%s), got %s", FormatDuration(s.Duration), FormatDuration(o.Duration))
		}
		if !IsPresenceEvent(o.Kind) {
			v.errorf(p+".outages.kind", "unknown outage kind %q (coverage-loss, device-off or app-suspended)", o.Kind)
		}
	}
	if w := g.Will; w != nil {
		// A QUIC server closes a silent connection at the effective idle
		// timeout (RFC 9000 §10.1), so it needs no MQTT keep-alive to
		// declare the device gone.
		// The will rides every connection of the device, each of which
		// needs a way for its server to notice silence.
		if g.PushKeepAlive == 0 && g.ConnectsToPlatform() && s.Server.HeartbeatTimeout == 0 && g.Transport.Name != TransportQUIC {
			v.errorf(p+".will", "a will needs push_keepalive, server.heartbeat_timeout or transport quic: without a keep-alive or an idle timeout the server never declares a silent device gone (MQTT 3.1.1 §3.1.2.10)")
		}
		for i := range g.Apps {
			a := &g.Apps[i]
			if g.PushKeepAlive != 0 || a.Connection != AppOwn {
				continue
			}
			t, srv := g.Transport, &s.Server
			if a.Transport != nil {
				t = *a.Transport
			}
			if a.Server != nil {
				srv = a.Server
			}
			if t.Name != TransportQUIC && srv.HeartbeatTimeout == 0 {
				v.errorf(p+".will", "app %q's own connection (on tcp) carries the will too but has no keep-alive or idle timeout: set push_keepalive, its server's heartbeat_timeout or its transport to quic, or its server never declares a silent device gone (MQTT 3.1.1 §3.1.2.10)", a.Name)
				break
			}
		}
		if w.QoS != 0 && w.QoS != 1 {
			v.errorf(p+".will.qos", "must be 0 or 1, got %d", w.QoS)
		}
		if w.Topic == "" || !validWillTopic(w.Topic) {
			v.errorf(p+".will.topic", "%q is not a topic name (non-empty, no '+' or '#')", w.Topic)
		}
	}
}

func validWillTopic(t string) bool {
	for _, c := range t {
		if c == '+' || c == '#' || c == 0 {
			return false
		}
	}
	return len(t) <= 65535
}

// presenceServer checks the server's heartbeat deadline.
func (v *validator) presenceServer(p string, srv *Server) {
	v.nonNegative(p+".heartbeat_timeout", srv.HeartbeatTimeout)
	if srv.HeartbeatTimeout > 0 && srv.Heartbeat <= 0 {
		v.errorf(p+".heartbeat_timeout", "needs %s.heartbeat (the probe interval)", p)
	}
}

// presenceEvent checks the duration of a device-off, coverage-loss or
// app-suspended event: it must end within the run.
func (v *validator) presenceEvent(p string, e *Event, s *Scenario) {
	if !IsPresenceEvent(e.Type) {
		return
	}
	if v.src.has(p + ".duration") {
		v.positive(p+".duration", e.Duration)
	}
	if e.Duration > 0 && e.At >= 0 && e.At+e.Duration > s.Duration {
		v.errorf(p+".duration", "the event ends at %s, after the run (%s)", FormatDuration(e.At+e.Duration), FormatDuration(s.Duration))
	}
}
