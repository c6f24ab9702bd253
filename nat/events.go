package nat

import (
	"net/netip"
	"time"
)

// EventKind says what happened to a mapping.
type EventKind uint8

const (
	// MappingCreated: a new session was created.
	MappingCreated EventKind = iota + 1
	// MappingExpired: a session reached its idle timeout.
	MappingExpired
	// MappingEvicted: a session was removed early to make room.
	MappingEvicted
	// MappingFlushed: a session was removed by a runtime event (reboot,
	// failover, public address change).
	MappingFlushed
)

// String returns the snake_case name used in events.jsonl.
func (k EventKind) String() string {
	switch k {
	case MappingCreated:
		return "mapping_created"
	case MappingExpired:
		return "mapping_expired"
	case MappingEvicted:
		return "mapping_evicted"
	case MappingFlushed:
		return "mapping_flushed"
	}
	return "mapping_event(?)"
}

// Event is one mapping lifecycle event. Refreshes are counted (Refreshes
// on the closing event, Stats.Refreshes overall), not reported one by one.
type Event struct {
	Kind EventKind
	// Reason refines Kind: "outbound", "inbound", "loose_pickup" for
	// creation; the TCP state or "udp_initial"/"udp_stream"/"icmp" for
	// expiry; "table_full", "flush", "address_change" for the others.
	Reason string
	// Time is the simulated time the event happened.
	Time time.Time
	// Layer is the table's Config.Name.
	Layer    string
	Protocol Protocol
	// Inside is the private endpoint, Outside the public endpoint the NAT
	// assigned, Remote the far end. For ICMP the port is the echo identifier.
	Inside, Outside, Remote netip.AddrPort
	// Refreshes counts the packets that refreshed the session (on closing events).
	Refreshes uint32
}

// Observer receives lifecycle events synchronously, inside Process,
// Expire and the runtime-event methods. It must not call back into the table.
type Observer func(Event)

// Stats are the table's counters since construction.
type Stats struct {
	// Translated counts packets forwarded with translation.
	Translated uint64
	// Drops counts dropped packets by DropReason.String().
	Drops map[string]uint64
	// RSTsGenerated and ICMPGenerated count packets the table emitted.
	RSTsGenerated, ICMPGenerated uint64
	// QuotaFailures counts mappings refused by the per-subscriber quota or PBA.
	QuotaFailures uint64
	// Created, Expired, Evicted and Flushed count session lifecycle events.
	Created, Expired, Evicted, Flushed uint64
	// Refreshes counts packets that extended a session's deadline.
	Refreshes uint64
	// Active is the number of sessions now; Bindings the public endpoints in use.
	Active, Bindings int
}

// numDropReasons bounds the drop counter array.
const numDropReasons = 16
