package nat

// timer is one entry of the deadline heap. Entries are lazy: a refresh
// only moves the session's deadline forward, and the stale entry is
// re-armed when it reaches the top (see Table.settleTop). An entry is
// dead once its session's generation has moved on (the slot was freed).
type timer struct {
	at  int64 // nanoseconds since the table's base time
	idx uint32
	gen uint32
}

// timerHeap is a binary min-heap of timers ordered by at, then idx, so
// equal deadlines expire in a deterministic order.
type timerHeap []timer

func (h timerHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].idx < h[j].idx
}

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// pop removes and returns the minimum; the heap must not be empty.
func (h *timerHeap) pop() timer {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
