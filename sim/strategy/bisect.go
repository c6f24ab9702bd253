package strategy

import "time"

// BisectConfig configures the RFC 5780-style search for the NAT binding
// lifetime (creytiv/re:src/natbd/lifetime.c; RFC 5780 §4.6; facts §4.10).
type BisectConfig struct {
	// Initial is the first interval tried (libre's c0), 60 s.
	Initial time.Duration `param:"initial"`
	// Min is the lower bound known to work, 1 s as in libre.
	Min time.Duration `param:"min"`
	// Max caps the doubling: 7440 s, the RFC 5382 REQ-5 minimum
	// established-TCP timeout, beyond which a NAT is compliant anyway.
	Max time.Duration `param:"max"`
	// Resolution ends the search when the bracket is this narrow; libre
	// works in whole seconds, so 1 s.
	Resolution time.Duration `param:"resolution"`
	// Margin scales the found lower bound for the keep-alive interval once
	// the search ends: ASSUMED 0.9, to absorb alarm and network delay.
	Margin float64 `param:"margin"`
	// AckTimeout is the wait for the answer: ASSUMED 30 s.
	AckTimeout time.Duration `param:"ack_timeout"`
}

// DefaultBisect returns the defaults.
func DefaultBisect() BisectConfig {
	return BisectConfig{Initial: 60 * time.Second, Min: time.Second, Max: 7440 * time.Second,
		Resolution: time.Second, Margin: 0.9, AckTimeout: 30 * time.Second}
}

type bisectNet struct {
	lo, hi, cur time.Duration // hi == 0: no failure seen yet
	done        bool
}

// Bisect probes the NAT timeout with the keep-alives themselves: after a
// success at idle t the lower bound becomes t and the next probe doubles
// it (until the first failure) or bisects; after a failure the upper bound
// becomes t. Bounds come from the observed idle, which equals the interval
// when nothing else crossed the connection. When the bracket is within
// Resolution (or a probe at Max succeeded) it keeps alive at Margin·lo; a
// later failure restarts the search below the failed idle. State is per
// network (Kind and Label).
type Bisect struct {
	c    BisectConfig
	nets map[Network]*bisectNet
	net  *bisectNet
}

// NewBisect returns the "adaptive-bisect" strategy.
func NewBisect(c BisectConfig) (*Bisect, error) {
	const n = "adaptive-bisect"
	if err := firstErr(positive(n, "initial", c.Initial), positive(n, "min", c.Min), positive(n, "max", c.Max),
		positive(n, "resolution", c.Resolution), positive(n, "ack_timeout", c.AckTimeout),
		fraction(n, "margin", c.Margin, 0.01, 1)); err != nil {
		return nil, err
	}
	if c.Initial < c.Min || c.Initial > c.Max {
		return nil, errorf(n, "initial = %v must be in [min, max] = [%v, %v]", c.Initial, c.Min, c.Max)
	}
	b := &Bisect{c: c, nets: map[Network]*bisectNet{}}
	b.net = b.lookup(Network{})
	return b, nil
}

func (b *Bisect) lookup(n Network) *bisectNet {
	s, ok := b.nets[n]
	if !ok {
		s = &bisectNet{lo: b.c.Min, cur: b.c.Initial}
		b.nets[n] = s
	}
	return s
}

// Bracket returns the current network's bounds on the NAT timeout (hi is 0
// until a probe failed) and whether the search has ended.
func (b *Bisect) Bracket() (lo, hi time.Duration, done bool) {
	return b.net.lo, b.net.hi, b.net.done
}

// Name implements Strategy.
func (*Bisect) Name() string { return "adaptive-bisect" }

// Connected implements Strategy.
func (b *Bisect) Connected(_ time.Time, n Network) { b.net = b.lookup(n) }

// Disconnected implements Strategy.
func (*Bisect) Disconnected(time.Time) {}

// Interval implements Strategy.
func (b *Bisect) Interval() time.Duration {
	if b.net.done {
		return max(time.Duration(b.c.Margin*float64(b.net.lo)), b.c.Min)
	}
	return b.net.cur
}

// Next implements Strategy: exact alarm.
func (b *Bisect) Next(time.Time) (Alarm, bool) {
	i := b.Interval()
	return Alarm{Earliest: i, Latest: i}, true
}

// AckTimeout implements Strategy.
func (b *Bisect) AckTimeout() time.Duration { return b.c.AckTimeout }

// TCP implements Strategy.
func (*Bisect) TCP() (TCPKeepAlive, bool) { return TCPKeepAlive{}, false }

// Succeeded implements Strategy.
func (b *Bisect) Succeeded(_ time.Time, idle time.Duration) {
	s := b.net
	if s.done {
		return
	}
	if s.hi > 0 && idle >= s.hi {
		s.hi = 0 // the NAT got more lenient: search upwards again
	}
	s.lo = max(s.lo, min(idle, b.c.Max))
	b.step(s)
}

// Failed implements Strategy.
func (b *Bisect) Failed(_ time.Time, idle time.Duration) {
	s := b.net
	if s.done {
		*s = bisectNet{lo: b.c.Min}
	}
	s.hi = max(idle, b.c.Min)
	if s.lo >= s.hi {
		s.lo = b.c.Min // the NAT got stricter: the old lower bound is void
	}
	b.step(s)
}

func (b *Bisect) step(s *bisectNet) {
	switch {
	case s.hi == 0 && s.lo >= b.c.Max:
		s.done = true
	case s.hi == 0:
		s.cur = min(2*s.lo, b.c.Max)
	case s.hi-s.lo <= b.c.Resolution:
		s.done = true
	default:
		s.cur = (s.lo + s.hi) / 2
	}
}
