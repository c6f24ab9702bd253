package nat

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Protocol is an IPv4 protocol number the table translates.
type Protocol uint8

// Protocols the table translates; everything else is dropped as
// DropUnsupported.
const (
	ProtoICMP Protocol = 1
	ProtoTCP  Protocol = 6
	ProtoUDP  Protocol = 17
)

// String returns "tcp", "udp" or "icmp".
func (p Protocol) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// MappingBehavior says when two sessions from one inside endpoint share a
// public endpoint (RFC 4787 section 4.1).
type MappingBehavior uint8

const (
	// EndpointIndependentMapping (EIM) reuses the public endpoint for every
	// destination (RFC 4787 REQ-1, RFC 5382 REQ-1). The zero value.
	EndpointIndependentMapping MappingBehavior = iota
	// AddressDependentMapping (ADM) reuses it only for the same remote address.
	AddressDependentMapping
	// AddressAndPortDependentMapping (APDM, "symmetric") gives every remote
	// endpoint its own public endpoint.
	AddressAndPortDependentMapping
)

// String returns "eim", "adm" or "apdm".
func (m MappingBehavior) String() string {
	return [...]string{"eim", "adm", "apdm", "mapping(?)"}[min(int(m), 3)]
}

// FilteringBehavior says which inbound packets a mapping admits
// (RFC 4787 section 5).
type FilteringBehavior uint8

const (
	// EndpointIndependentFiltering (EIF) admits any remote endpoint
	// (RFC 4787 REQ-8 recommends it). The zero value.
	EndpointIndependentFiltering FilteringBehavior = iota
	// AddressDependentFiltering (ADF) admits remotes whose address the
	// inside endpoint has sent to.
	AddressDependentFiltering
	// AddressAndPortDependentFiltering (APDF) admits only remote endpoints
	// the inside endpoint has sent to.
	AddressAndPortDependentFiltering
)

// String returns "eif", "adf" or "apdf".
func (f FilteringBehavior) String() string {
	return [...]string{"eif", "adf", "apdf", "filtering(?)"}[min(int(f), 3)]
}

// PortAssignment says how a public port is chosen for a new mapping.
type PortAssignment uint8

const (
	// PortPreserve keeps the inside port when it is free and falls back to
	// random assignment (Linux masquerade). The zero value.
	PortPreserve PortAssignment = iota
	// PortSequential takes the next free port after the last one assigned
	// (the increasing ports NetPiculet saw, research notes section 3.1).
	PortSequential
	// PortRandom takes a random free port (RFC 7857 recommends randomisation).
	PortRandom
)

// String returns "preserve", "sequential" or "random".
func (p PortAssignment) String() string {
	return [...]string{"preserve", "sequential", "random", "assignment(?)"}[min(int(p), 3)]
}

// ExpiryAction says what the box sends when a TCP mapping times out.
type ExpiryAction uint8

const (
	// ExpirySilent removes the mapping and tells no one (most NATs). The zero value.
	ExpirySilent ExpiryAction = iota
	// ExpiryRSTInside sends a RST to the inside endpoint.
	ExpiryRSTInside
	// ExpiryRSTOutside sends a RST to the remote endpoint.
	ExpiryRSTOutside
	// ExpiryRSTBoth sends a RST each way (F5 fastL4 resetOnTimeout).
	ExpiryRSTBoth
)

// String returns "silent", "rst_inside", "rst_outside" or "rst_both".
func (a ExpiryAction) String() string {
	return [...]string{"silent", "rst_inside", "rst_outside", "rst_both", "expiry(?)"}[min(int(a), 4)]
}

// UnsolicitedAction says what happens to an inbound packet addressed to
// the box's public address that matches no mapping.
type UnsolicitedAction uint8

