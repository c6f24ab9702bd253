package radio

import "time"

// Cause says why the device sent or received a packet, so energy can be
// split by cause in results.
type Cause uint8

const (
	// CauseOther is traffic with no better attribution.
	CauseOther Cause = iota
	// CauseKeepAlive is keep-alive traffic (PINGREQ/PINGRESP, TCP
	// keep-alive probes) and its ACKs.
	CauseKeepAlive
	// CausePush is a notification and its acknowledgement.
	CausePush
	// CauseReconnect is connection setup: handshake, TLS, CONNECT,
	// SUBSCRIBE, and failed attempts.
	CauseReconnect
)

// String returns the snake_case name used in results.
func (c Cause) String() string {
	switch c {
	case CauseKeepAlive:
		return "keepalive"
	case CausePush:
		return "push"
	case CauseReconnect:
		return "reconnect"
	}
	return "other"
}

// Model is one device's radio: a state machine driven by the packets the
// device actually sends and receives. It reads no clock; every call
// carries now, and calls come in non-decreasing time order.
type Model interface {
	// Packet records a packet of size bytes, sent (up) or received, at now,
	// attributed to cause.
	Packet(now time.Time, up bool, size int, cause Cause)
	// Report returns the energy and radio-on time accumulated from the
	// start up to now (tails still running are counted up to now).
	Report(now time.Time) Report
}

// Report is a device's radio energy, total and by cause.
type Report struct {
	// EnergyJ is the energy above the idle baseline in joules, including
	// idle paging when the preset models it.
	EnergyJ float64
	// ByCauseJ splits EnergyJ by the cause that woke the radio.
	ByCauseJ map[Cause]float64
	// OnTime is the time spent in promotion and high-power states.
	OnTime time.Duration
	// Wakeups counts promotions from idle.
	Wakeups int
	// IdleJ is the part of EnergyJ spent in idle (paging, Wi-Fi standby);
	// ByCauseJ counts it under CauseOther. It depends only on how long the
	// device was on (Device.PowerOff), not on traffic, so subtract it to
	// compare strategies.
	IdleJ float64
	// ByOwnerJ splits the energy above idle by owner (index) and cause
	// when the device's owners were set (Device.SetOwners); nil otherwise.
	// Idle paging belongs to the device, to no owner.
	ByOwnerJ []map[Cause]float64
}
