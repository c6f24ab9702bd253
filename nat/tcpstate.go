package nat

import (
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// tcpState is a tracked TCP state, named after Linux conntrack's
// (RFC 7857 section 2 asks for a TCP state machine; Linux's is the one
// the differential test compares with).
type tcpState uint8

const (
	tcpNone tcpState = iota
	tcpSynSent
	tcpSynRecv
	tcpEstablished
	tcpFinWait
	tcpCloseWait
	tcpLastAck
	tcpTimeWait
	tcpClose
)

var tcpStateNames = [...]string{"tcp_none", "tcp_syn_sent", "tcp_syn_recv", "tcp_established",
	"tcp_fin_wait", "tcp_close_wait", "tcp_last_ack", "tcp_time_wait", "tcp_close"}

func (s tcpState) String() string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return "tcp(?)"
}

func (c *TCPConfig) stateTimeout(s tcpState) time.Duration {
	switch s {
	case tcpSynSent, tcpNone:
		return c.SynSent
	case tcpSynRecv:
		return c.SynRecv
	case tcpEstablished:
		return c.Established
	case tcpFinWait:
		return c.FinWait
	case tcpCloseWait:
		return c.CloseWait
	case tcpLastAck:
		return c.LastAck
	case tcpTimeWait:
		return c.TimeWait
	}
	return c.Close
}

// seqAfter reports whether a is after b in sequence space (RFC 793).
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// tcpSeg is the part of a TCP segment the tracker needs.
type tcpSeg struct {
	flags    header.TCPFlags
	seq, ack uint32
	end      uint32 // seq + payload + SYN + FIN
	win      uint16
}

// trackTCP advances the session's TCP state for one segment travelling
// in dir (Outbound = from the inside) and reports whether the state
// changed and whether it was a plain ACK. It follows the shape of Linux
// nf_conntrack_proto_tcp.c: state by flags and direction, highest
// sequence end and unacknowledged data per direction, and a count of
// identical consecutive segments as the retransmission detector.
func trackTCP(s *session, dir Direction, g tcpSeg) (changed, ackOnly bool) {
	out := dir == Outbound
	// "orig" is the direction of the side that opened the connection.
	orig := out == (s.flags&sfInbound == 0)
	old := tcpState(s.state)
	st := old
	f := g.flags
	switch {
	case f&header.TCPFlagRst != 0:
		st = tcpClose
	case f&header.TCPFlagSyn != 0 && f&header.TCPFlagAck == 0:
		if orig && (st == tcpNone || st == tcpTimeWait || st == tcpClose) {
			// A new SYN reopens a closed tuple (Linux: sTW/sCL + SYN -> sSS).
			st = tcpSynSent
			s.flags &^= sfSeenOut | sfSeenIn | sfUnackOut | sfUnackIn | sfFinOut | sfFinIn | sfAckOut | sfAckIn
			s.retrans = 0
		}
	case f&header.TCPFlagSyn != 0: // SYN-ACK
		if !orig && st == tcpSynSent {
			st = tcpSynRecv
		}
	case f&header.TCPFlagFin != 0:
		switch st {
		case tcpSynRecv, tcpEstablished:
			st = tcpFinWait
			if out {
				s.flags |= sfFinOut
			} else {
				s.flags |= sfFinIn
			}
		case tcpFinWait, tcpCloseWait:
			if firstFinFrom(s) != dir {
				st = tcpLastAck
			}
		}
	case f&header.TCPFlagAck != 0:
		switch st {
		case tcpSynRecv:
			if orig {
				st = tcpEstablished
			}
		case tcpFinWait:
			if firstFinFrom(s) != dir {
				st = tcpCloseWait
			}
		case tcpLastAck:
			if firstFinFrom(s) == dir {
				st = tcpTimeWait
			}
		}
	}
	s.state = uint8(st)

	// Sequence tracking, cheap: highest end and latest ack per direction.
	seen, unack, ackSeen := sfSeenOut, sfUnackOut, sfAckOut
	peerUnack := sfUnackIn
	end, ackp := &s.outEnd, &s.outAck
	peerEnd := s.inEnd
	peerSeen := s.flags&sfSeenIn != 0
	if !out {
		seen, unack, ackSeen, peerUnack = sfSeenIn, sfUnackIn, sfAckIn, sfUnackOut
		end, ackp, peerEnd, peerSeen = &s.inEnd, &s.inAck, s.outEnd, s.flags&sfSeenOut != 0
	}
	if s.flags&seen == 0 || seqAfter(g.end, *end) {
		if s.flags&seen != 0 && g.end != g.seq {
			s.flags |= unack
		}
		*end = g.end
		s.flags |= seen
	}
	if f&header.TCPFlagAck != 0 {
		*ackp = g.ack
		s.flags |= ackSeen
		if peerSeen && g.ack == peerEnd {
			s.flags &^= peerUnack
		}
	}
	ackOnly = f&(header.TCPFlagSyn|header.TCPFlagFin|header.TCPFlagRst) == 0 && f&header.TCPFlagAck != 0
	if ackOnly {
		sig := g.seq*2654435761 ^ g.ack*40503 ^ g.end*97 ^ uint32(g.win)<<1 ^ uint32(dir)
		if sig == s.lastSig {
			if s.retrans < 255 {
				s.retrans++
			}
		} else {
			s.lastSig, s.retrans = sig, 0
		}
	}
	return st != old, ackOnly
}

// firstFinFrom returns the direction of the first FIN.
func firstFinFrom(s *session) Direction {
	if s.flags&sfFinOut != 0 {
		return Outbound
	}
	return Inbound
}