const (
	// UnsolicitedDrop drops it silently (RFC 4787/5382 NATs, CGNs). The zero value.
	UnsolicitedDrop UnsolicitedAction = iota
	// UnsolicitedReject answers as a Linux box's own stack does: TCP gets a
	// RST (unless it is a RST), UDP an ICMP port unreachable (3/3), an ICMP
	// echo request an echo reply.
	UnsolicitedReject
	// UnsolicitedICMP answers every protocol with ICMP port unreachable
	// (3/3), as RFC 5382 REQ-4 asks for TCP (without its 6 s wait).
	UnsolicitedICMP
)

// String returns "drop", "reject" or "icmp".
func (a UnsolicitedAction) String() string {
	return [...]string{"drop", "reject", "icmp", "unsolicited(?)"}[min(int(a), 3)]
}

// MidstreamAction says what happens to an outbound TCP segment without
// SYN that matches no mapping (typically the first packet after expiry).
type MidstreamAction uint8

const (
	// MidstreamDrop drops it; only a new SYN creates a mapping (AWS Network
	// Firewall, research notes section 6.1). The zero value.
	MidstreamDrop MidstreamAction = iota
	// MidstreamRST drops it and answers the inside with a RST, so the client
	// learns at once that its connection is gone.
	MidstreamRST
	// MidstreamPickup re-creates the mapping in the established state
	// (Linux nf_conntrack_tcp_loose=1). The port policy decides whether the
	// public port is the same as before.
	MidstreamPickup
	// MidstreamPickupNewPort re-creates the mapping on a public port this
	// inside endpoint did not use last, so the server sees a new 4-tuple.
	MidstreamPickupNewPort
)

// String returns "drop", "rst", "pickup" or "pickup_new_port".
func (a MidstreamAction) String() string {
	return [...]string{"drop", "rst", "pickup", "pickup_new_port", "midstream(?)"}[min(int(a), 4)]
}

// FullAction says what happens to a packet that needs a new mapping when
// the table is at capacity.
type FullAction uint8

const (
	// FullDrop drops the packet. The zero value.
	FullDrop FullAction = iota
	// FullICMP drops it and sends ICMP destination unreachable, code 13
	// (administratively prohibited), to the inside (RFC 5508 REQ-8,
	// RFC 6888 REQ-11).
	FullICMP
	// FullEvict evicts the mapping closest to expiry to make room (Linux
	// conntrack early drop, approximately).
	FullEvict
)

// String returns "drop", "icmp" or "evict".
func (a FullAction) String() string {
	return [...]string{"drop", "icmp", "evict", "full(?)"}[min(int(a), 3)]
}

// TCPConfig holds the TCP behaviour and one idle timeout per tracked state.
// The timeout names follow Linux's nf_conntrack_tcp_timeout_* sysctls so a
// Linux network namespace can be described field by field.
type TCPConfig struct {
	// Mapping is the TCP mapping behaviour (RFC 5382 REQ-1 asks for EIM).
	Mapping MappingBehavior
	// Filtering is the TCP filtering behaviour (RFC 5382 REQ-3).
	Filtering FilteringBehavior
	// SynSent applies after a SYN from the initiator (Linux tcp_timeout_syn_sent).
	SynSent time.Duration
	// SynRecv applies after the responder's SYN-ACK (tcp_timeout_syn_recv).
	SynRecv time.Duration
	// Established applies to an open connection (tcp_timeout_established;
	// RFC 5382 REQ-5: at least 2 h 4 min).
	Established time.Duration
	// FinWait applies after the first FIN (tcp_timeout_fin_wait).
	FinWait time.Duration
	// CloseWait applies once the first FIN is acknowledged (tcp_timeout_close_wait).
	CloseWait time.Duration
	// LastAck applies after the second FIN (tcp_timeout_last_ack).
	LastAck time.Duration
	// TimeWait applies once both FINs are acknowledged (tcp_timeout_time_wait).
	TimeWait time.Duration
	// Close applies after a RST (tcp_timeout_close; RFC 7857 recommends 4 min).
	Close time.Duration
	// Unacknowledged caps the timeout while either side has unacknowledged
	// data (tcp_timeout_unacknowledged); zero disables the cap.
	Unacknowledged time.Duration
	// MaxRetrans caps the timeout once MaxRetransCount identical segments
	// have been seen in a row (tcp_timeout_max_retrans); zero disables it.
	MaxRetrans time.Duration
	// MaxRetransCount is Linux's tcp_max_retrans (default 3).
	MaxRetransCount int
	// Midstream says what an outbound non-SYN segment without a mapping does.
	Midstream MidstreamAction
}

