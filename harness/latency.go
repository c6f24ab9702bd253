package harness

import (
	"math"
	"time"
)

// latencyLog keeps the delivery latencies of a device's (or an app's)
// pushes, each exactly, in four bytes for the usual case instead of a
// float64's eight: a latency is a whole number of nanoseconds of the
// virtual clock, and one below 2^32 - 1 ns (4.29 s) is stored as is. Any
// other (a push held through an outage, or negative under a wall clock) is
// stored as an escape word followed by its nanoseconds in two words. The
// results keep every latency for exact quantiles, so this is what a long
// run's memory still grows by, at half the rate of float64s and in small
// steps (grow; docs/engine.md, "Soak").
type latencyLog []uint32

// latencyEscape marks a latency stored in the two words after it.
const latencyEscape = math.MaxUint32

// add appends latency d.
func (l *latencyLog) add(d time.Duration) {
	if d >= 0 && d < latencyEscape {
		l.grow(1)
		*l = append(*l, uint32(d))
		return
	}
	u := uint64(d)
	l.grow(3)
	*l = append(*l, latencyEscape, uint32(u>>32), uint32(u))
}

// grow makes room for n more words by latencyGrowth's rule instead of
// append's doubling. Every device's log fills at the same pace, so with
// doubling they all reach a new capacity on the same day: a week's 168
// pushes sit in 256 words, and the heap of a long run grows in steps of
// up to half its latencies (docs/engine.md, "Soak").
func (l *latencyLog) grow(n int) {
	if len(*l)+n <= cap(*l) {
		return
	}
	c := len(*l) + max(n, latencyGrowth(len(*l)))
	nl := make(latencyLog, len(*l), c)
	copy(nl, *l)
	*l = nl
}

// latencyGrowth is how many words a full log of n words grows by: 16
// (64 bytes, about 16 hours of hourly pushes), or an eighth once that is
// more, so that copying stays linear in the pushes over a run while at
// most an eighth of the log is unused.
func latencyGrowth(n int) int { return max(16, n/8) }

// each calls f with every latency in seconds, in the order added.
func (l latencyLog) each(f func(s float64)) {
	for i := 0; i < len(l); i++ {
		w := l[i]
		if w != latencyEscape {
			f(time.Duration(w).Seconds())
			continue
		}
		f(time.Duration(uint64(l[i+1])<<32 | uint64(l[i+2])).Seconds())
		i += 2
	}
}

// appendSeconds appends every latency in seconds to dst.
func (l latencyLog) appendSeconds(dst []float64) []float64 {
	l.each(func(s float64) { dst = append(dst, s) })
	return dst
}

// within counts the latencies of at most deadline seconds.
func (l latencyLog) within(deadline float64) int {
	n := 0
	l.each(func(s float64) {
		if s <= deadline {
			n++
		}
	})
	return n
}
