package quiclab

import (
	"fmt"
	"strings"
	"time"
)

// Action is what a Step does.
type Action string

// The actions a story can schedule.
const (
	// ServerPush makes the server write one push on the client's stream.
	ServerPush Action = "server-push"
	// ForgetMapping deletes the client's entries from the NAT box's
	// connection table (`conntrack -D`), as a NAT reboot or a conntrack
	// flush does, while both endpoints keep their connection.
	ForgetMapping Action = "forget-mapping"
)

// Step is one action at an offset from the start of the run.
type Step struct {
	At     time.Duration
	Action Action
}

// Story is one QUIC client behind the NAT box and one server outside it,
// with the client's quic-go settings and the scheduled actions. The
// client dials at the start of the run, opens one bidirectional stream
// and writes a first message on it (its subscription).
type Story struct {
	// Name labels the story in reports.
	Name string
	// KeepAlive is the client's quic-go Config.KeepAlivePeriod (PINGs
	// when nothing was received for that long); 0 sends none.
	KeepAlive time.Duration
	// IdleTimeout is Config.MaxIdleTimeout on both sides.
	IdleTimeout time.Duration
	// Steps are the scheduled actions, in time order.
	Steps []Step
	// End is when the story's observation stops and its endpoints close.
	End time.Duration
}

// Kind names what an Event records.
type Kind string

// The kinds of events a story's timeline holds.
const (
	// KindHandshake: the client's handshake completed.
	KindHandshake Kind = "handshake"
	// KindPing: the client sent a keep-alive PING (not an MTU probe, nor a
	// loss-recovery probe: it came KeepAlive after the last packet
	// received).
	KindPing Kind = "ping"
	// KindPushSent and KindPushDelivered: a push written by the server and
	// read by the client.
	KindPushSent      Kind = "push-sent"
	KindPushDelivered Kind = "push-delivered"
	// KindForget: the client's conntrack entries were deleted (Detail:
	// how many).
	KindForget Kind = "forget"
	// KindMapping: conntrack created an entry for the client's flow
	// (Detail: its public port).
	KindMapping Kind = "mapping"
	// KindAssured: the client's entry became ASSURED (a replied flow seen
	// after its first 2 s): it now lives for udp_timeout_stream.
	KindAssured Kind = "assured"
	// KindMappingGone: conntrack destroyed the client's entry. The kernel
	// reaps expired entries lazily, so this can come after the entry
	// stopped translating.
	KindMappingGone Kind = "mapping-destroyed"
	// KindInboundEntry: a server datagram that matched no mapping got an
	// entry of its own in the NAT box (Detail: the public port it was
	// addressed to).
	KindInboundEntry Kind = "inbound-entry"
	// KindPublicPort: the server saw the client from a public port it had
	// not seen before (Detail: the port).
	KindPublicPort Kind = "public-port"
	// KindDropped: a server datagram that never reached the client
	// (Detail: the public port it was addressed to).
	KindDropped Kind = "nat-dropped"
	// KindICMP: the NAT box answered a server datagram with ICMP port
	// unreachable (Detail: the public port).
	KindICMP Kind = "icmp-unreachable"
	// KindPathChallenge: the server sent PATH_CHALLENGE to validate a new
	// client address; KindPathResponse: the client answered it.
	KindPathChallenge Kind = "path-challenge"
	KindPathResponse  Kind = "path-response"
	// KindMigrated: the server switched the connection to a new client
	// address (Detail: the address).
	KindMigrated Kind = "migrated"
	// KindClosed: an endpoint's connection closed (Detail: "client" or
	// "server" and quic-go's trigger, e.g. "idle_timeout").
	KindClosed Kind = "closed"
)

// Event is one thing observed in a story, at an offset from the start of
// the run.
type Event struct {
	At     time.Duration
	Kind   Kind
	Detail string
}

// String renders the event as "12.345s kind detail".
func (e Event) String() string {
	s := fmt.Sprintf("%7.3fs %s", e.At.Seconds(), e.Kind)
	if e.Detail != "" {
		s += " " + e.Detail
	}
	return s
}

// Result is one story's timeline.
type Result struct {
	Story Story
	// ClientPort is the client's inside UDP port; ServerPort the server's.
	ClientPort, ServerPort uint16
	// Events are in time order.
	Events []Event
	// Datagrams are every datagram either endpoint sent, in time order.
	Datagrams []Datagram
}

// Datagram is one UDP datagram of a story as an endpoint sent it.
type Datagram struct {
	// At is when the endpoint sent it.
	At time.Duration
	// FromServer is true for the server's datagrams, false for the
	// client's.
	FromServer bool
	// Size is the UDP payload length.
	Size int
	// PublicPort is the client's public port: where the server sent it,
	// or what the NAT box translated the client's source port to (0 when
	// the datagram did not pass).
	PublicPort uint16
	// Passed is true when the datagram left the NAT box on the far side.
	Passed bool
}

// All returns the events of kind k, in time order.
func (r Result) All(k Kind) []Event {
	var out []Event
	for _, e := range r.Events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// First returns the first event of kind k at or after from.
func (r Result) First(k Kind, from time.Duration) (Event, bool) {
	for _, e := range r.Events {
		if e.Kind == k && e.At >= from {
			return e, true
		}
	}
	return Event{}, false
}

// Timeline renders the events one per line.
func (r Result) Timeline() string {
	var b strings.Builder
	for _, e := range r.Events {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}