// UDPConfig holds the UDP behaviour and timeouts.
type UDPConfig struct {
	// Mapping is the UDP mapping behaviour (RFC 4787 REQ-1 asks for EIM).
	Mapping MappingBehavior
	// Filtering is the UDP filtering behaviour (RFC 4787 REQ-8).
	Filtering FilteringBehavior
	// Initial applies until the flow is promoted to a stream (Linux
	// udp_timeout, "unreplied"; Nokia udp-initial).
	Initial time.Duration
	// Established applies to a stream (Linux udp_timeout_stream).
	Established time.Duration
	// StreamAfter is how old a flow must be, with a reply seen, before it
	// is a stream. Linux uses 2 s (stream_ts = 2*HZ); zero promotes on the
	// first reply (Nokia: "until a second packet is seen").
	StreamAfter time.Duration
}

// ICMPConfig holds the ICMP query (echo) behaviour.
type ICMPConfig struct {
	// Mapping is the ICMP query mapping behaviour.
	Mapping MappingBehavior
	// Filtering is the ICMP query filtering behaviour.
	Filtering FilteringBehavior
	// Timeout is the query session timeout (RFC 5508 REQ-2: at least 60 s;
	// Linux icmp_timeout 30 s).
	Timeout time.Duration
}

// PortConfig holds port assignment, port block allocation and quotas.
type PortConfig struct {
	// Assignment is how a port is chosen.
	Assignment PortAssignment
	// Min and Max bound the public ports used for TCP and UDP. Zero means
	// 1024..65535 (64 512 ports, the CSIT port budget, research notes 2.5).
	Min, Max uint16
	// HoldDown keeps a released public port from being given to a new
	// mapping for this long (RFC 6888 REQ-8: 120 s).
	HoldDown time.Duration
	// BlockSize enables port block allocation (PBA) when non-zero: each
	// subscriber (inside address) gets ports only from blocks of this size.
	BlockSize int
	// BlocksPerSubscriber caps the blocks one subscriber holds (zero: 1
	// when PBA is on).
	BlocksPerSubscriber int
	// BlockIdle releases a subscriber's block after it has had no port in
	// use for this long; zero releases it as soon as it is empty.
	BlockIdle time.Duration
	// PerSubscriber caps the public ports one inside address holds across
	// protocols (RFC 6888 REQ-4); zero means no cap.
	PerSubscriber int
}

