package strategy

import (
	"time"
)

// Network identifies the access network a device is attached to, so a
// strategy can keep learned state per network (Apple keeps one learned
// interval per interface, WeChat one per network label).
type Network struct {
	// Kind is "wifi" or "cellular" (or another class a scenario names).
	Kind string
	// Label names the particular network (an SSID, a carrier), for
	// strategies that learn per network.
	Label string
}

// Alarm is when the next keep-alive should fire, as a window measured from
// the time it was scheduled: the device's alarm model picks the instant in
// [Earliest, Latest] (Android setWindow, Apple early fire). An exact alarm
// has Earliest == Latest.
type Alarm struct {
	Earliest time.Duration
	Latest   time.Duration
}

// TCPKeepAlive is a TCP-level keep-alive configuration (SO_KEEPALIVE with
// TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT).
type TCPKeepAlive struct {
	// Idle is TCP_KEEPIDLE; zero means no TCP keep-alive.
	Idle time.Duration
	// Interval is TCP_KEEPINTVL.
	Interval time.Duration
	// Count is TCP_KEEPCNT.
	Count int
}

// Strategy decides when a device sends application keep-alives (MQTT
// PINGREQ), how long it waits for the answer, and how it adapts. It is a
// state machine driven by the push client on the scheduler goroutine; it
// reads no clock (every call carries now) and draws randomness only from
// the source it was built with.
type Strategy interface {
	// Name is the preset or registered name, for results.
	Name() string
	// Connected is called when a push connection is up on network n.
	Connected(now time.Time, n Network)
	// Disconnected is called when the push connection is gone.
	Disconnected(now time.Time)
	// Next returns when the next application keep-alive is due, counted
	// from now, the moment of the last keep-alive outcome or connection.
	// ok is false when the strategy sends no application keep-alives
	// (none, tcp-keepalive).
	Next(now time.Time) (a Alarm, ok bool)
	// AckTimeout is how long the client waits for the keep-alive's answer
	// before it declares the connection dead.
	AckTimeout() time.Duration
	// Succeeded reports a keep-alive answered after the connection had been
	// idle for idle.
	Succeeded(now time.Time, idle time.Duration)
	// Failed reports a keep-alive that went unanswered (or a connection
	// found dead) after the connection had been idle for idle.
	Failed(now time.Time, idle time.Duration)
	// TCP returns the TCP keep-alive to set on the push connection, if any.
	TCP() (k TCPKeepAlive, ok bool)
	// Interval is the strategy's current keep-alive interval, for results
	// and convergence plots (zero when it has none).
	Interval() time.Duration
}
