package harness

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestLatencyLogIsExact(t *testing.T) {
	edge := []time.Duration{0, 1, 72 * time.Millisecond, latencyEscape - 1, latencyEscape, latencyEscape + 1,
		10 * time.Hour, -time.Millisecond, -1 << 63, 1<<63 - 1}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		edge = append(edge, time.Duration(rng.Int64N(int64(20*time.Second))))
	}
	var l latencyLog
	var want []float64
	for _, d := range edge {
		l.add(d)
		want = append(want, d.Seconds())
	}
	if got := l.appendSeconds(nil); !slices.Equal(got, want) {
		t.Fatalf("latencies changed on the way through the log")
	}
	for _, deadline := range []float64{-1, 0, 0.072, 4.294967295, 5, 36000} {
		n := 0
		for _, s := range want {
			if s <= deadline {
				n++
			}
		}
		if got := l.within(deadline); got != n {
			t.Errorf("within(%g) = %d, want %d", deadline, got, n)
		}
	}
}

func TestLatencyLogHalvesTheBytes(t *testing.T) {
	var l latencyLog
	for i := range 1000 {
		l.add(time.Duration(i) * time.Millisecond)
	}
	if len(l) != 1000 {
		t.Fatalf("1,000 latencies below 4.29 s take %d words, want 1,000", len(l))
	}
}

// TestLatencyLogGrowsInSmallSteps checks that a log never holds more than
// an eighth of itself, or 16 words, unused: with append's doubling every
// device's log would reach its next capacity on the same day.
func TestLatencyLogGrowsInSmallSteps(t *testing.T) {
	var l latencyLog
	for i := range 5000 {
		d := time.Duration(i) * time.Microsecond
		if i%100 == 7 {
			d = 10 * time.Second // three words
		}
		l.add(d)
		if slack := cap(l) - len(l); slack > max(16, len(l)/8) {
			t.Fatalf("after %d latencies: %d words, capacity %d", i+1, len(l), cap(l))
		}
	}
	if len(l) != 5000+2*50 {
		t.Errorf("5,000 latencies (50 escaped) take %d words, want 5,100", len(l))
	}
	if got := l.within(5); got != 4950 {
		t.Errorf("within(5) = %d, want 4,950", got)
	}
}