// Config describes one NAT table. The zero value is invalid: it has no
// public address and no timeouts, and Validate names each missing field.
// Every other zero field is a meaningful default (EIM, EIF, port
// preservation, ports 1024-65535, silent expiry, no cap). Presets return
// fully populated values to override field by field.
type Config struct {
	// Name names the table in events and errors ("home", "cgn").
	Name string
	// PublicAddrs is the pool of public IPv4 addresses. Required.
	PublicAddrs []netip.Addr
	// RouterAddr is the source of ICMP errors the box sends to the inside;
	// zero means the first public address.
	RouterAddr netip.Addr
	// PairedPooling gives every mapping of one inside address the same
	// public address (RFC 4787 REQ-2, RFC 6888 REQ-2). Without it each
	// new public port draws a pool address at random.
	PairedPooling bool
	// Hairpinning translates packets from the inside to a public endpoint
	// of this box back to the inside (RFC 4787 REQ-9, RFC 5382 REQ-8).
	Hairpinning bool
	// TCP, UDP and ICMP hold the per-protocol behaviour and timeouts.
	TCP  TCPConfig
	UDP  UDPConfig
	ICMP ICMPConfig
	// Ports holds port assignment, PBA and quota.
	Ports PortConfig
	// RefreshInbound makes inbound packets refresh a mapping too (Linux
	// conntrack refreshes in both directions; RFC 4787 REQ-6 requires only
	// outbound refresh).
	RefreshInbound bool
	// NoRefreshOnOutboundErrors stops outbound TCP RSTs and ICMP errors
	// from refreshing a mapping (RFC 7857 section 2, "Outbound Mapping
	// Refresh and Error Packets").
	NoRefreshOnOutboundErrors bool
	// OnExpiry is what a TCP mapping's expiry sends.
	OnExpiry ExpiryAction
	// Unsolicited is what an inbound packet with no mapping gets.
	Unsolicited UnsolicitedAction
	// TrackUnsolicited keeps, as Linux conntrack does, an unreplied entry
	// for each unsolicited inbound UDP datagram (remote -> public
	// endpoint) for UDP.Initial, refreshed by each repeat. While it lives,
	// a new binding whose first session goes to that remote does not get
	// that public endpoint: the kernel's nf_nat_used_tuple finds the reply
	// tuple taken and nf_nat picks another port, so the remote sees the
	// inside host on a new port. TCP and ICMP echo keep no such entry (a
	// rejected TCP segment's entry is closed by the box's RST and a clash
	// with it frees the port; an echo request's entry cannot clash with an
	// outgoing echo). At most 65 536 entries are kept; more are not
	// tracked.
	TrackUnsolicited bool
	// MaxMappings caps the sessions in the table; zero means no cap.
	MaxMappings int
	// WhenFull is what happens when MaxMappings or the port space is exhausted.
	WhenFull FullAction
	// Seed seeds the table's PCG generator (port choice, non-paired pooling).
	Seed uint64

	// err carries a lookup failure from Preset so Validate can report it.
	err error
}

