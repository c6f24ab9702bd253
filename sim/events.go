package sim

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/natsim/natsim/nat"
)

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventConnUp: a connection was established (Conn, Device, Local,
	// Remote).
	EventConnUp EventKind = iota + 1
	// EventConnDown: a connection ended; Err is the reason.
	EventConnDown
	// EventDrop: a packet was dropped; Drop says why and NAT carries the
	// middlebox's reason when Drop is DropMiddlebox.
	EventDrop
	// EventLinkState: a link went down, came up or was reconfigured.
	EventLinkState
	// EventGenerated: a middlebox generated a packet (a RST on mapping
	// expiry, an ICMP error).
	EventGenerated
	// EventAddrChange: a device's address changed (Addr new, Old old).
	EventAddrChange
	// EventNetworkChange: a device's interface went down or up, or it
	// moved to another access network (Detail names the network).
	EventNetworkChange
)

var eventKindNames = [...]string{
	EventConnUp:        "conn_up",
	EventConnDown:      "conn_down",
	EventDrop:          "drop",
	EventLinkState:     "link_state",
	EventGenerated:     "generated",
	EventAddrChange:    "addr_change",
	EventNetworkChange: "network_change",
}

// String returns the snake_case name used in results.
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && eventKindNames[k] != "" {
		return eventKindNames[k]
	}
	return "unknown"
}

// DropCause says why the engine dropped a packet.
type DropCause uint8

// Drop causes.
const (
	DropNone DropCause = iota
	// DropLinkLoss: the link's random loss.
	DropLinkLoss
	// DropLinkDown: the link was down.
	DropLinkDown
	// DropMiddlebox: a middlebox's verdict; Event.NAT says why.
	DropMiddlebox
	// DropNoRoute: no host, device or middlebox owns the destination.
	DropNoRoute
	// DropInterfaceDown: the device's interface is down or its address
	// has gone (also for a packet that was crossing the access link to
	// a home router the change replaced).
	DropInterfaceDown
)

var dropCauseNames = [...]string{
	DropNone:          "none",
	DropLinkLoss:      "link_loss",
	DropLinkDown:      "link_down",
	DropMiddlebox:     "middlebox",
	DropNoRoute:       "no_route",
	DropInterfaceDown: "interface_down",
}

// String returns the snake_case name used in results.
func (c DropCause) String() string {
	if int(c) < len(dropCauseNames) {
		return dropCauseNames[c]
	}
	return "unknown"
}

// Event is one entry of the world's event stream. Fields that do not
// apply to the kind are zero.
type Event struct {
	At     time.Time
	Kind   EventKind
	Device *Device // the device concerned, when known
	Conn   uint64  // connection id, for connection events
	Local  netip.AddrPort
	Remote netip.AddrPort
	Err    error          // EventConnDown: the reason
	Drop   DropCause      // EventDrop
	NAT    nat.DropReason // EventDrop with DropMiddlebox
	Dir    nat.Direction  // EventDrop, EventGenerated: travel direction
	Where  string         // link or middlebox name
	Link   string         // EventLinkState
	Down   bool           // EventLinkState, EventNetworkChange
	Addr   netip.Addr     // EventAddrChange: new address
	Old    netip.Addr     // EventAddrChange: previous address
	Size   int            // packet size for packet events
	Detail string
}

// String formats the event on one line for logs and test failures.
func (e Event) String() string {
	s := fmt.Sprintf("%s %s", e.At.Format("15:04:05.000000"), e.Kind)
	if e.Device != nil {
		s += " dev=" + e.Device.Name()
	}
	if e.Conn != 0 {
		s += fmt.Sprintf(" conn=%d %s->%s", e.Conn, e.Local, e.Remote)
	}
	if e.Err != nil {
		s += " err=" + e.Err.Error()
	}
	if e.Drop != DropNone {
		s += " drop=" + e.Drop.String()
		if e.Drop == DropMiddlebox {
			s += "/" + e.NAT.String()
		}
	}
	if e.Where != "" {
		s += " at=" + e.Where
	}
	if e.Link != "" {
		s += fmt.Sprintf(" link=%s down=%v", e.Link, e.Down)
	}
	if e.Addr.IsValid() || e.Old.IsValid() {
		s += fmt.Sprintf(" addr=%s old=%s", e.Addr, e.Old)
	}
	if e.Detail != "" {
		s += " " + e.Detail
	}
	return s
}

// Subscribe adds f to the event stream's subscribers. f runs on the
// scheduler goroutine, in subscription order, with the event's virtual
// time.
func (w *World) Subscribe(f func(Event)) {
	w.subs = append(w.subs, f)
}

func (w *World) emit(e Event) {
	if len(w.subs) == 0 {
		return
	}
	e.At = w.sched.Now()
	for _, f := range w.subs {
		f(e)
	}
}
