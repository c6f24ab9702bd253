package sim

import (
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// DefaultEpoch is the virtual time at which a simulation starts unless
// configured otherwise. A fixed instant keeps runs, logs and pcap
// timestamps identical between machines.
var DefaultEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Timer is a pending call on the scheduler. It implements tcpip.Timer,
// so the scheduler can be the clock of gVisor stacks, whose TCP
// retransmission, keep-alive and delayed-ACK timers all go through the
// stack's clock (gvisor pkg/tcpip/transport/tcp/timer.go).
type Timer struct {
	s   *Scheduler
	idx int32 // position in the heap; -1 when not pending
	f   func()

	// Packet events carry their packet and stage instead of a closure,
	// so the hot path allocates nothing. Internal timers are recycled
	// through the scheduler's free list and never escape the package.
	pf       func(*packet)
	pkt      *packet
	internal bool
}

// Stop cancels the timer. It returns true if the call stopped a pending
// timer and false if the timer had already fired or been stopped, as
// tcpip.Timer and time.Timer specify.
func (t *Timer) Stop() bool {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.idx < 0 {
		return false
	}
	s.remove(int(t.idx))
	return true
}

// Reset re-arms the timer to fire d from now, whether it is pending,
// stopped or expired. A negative d counts as zero.
func (t *Timer) Reset(d time.Duration) {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.idx >= 0 {
		s.remove(int(t.idx))
	}
	s.push(t, int64(s.Elapsed())+max(int64(d), 0))
}

// Pending reports whether the timer is armed.
func (t *Timer) Pending() bool {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	return t.idx >= 0
}

// Scheduler is a discrete-event scheduler. Events run one at a time on
// the goroutine that calls Run, RunUntil or Step, in order of (time,
// scheduling sequence), so equal-time events run in the order they were
// scheduled. It implements tcpip.Clock and Clock.
//
// On the virtual clock (the default) time jumps from event to event and
// never reads the wall clock. On the wall clock the scheduler sleeps until
// the next event is due and Post wakes it for work arriving from other
// goroutines, so the same world can run against real peers.
//
// AfterFunc, Timer.Stop, Timer.Reset, Now and Post are safe from any
// goroutine: gVisor's TCP processors arm timers while they process
// segments.
type Scheduler struct {
	mu     sync.Mutex
	heap   []heapEntry
	seq    uint64
	free   []*Timer // recycled internal timers
	posted []func()

	epoch time.Time
	epNs  int64
	now   atomic.Int64 // virtual nanoseconds since epoch

	wall      bool
	wallStart time.Time
	wake      chan struct{}

	stopped atomic.Bool
	events  uint64

	// after runs after every event on the scheduler goroutine; the world
	// uses it for the quiescence barrier and callback dispatch.
	after func()
}

// NewScheduler returns a scheduler on the virtual clock starting at epoch
// (DefaultEpoch when zero).
func NewScheduler(epoch time.Time) *Scheduler {
	if epoch.IsZero() {
		epoch = DefaultEpoch
	}
	return &Scheduler{epoch: epoch, epNs: epoch.UnixNano(), wake: make(chan struct{}, 1)}
}

// NewWallScheduler returns a scheduler on the wall clock: Now is the real
// time and Run sleeps until events are due.
func NewWallScheduler() *Scheduler {
	s := NewScheduler(time.Now())
	s.wall = true
	s.wallStart = s.epoch
	return s
}

// Wall reports whether the scheduler runs on the wall clock.
func (s *Scheduler) Wall() bool { return s.wall }

// Epoch returns the time at which the simulation started.
func (s *Scheduler) Epoch() time.Time { return s.epoch }

// Elapsed returns the time since the epoch.
func (s *Scheduler) Elapsed() time.Duration {
	if s.wall {
		return time.Since(s.wallStart)
	}
	return time.Duration(s.now.Load())
}

// Now implements tcpip.Clock and Clock.
func (s *Scheduler) Now() time.Time {
	if s.wall {
		return time.Now()
	}
	return time.Unix(0, s.epNs+s.now.Load()).UTC()
}

// NowMonotonic implements tcpip.Clock. Monotonic time counts from the
// epoch.
func (s *Scheduler) NowMonotonic() tcpip.MonotonicTime {
	return tcpip.MonotonicTime{}.Add(s.Elapsed())
}

// AfterFunc implements tcpip.Clock and Clock: f runs on the scheduler
// goroutine d from now.
func (s *Scheduler) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	return s.NewTimer(d, f)
}