// Validate reports every invalid field, naming it.
func (c Config) Validate() error {
	if c.err != nil {
		return c.err
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("nat: config %q: %s: %s", c.Name, field, fmt.Sprintf(format, args...)))
	}
	if len(c.PublicAddrs) == 0 {
		bad("PublicAddrs", "at least one public IPv4 address is required")
	}
	if len(c.PublicAddrs) > 1<<16 {
		bad("PublicAddrs", "%d addresses, at most 65536", len(c.PublicAddrs))
	}
	seen := map[netip.Addr]bool{}
	for i, a := range c.PublicAddrs {
		if !a.Is4() {
			bad(fmt.Sprintf("PublicAddrs[%d]", i), "%v is not an IPv4 address", a)
		}
		if seen[a] {
			bad(fmt.Sprintf("PublicAddrs[%d]", i), "%v listed twice", a)
		}
		seen[a] = true
	}
	if c.RouterAddr.IsValid() && !c.RouterAddr.Is4() {
		bad("RouterAddr", "%v is not an IPv4 address", c.RouterAddr)
	}
	pos := func(field string, d time.Duration) {
		if d <= 0 {
			bad(field, "must be positive, got %v", d)
		}
	}
	nonneg := func(field string, d time.Duration) {
		if d < 0 {
			bad(field, "must not be negative, got %v", d)
		}
	}
	pos("TCP.SynSent", c.TCP.SynSent)
	pos("TCP.SynRecv", c.TCP.SynRecv)
	pos("TCP.Established", c.TCP.Established)
	pos("TCP.FinWait", c.TCP.FinWait)
	pos("TCP.CloseWait", c.TCP.CloseWait)
	pos("TCP.LastAck", c.TCP.LastAck)
	pos("TCP.TimeWait", c.TCP.TimeWait)
	pos("TCP.Close", c.TCP.Close)
	nonneg("TCP.Unacknowledged", c.TCP.Unacknowledged)
	nonneg("TCP.MaxRetrans", c.TCP.MaxRetrans)
	if c.TCP.MaxRetransCount < 0 || c.TCP.MaxRetransCount > 255 {
		bad("TCP.MaxRetransCount", "must be in 0..255, got %d", c.TCP.MaxRetransCount)
	}
	if c.TCP.MaxRetrans > 0 && c.TCP.MaxRetransCount == 0 {
		bad("TCP.MaxRetransCount", "must be positive when TCP.MaxRetrans is set")
	}
	pos("UDP.Initial", c.UDP.Initial)
	pos("UDP.Established", c.UDP.Established)
	nonneg("UDP.StreamAfter", c.UDP.StreamAfter)
	pos("ICMP.Timeout", c.ICMP.Timeout)
	nonneg("Ports.HoldDown", c.Ports.HoldDown)
	nonneg("Ports.BlockIdle", c.Ports.BlockIdle)
	for _, m := range []struct {
		f string
		v uint8
		n uint8
	}{
		{"TCP.Mapping", uint8(c.TCP.Mapping), 3}, {"TCP.Filtering", uint8(c.TCP.Filtering), 3},
		{"UDP.Mapping", uint8(c.UDP.Mapping), 3}, {"UDP.Filtering", uint8(c.UDP.Filtering), 3},
		{"ICMP.Mapping", uint8(c.ICMP.Mapping), 3}, {"ICMP.Filtering", uint8(c.ICMP.Filtering), 3},
		{"TCP.Midstream", uint8(c.TCP.Midstream), 4}, {"Ports.Assignment", uint8(c.Ports.Assignment), 3},
		{"OnExpiry", uint8(c.OnExpiry), 4}, {"Unsolicited", uint8(c.Unsolicited), 3}, {"WhenFull", uint8(c.WhenFull), 3},
	} {
		if m.v >= m.n {
			bad(m.f, "unknown value %d", m.v)
		}
	}
	lo, hi := c.portRange()
	if lo == 0 || lo > hi {
		bad("Ports.Min", "port range %d..%d is empty or includes 0", lo, hi)
	}
	if c.Ports.BlockSize < 0 {
		bad("Ports.BlockSize", "must not be negative, got %d", c.Ports.BlockSize)
	}
	if c.Ports.BlockSize > 0 && lo <= hi && c.Ports.BlockSize > int(hi-lo)+1 {
		bad("Ports.BlockSize", "%d is larger than the port range %d..%d", c.Ports.BlockSize, lo, hi)
	}
	if c.Ports.BlocksPerSubscriber < 0 {
		bad("Ports.BlocksPerSubscriber", "must not be negative, got %d", c.Ports.BlocksPerSubscriber)
	}
	if c.Ports.PerSubscriber < 0 {
		bad("Ports.PerSubscriber", "must not be negative, got %d", c.Ports.PerSubscriber)
	}
	if c.MaxMappings < 0 {
		bad("MaxMappings", "must not be negative, got %d", c.MaxMappings)
	}
	return errors.Join(errs...)
}

// portRange returns the public port range with the default applied.
func (c *Config) portRange() (lo, hi uint16) {
	lo, hi = c.Ports.Min, c.Ports.Max
	if lo == 0 && hi == 0 {
		// 1024..65535: the 64 512-port budget of the FD.io CSIT NAT44 plan
		// (research notes 2.5) and RFC 4787 REQ-3a's upper range.
		return 1024, 65535
	}
	return lo, hi
}

// blocksPerSubscriber returns the PBA block cap with its default.
func (c *Config) blocksPerSubscriber() int {
	if c.Ports.BlocksPerSubscriber == 0 {
		return 1
	}
	return c.Ports.BlocksPerSubscriber
}
