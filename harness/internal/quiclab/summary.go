package quiclab

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Summary is what a story comes to, in terms that natsim's simulated
// QUIC transport reports too, so that the two can be compared. Times are
// offsets from the start; 0 means "did not happen before End".
type Summary struct {
	// Pings is how many keep-alive PINGs the client sent.
	Pings int
	// Mappings are the client's NAT mappings in the order created.
	Mappings []Mapping
	// Pushes are the server's pushes in the order sent.
	Pushes []Push
	// Dropped is how many server datagrams the NAT box dropped.
	Dropped int
	// DropsFrom is when the first server datagram was dropped; DropsUntil
	// when a server datagram next passed (0: none did before End).
	DropsFrom, DropsUntil time.Duration
	// PublicPorts are the client's public ports as the server saw them,
	// in the order they first appeared.
	PublicPorts []PublicPort
	// Migrations are the times the server moved the connection to a new
	// client address.
	Migrations []time.Duration
	// ClientClosed and ServerClosed are when the idle timeout closed each
	// side's connection.
	ClientClosed, ServerClosed time.Duration
}

// Mapping is one NAT mapping of the client's flow.
type Mapping struct {
	// Created is when the NAT box made it; Gone when it was destroyed
	// (0: alive at End).
	Created, Gone time.Duration
	// PublicPort is the port the client was translated to.
	PublicPort uint16
}

// PublicPort is a public port of the client and when the server first
// saw it.
type PublicPort struct {
	Port uint16
	At   time.Duration
}

// Push is one server push.
type Push struct {
	// Sent is when the server wrote it; Delivered when the client read it
	// (0: never).
	Sent, Delivered time.Duration
}

// String renders the summary on a few lines.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pings=%d; %d server datagrams dropped from %s until %s", s.Pings, s.Dropped, opt(s.DropsFrom), opt(s.DropsUntil))
	for _, p := range s.PublicPorts {
		fmt.Fprintf(&b, "\n  server sees public port %d from %.2fs", p.Port, p.At.Seconds())
	}
	for _, m := range s.Mappings {
		port := ""
		if m.PublicPort != 0 {
			port = fmt.Sprintf(" port %d", m.PublicPort)
		}
		fmt.Fprintf(&b, "\n  mapping%s created %.2fs gone %s", port, m.Created.Seconds(), opt(m.Gone))
	}
	for _, p := range s.Pushes {
		fmt.Fprintf(&b, "\n  push sent %.2fs delivered %s", p.Sent.Seconds(), opt(p.Delivered))
	}
	for _, m := range s.Migrations {
		fmt.Fprintf(&b, "\n  migrated %.2fs", m.Seconds())
	}
	fmt.Fprintf(&b, "\n  idle close: client %s, server %s", opt(s.ClientClosed), opt(s.ServerClosed))
	return b.String()
}

func opt(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// Summarize condenses a kernel-lab timeline.
func Summarize(r Result) Summary {
	var s Summary
	s.AddDatagrams(r.Datagrams)
	for _, e := range r.Events {
		switch e.Kind {
		case KindPing:
			s.Pings++
		case KindMapping:
			s.Mappings = append(s.Mappings, Mapping{Created: e.At, PublicPort: portOf(e.Detail)})
		case KindMappingGone:
			if n := len(s.Mappings); n > 0 && s.Mappings[n-1].Gone == 0 {
				s.Mappings[n-1].Gone = e.At
			}
		case KindPushSent:
			s.Pushes = append(s.Pushes, Push{Sent: e.At})
		case KindPushDelivered:
			for i := range s.Pushes {
				if s.Pushes[i].Delivered == 0 {
					s.Pushes[i].Delivered = e.At
					break
				}
			}
		case KindMigrated:
			s.Migrations = append(s.Migrations, e.At)
		case KindClosed:
			if !strings.HasSuffix(e.Detail, " idle_timeout") {
				break
			}
			if strings.HasPrefix(e.Detail, "client ") {
				s.ClientClosed = e.At
			} else {
				s.ServerClosed = e.At
			}
		}
	}
	return s
}

// AddDatagrams fills the fields that come from the datagrams (in time
// order): Dropped, DropsFrom, DropsUntil and PublicPorts.
func (s *Summary) AddDatagrams(dgs []Datagram) {
	for _, d := range dgs {
		switch {
		case !d.FromServer && d.Passed && !slices.ContainsFunc(s.PublicPorts, func(p PublicPort) bool { return p.Port == d.PublicPort }):
			s.PublicPorts = append(s.PublicPorts, PublicPort{Port: d.PublicPort, At: d.At})
		case d.FromServer && !d.Passed:
			s.Dropped++
			if s.DropsFrom == 0 {
				s.DropsFrom = d.At
			}
		case d.FromServer && d.Passed && s.DropsFrom != 0 && s.DropsUntil == 0:
			s.DropsUntil = d.At
		}
	}
}

// portOf reads the port from a "public port N" detail.
func portOf(detail string) uint16 {
	n, _ := strconv.ParseUint(strings.TrimPrefix(detail, "public port "), 10, 16)
	return uint16(n)
}
