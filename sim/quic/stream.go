package quic

// span is a half-open byte range [lo, hi) of a stream.
type span struct{ lo, hi uint64 }

// spanSet is a sorted set of disjoint, non-adjacent spans.
type spanSet []span

// add inserts [lo, hi), merging neighbours.
func (s *spanSet) add(lo, hi uint64) {
	if lo >= hi {
		return
	}
	v := *s
	i := 0
	for i < len(v) && v[i].hi < lo {
		i++
	}
	j := i
	for j < len(v) && v[j].lo <= hi {
		lo = min(lo, v[j].lo)
		hi = max(hi, v[j].hi)
		j++
	}
	if i == j {
		v = append(v, span{})
		copy(v[i+1:], v[i:])
		v[i] = span{lo, hi}
	} else {
		v[i] = span{lo, hi}
		v = append(v[:i+1], v[j:]...)
	}
	*s = v
}

// covers reports whether [lo, hi) lies inside one span.
func (s spanSet) covers(lo, hi uint64) bool {
	for _, r := range s {
		if r.lo <= lo && hi <= r.hi {
			return true
		}
		if r.lo > lo {
			break
		}
	}
	return false
}

// sendStream is the sending half of a stream or of a CRYPTO level: bytes
// the application wrote, sent once and resent when lost, until the peer
// acknowledges them.
type sendStream struct {
	buf   []byte // bytes from offset base on, not yet all acknowledged
	base  uint64
	next  uint64 // next offset never sent
	retx  spanSet
	acked spanSet
	// fin: the stream ends after buf (only the application stream).
	fin, finSent, finAcked bool
}

// end is the offset after the last byte written.
func (s *sendStream) end() uint64 { return s.base + uint64(len(s.buf)) }

// write appends p.
func (s *sendStream) write(p []byte) { s.buf = append(s.buf, p...) }

// pending reports whether there is something to send.
func (s *sendStream) pending() bool {
	return len(s.retx) > 0 || s.next < s.end() || (s.fin && !s.finSent)
}

// unacked is how many written bytes the peer has not acknowledged.
func (s *sendStream) unacked() int { return len(s.buf) }

// take returns up to n bytes to send next (resent bytes first), their
// offset, and whether the FIN goes with them.
func (s *sendStream) take(n int) (off uint64, data []byte, fin bool) {
	for len(s.retx) > 0 {
		r := s.retx[0]
		if r.hi <= s.base || s.acked.covers(r.lo, r.hi) {
			s.retx = s.retx[1:]
			continue
		}
		lo := max(r.lo, s.base)
		hi := min(r.hi, lo+uint64(n))
		if hi == r.hi {
			s.retx = s.retx[1:]
		} else {
			s.retx[0].lo = hi
		}
		fin = s.fin && hi == s.end()
		return lo, s.buf[lo-s.base : hi-s.base], fin
	}
	lo := s.next
	hi := min(s.end(), lo+uint64(n))
	s.next = hi
	fin = s.fin && hi == s.end() && !s.finSent
	if fin {
		s.finSent = true
	}
	return lo, s.buf[lo-s.base : hi-s.base], fin
}

// lost queues [lo, hi) (and the FIN) for resending.
func (s *sendStream) lost(lo, hi uint64, fin bool) {
	if hi > s.base {
		s.retx.add(max(lo, s.base), hi)
	}
	if fin && !s.finAcked {
		s.finSent = false
		if hi == s.end() && lo == hi {
			return // finSent false resends the FIN alone
		}
	}
}

// ack records [lo, hi) as received by the peer and drops the acknowledged
// prefix.
func (s *sendStream) ack(lo, hi uint64, fin bool) {
	if fin {
		s.finAcked = true
	}
	s.acked.add(lo, hi)
	if len(s.acked) > 0 && s.acked[0].lo <= s.base && s.acked[0].hi > s.base {
		n := s.acked[0].hi - s.base
		s.buf = s.buf[n:]
		if len(s.buf) == 0 {
			s.buf = s.buf[:0:0] // let a large buffer go
		}
		s.base = s.acked[0].hi
	}
}

// recvStream reassembles a stream or a CRYPTO level in order.
type recvStream struct {
	next uint64
	// ahead holds out-of-order data, sorted by offset, non-overlapping.
	ahead []segment
	fin   bool
	final uint64
}

type segment struct {
	off  uint64
	data []byte
}

// maxAhead bounds the out-of-order data kept per stream.
const maxAhead = 1 << 20

// push takes data at off and calls deliver with every byte that is now in
// order, in order.
func (r *recvStream) push(off uint64, data []byte, fin bool, deliver func([]byte)) {
	if fin {
		r.fin, r.final = true, off+uint64(len(data))
	}
	end := off + uint64(len(data))
	if end <= r.next {
		return
	}
	if off > r.next {
		held := 0
		for _, s := range r.ahead {
			held += len(s.data)
		}
		if held+len(data) > maxAhead {
			return // the peer resends it later
		}
		i := 0
		for i < len(r.ahead) && r.ahead[i].off < off {
			i++
		}
		if i < len(r.ahead) && r.ahead[i].off == off && len(r.ahead[i].data) >= len(data) {
			return
		}
		r.ahead = append(r.ahead, segment{})
		copy(r.ahead[i+1:], r.ahead[i:])
		r.ahead[i] = segment{off, append([]byte(nil), data...)}
		return
	}
	data = data[r.next-off:]
	r.next += uint64(len(data))
	deliver(data)
	for len(r.ahead) > 0 && r.ahead[0].off <= r.next {
		s := r.ahead[0]
		r.ahead = r.ahead[1:]
		if e := s.off + uint64(len(s.data)); e > r.next {
			d := s.data[r.next-s.off:]
			r.next = e
			deliver(d)
		}
	}
}