// NewTimer is AfterFunc returning the concrete *Timer.
func (s *Scheduler) NewTimer(d time.Duration, f func()) *Timer {
	t := &Timer{s: s, f: f, idx: -1}
	t.Reset(d)
	return t
}

// At runs f on the scheduler goroutine at time t (at once if t is past).
func (s *Scheduler) At(t time.Time, f func()) *Timer {
	return s.NewTimer(t.Sub(s.Now()), f)
}

// Post runs f on the scheduler goroutine as soon as possible, after the
// event in progress. It is safe from any goroutine and wakes a wall-clock
// scheduler that is sleeping.
func (s *Scheduler) Post(f func()) {
	s.mu.Lock()
	s.posted = append(s.posted, f)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// schedulePacket is the allocation-free internal form of AfterFunc used
// for packets in flight: f(p) runs at virtual time at.
func (s *Scheduler) schedulePacket(at int64, f func(*packet), p *packet) {
	s.mu.Lock()
	var t *Timer
	if n := len(s.free); n > 0 {
		t = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		t = &Timer{s: s, idx: -1, internal: true}
	}
	t.pf, t.pkt = f, p
	s.push(t, at)
	s.mu.Unlock()
}

// Events returns how many events have run.
func (s *Scheduler) Events() uint64 { return s.events }

// Stop makes Run return after the event in progress. Safe from any
// goroutine.
func (s *Scheduler) Stop() {
	s.stopped.Store(true)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// drop discards every pending event (World.Close): their timers read as
// stopped, and what their functions hold can be collected.
func (s *Scheduler) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.heap {
		e.t.idx = -1
		e.t.f, e.t.pf, e.t.pkt = nil, nil, nil
	}
	s.heap, s.free, s.posted = nil, nil, nil
}

// Next returns the time of the next pending event.
func (s *Scheduler) Next() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.posted) > 0 {
		return s.Now(), true
	}
	if len(s.heap) == 0 {
		return time.Time{}, false
	}
	return s.epoch.Add(time.Duration(s.heap[0].at)), true
}

// step runs the next event if one is due no later than limit (nanoseconds
// since the epoch) and reports whether it ran one. On the virtual clock
// time jumps to the event; on the wall clock step does not sleep.
func (s *Scheduler) step(limit int64) bool {
	s.mu.Lock()
	if len(s.posted) > 0 {
		f := s.posted[0]
		s.posted[0] = nil
		s.posted = s.posted[1:]
		s.mu.Unlock()
		f()
		s.finish()
		return true
	}
	if len(s.heap) == 0 || s.heap[0].at > limit {
		s.mu.Unlock()
		return false
	}
	t, at := s.heap[0].t, s.heap[0].at
	if s.wall && at > int64(time.Since(s.wallStart)) {
		s.mu.Unlock()
		return false
	}
	s.remove(0)
	if !s.wall && at > s.now.Load() {
		s.now.Store(at)
	}
	if t.internal {
		f, p := t.pf, t.pkt
		t.pf, t.pkt = nil, nil
		s.free = append(s.free, t)
		s.mu.Unlock()
		f(p)
	} else {
		s.mu.Unlock()
		t.f()
	}
	s.finish()
	return true
}

// finish counts the event that just ran and runs the post-event hook.
func (s *Scheduler) finish() {
	s.events++
	if s.after != nil {
		s.after()
	}
}

