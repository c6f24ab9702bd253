package workload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Schedule yields a device's notification send times in non-decreasing
// order, one per call, until ok is false.
type Schedule interface {
	Next() (t time.Time, ok bool)
}

// Poisson is a Poisson process: exponential gaps at a rate, from start
// (exclusive) to end (exclusive).
type Poisson struct {
	rng      *rand.Rand
	meanGapS float64
	t, end   time.Time
}

// NewPoisson returns Poisson arrivals at perHour messages per hour in
// (start, end), drawing gaps from rng, the device's seeded source.
func NewPoisson(start, end time.Time, perHour float64, rng *rand.Rand) (*Poisson, error) {
	switch {
	case !(perHour > 0) || math.IsInf(perHour, 0):
		return nil, fmt.Errorf("workload: poisson: rate = %v per hour must be positive and finite", perHour)
	case rng == nil:
		return nil, fmt.Errorf("workload: poisson: rng is nil")
	case end.Before(start):
		return nil, fmt.Errorf("workload: poisson: end %v is before start %v", end, start)
	}
	return &Poisson{rng: rng, meanGapS: 3600 / perHour, t: start, end: end}, nil
}

// Next implements Schedule.
func (p *Poisson) Next() (time.Time, bool) {
	gap := p.rng.ExpFloat64() * p.meanGapS
	if gap >= p.end.Sub(p.t).Seconds() {
		p.t = p.end
		return time.Time{}, false
	}
	p.t = p.t.Add(time.Duration(gap * float64(time.Second)))
	if !p.t.Before(p.end) {
		return time.Time{}, false
	}
	return p.t, true
}

// Periodic sends every period, the first at start+offset, before end.
type Periodic struct {
	next, end time.Time
	every     time.Duration
}

// NewPeriodic returns a fixed schedule: start+offset, then every period,
// while before end.
func NewPeriodic(start, end time.Time, offset, every time.Duration) (*Periodic, error) {
	switch {
	case every <= 0:
		return nil, fmt.Errorf("workload: periodic: every = %v must be positive", every)
	case offset < 0:
		return nil, fmt.Errorf("workload: periodic: offset = %v must not be negative", offset)
	}
	return &Periodic{next: start.Add(offset), end: end, every: every}, nil
}

// Next implements Schedule.
func (p *Periodic) Next() (time.Time, bool) {
	if !p.next.Before(p.end) {
		return time.Time{}, false
	}
	t := p.next
	p.next = p.next.Add(p.every)
	return t, true
}

// At sends count messages at each of a sorted list of instants. The list
// may be shared by many devices (a broadcast to a group): each At keeps
// only its own cursor.
type At struct {
	times []time.Time
	count int
	i, k  int
}

// NewBursts returns n messages at each instant in times (sorted).
func NewBursts(n int, times []time.Time) (*At, error) {
	if n < 1 {
		return nil, fmt.Errorf("workload: bursts: n = %d must be at least 1", n)
	}
	if !slices.IsSortedFunc(times, func(a, b time.Time) int { return a.Compare(b) }) {
		return nil, fmt.Errorf("workload: bursts: times are not sorted")
	}
	return &At{times: times, count: n}, nil
}

// NewBroadcast returns one message at each instant in times (sorted): give
// every device of a group the same slice to broadcast to the group.
func NewBroadcast(times []time.Time) (*At, error) {
	a, err := NewBursts(1, times)
	if err != nil {
		return nil, fmt.Errorf("workload: broadcast: %w", err)
	}
	return a, nil
}

// Next implements Schedule.
func (a *At) Next() (time.Time, bool) {
	if a.i >= len(a.times) {
		return time.Time{}, false
	}
	t := a.times[a.i]
	if a.k++; a.k >= a.count {
		a.i, a.k = a.i+1, 0
	}
	return t, true
}

// Merge interleaves schedules into one, in time order; ties go to the
// earlier argument. It holds one pending time per schedule.
type Merge struct {
	s    []Schedule
	next []time.Time
	ok   []bool
}

// NewMerge returns the merge of schedules.
func NewMerge(schedules ...Schedule) *Merge {
	m := &Merge{s: schedules, next: make([]time.Time, len(schedules)), ok: make([]bool, len(schedules))}
	for i, s := range schedules {
		m.next[i], m.ok[i] = s.Next()
	}
	return m
}

// Next implements Schedule.
func (m *Merge) Next() (time.Time, bool) {
	best := -1
	for i := range m.s {
		if m.ok[i] && (best < 0 || m.next[i].Before(m.next[best])) {
			best = i
		}
	}
	if best < 0 {
		return time.Time{}, false
	}
	t := m.next[best]
	m.next[best], m.ok[best] = m.s[best].Next()
	return t, true
}

// Notification is one push message to one device.
type Notification struct {
	// ID is unique in a run: the device in the high 32 bits, the device's
	// message sequence number (from 0) in the low 32.
	ID uint64
	// Device is the device index.
	Device uint32
	// Sent is when the provider sends it.
	Sent time.Time
}

// MakeID returns the ID of a device's seq-th notification.
func MakeID(device, seq uint32) uint64 { return uint64(device)<<32 | uint64(seq) }

// SplitID returns the device and sequence number of an ID.
func SplitID(id uint64) (device, seq uint32) { return uint32(id >> 32), uint32(id) }

// Source numbers one device's schedule into notifications.
type Source struct {
	s      Schedule
	device uint32
	seq    uint32
}

// NewSource returns the notifications of device from s.
func NewSource(device uint32, s Schedule) *Source { return &Source{s: s, device: device} }

// Next returns the device's next notification.
func (d *Source) Next() (Notification, bool) {
	t, ok := d.s.Next()
	if !ok {
		return Notification{}, false
	}
	n := Notification{ID: MakeID(d.device, d.seq), Device: d.device, Sent: t}
	d.seq++
	return n, true
}

// Stream merges many devices' sources in send-time order (ties by ID:
// device, then sequence), holding one pending notification per device:
// O(log n) per notification.
type Stream struct{ h []pending }

type pending struct {
	at  int64 // n.Sent as UnixNano, the heap key
	n   Notification
	src *Source
}

func (a *pending) less(b *pending) bool {
	return a.at < b.at || a.at == b.at && a.n.ID < b.n.ID
}

// NewStream returns the merged stream of sources.
func NewStream(sources []*Source) *Stream {
	st := &Stream{h: make([]pending, 0, len(sources))}
	for _, s := range sources {
		if n, ok := s.Next(); ok {
			st.h = append(st.h, pending{n.Sent.UnixNano(), n, s})
		}
	}
	for i := len(st.h)/2 - 1; i >= 0; i-- {
		st.down(i)
	}
	return st
}

// down restores the heap below i (container/heap's sift-down, without
// the interface calls on this hot path).
func (st *Stream) down(i int) {
	h := st.h
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		j := l
		if r := l + 1; r < len(h) && h[r].less(&h[l]) {
			j = r
		}
		if !h[j].less(&h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

// Len returns how many devices still have notifications to come.
func (st *Stream) Len() int { return len(st.h) }

// Next returns the next notification of any device.
func (st *Stream) Next() (Notification, bool) {
	if len(st.h) == 0 {
		return Notification{}, false
	}
	top := st.h[0].n
	if n, ok := st.h[0].src.Next(); ok {
		st.h[0].n, st.h[0].at = n, n.Sent.UnixNano()
	} else {
		last := len(st.h) - 1
		st.h[0] = st.h[last]
		st.h = st.h[:last]
	}
	st.down(0)
	return top, true
}
