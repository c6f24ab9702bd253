package nat

import "time"

// Direction says which way a packet travels through a middlebox.
type Direction uint8

const (
	// Outbound packets travel from the inside (private, subscriber) side
	// to the outside (public) side.
	Outbound Direction = iota + 1
	// Inbound packets travel from the outside to the inside.
	Inbound
)

// String returns "outbound" or "inbound".
func (d Direction) String() string {
	switch d {
	case Outbound:
		return "outbound"
	case Inbound:
		return "inbound"
	}
	return "direction(?)"
}

// Reverse returns the opposite direction.
func (d Direction) Reverse() Direction {
	if d == Outbound {
		return Inbound
	}
	return Outbound
}

// Packet is a packet a middlebox generates on its own (a TCP RST on
// mapping expiry, an ICMP error), with the direction it travels in.
type Packet struct {
	Dir  Direction
	Data []byte
}

// Verdict is what a middlebox decided about one packet.
type Verdict struct {
	// Forward is true when the packet, possibly rewritten in place,
	// continues in the direction it was travelling.
	Forward bool
	// Drop says why the packet was not forwarded; DropNone when it was.
	Drop DropReason
	// Generated holds packets the middlebox emits in response, such as a
	// RST or an ICMP error. Nil on the fast path.
	Generated []Packet
}

// Middlebox is the engine's view of a packet-processing box. It is pure:
// packet bytes and the current time go in, verdicts and generated packets
// come out, and it never reads a clock. *Table and *Chain implement it.
type Middlebox interface {
	// Process handles pkt (a whole IPv4 packet) travelling in dir at now.
	// It may rewrite pkt in place; it never retains pkt after returning.
	Process(now time.Time, dir Direction, pkt []byte) Verdict
	// NextDeadline reports the earliest time at which the box must act
	// with no packet arriving (a mapping expiring with a RST to send).
	// ok is false when nothing is pending.
	NextDeadline() (t time.Time, ok bool)
	// Expire acts on everything due at or before now and returns the
	// packets that expiry generates. The engine calls it at NextDeadline.
	Expire(now time.Time) []Packet
}

// DropReason says why a middlebox did not forward a packet.
type DropReason uint8

const (
	// DropNone means the packet was forwarded.
	DropNone DropReason = iota
	// DropMalformed: the packet could not be parsed or its checksum is wrong.
	DropMalformed
	// DropUnsupported: a protocol the box does not translate.
	DropUnsupported
	// DropNoMapping: an inbound packet matched no mapping.
	DropNoMapping
	// DropFiltered: a mapping exists but its filtering behaviour rejects
	// the packet's remote endpoint (RFC 4787 section 5).
	DropFiltered
	// DropNotSYN: an outbound mid-stream TCP segment with no mapping, on
	// a box that requires a SYN to create one.
	DropNotSYN
	// DropQuota: the subscriber's port quota or port blocks are exhausted
	// (RFC 6888 REQ-4).
	DropQuota
	// DropTableFull: the table is at capacity.
	DropTableFull
	// DropLinkDown: the box or its link is down.
	DropLinkDown
)

var dropReasonNames = [...]string{
	DropNone:        "none",
	DropMalformed:   "malformed",
	DropUnsupported: "unsupported",
	DropNoMapping:   "no_mapping",
	DropFiltered:    "filtered",
	DropNotSYN:      "not_syn",
	DropQuota:       "quota",
	DropTableFull:   "table_full",
	DropLinkDown:    "link_down",
}

// String returns the snake_case name used in events and results.
func (r DropReason) String() string {
	if int(r) < len(dropReasonNames) {
		return dropReasonNames[r]
	}
	return "unknown"
}