// Step runs the next event, advancing virtual time to it, and reports
// whether there was one.
func (s *Scheduler) Step() bool {
	s.settle()
	return s.step(1<<63 - 1)
}

// settle runs the post-event hook once before running, so that work done
// outside any event (a Dial before Run) is routed at the current instant.
func (s *Scheduler) settle() {
	if s.after != nil {
		s.after()
	}
}

// RunUntil runs every event due at or before t, then sets the clock to t
// (virtual) or returns at t (wall).
func (s *Scheduler) RunUntil(t time.Time) {
	limit := int64(t.Sub(s.epoch))
	s.stopped.Store(false)
	s.settle()
	if s.wall {
		s.runWall(limit)
		return
	}
	for !s.stopped.Load() && s.step(limit) {
	}
	if !s.stopped.Load() && limit > s.now.Load() {
		s.now.Store(limit)
	}
}

// RunFor runs the simulation for d from now.
func (s *Scheduler) RunFor(d time.Duration) { s.RunUntil(s.Now().Add(d)) }

// Run runs events until none is left (virtual clock) or Stop is called.
func (s *Scheduler) Run() {
	s.stopped.Store(false)
	s.settle()
	if s.wall {
		s.runWall(1<<63 - 1)
		return
	}
	for !s.stopped.Load() && s.step(1<<63-1) {
	}
}

func (s *Scheduler) runWall(limit int64) {
	for !s.stopped.Load() {
		if s.step(limit) {
			continue
		}
		now := int64(time.Since(s.wallStart))
		if now >= limit {
			return
		}
		wait := limit - now
		s.mu.Lock()
		if len(s.heap) > 0 {
			wait = min(wait, s.heap[0].at-now)
		}
		s.mu.Unlock()
		tm := time.NewTimer(time.Duration(wait))
		select {
		case <-s.wake:
		case <-tm.C:
		}
		tm.Stop()
	}
}

// The queue is a 4-ary min-heap on (at, seq). The keys live in the heap
// slice beside the timer pointer, so sifting compares contiguous memory
// instead of chasing a pointer per comparison (with tens of thousands of
// pending timers each of those was a cache miss); four children per node
// halve the depth. Each timer keeps its index, so Stop and Reset are
// O(log n) with no search and no allocation once the slice has grown.

type heapEntry struct {
	at  int64  // nanoseconds since the epoch
	seq uint64 // scheduling order; breaks ties between equal times
	t   *Timer
}

func (a *heapEntry) less(b *heapEntry) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

func (s *Scheduler) push(t *Timer, at int64) {
	s.seq++
	i := len(s.heap)
	s.heap = append(s.heap, heapEntry{at: at, seq: s.seq, t: t})
	t.idx = int32(i)
	s.up(i)
}

func (s *Scheduler) remove(i int) {
	h := s.heap
	n := len(h) - 1
	t := h[i].t
	if i != n {
		h[i] = h[n]
		h[i].t.idx = int32(i)
	}
	h[n] = heapEntry{}
	s.heap = h[:n]
	if i != n {
		if !s.down(i) {
			s.up(i)
		}
	}
	t.idx = -1
}

func (s *Scheduler) up(i int) {
	h := s.heap
	e := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if !e.less(&h[p]) {
			break
		}
		h[i] = h[p]
		h[i].t.idx = int32(i)
		i = p
	}
	h[i] = e
	e.t.idx = int32(i)
}

func (s *Scheduler) down(i int) bool {
	h := s.heap
	n := len(h)
	i0 := i
	e := h[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		j := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if h[k].less(&h[j]) {
				j = k
			}
		}
		if !h[j].less(&e) {
			break
		}
		h[i] = h[j]
		h[i].t.idx = int32(i)
		i = j
	}
	h[i] = e
	e.t.idx = int32(i)
	return i > i0
}

var (
	_ tcpip.Clock = (*Scheduler)(nil)
	_ Clock       = (*Scheduler)(nil)
	_ tcpip.Timer = (*Timer)(nil)
)
