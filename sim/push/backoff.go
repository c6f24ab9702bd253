package push

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Backoff is the reconnect delay schedule: exponential (Initial times
// Multiplier per failure, capped at Max), or additive in stages when Steps
// is set, with optional jitter. The delay before reconnect attempt k (k = 0
// after a connection is lost) is the k-th value of the schedule; a
// successful connection restarts it.
type Backoff struct {
	// Initial is the first delay.
	Initial time.Duration
	// Multiplier grows the delay per failure when Steps is empty (>= 1).
	Multiplier float64
	// Max caps the delay.
	Max time.Duration
	// Jitter spreads each delay uniformly over [d(1-Jitter), d(1+Jitter)],
	// capped at Max, so devices that lost their connections together (a
	// NAT reboot, facts §6.6) do not reconnect in lockstep. In [0, 1].
	Jitter float64
	// Steps, when set, replace Multiplier: while the delay is below a
	// step's Below, the next delay adds Add (capped at Below).
	Steps []BackoffStep
}

// BackoffStep is one additive stage of a Backoff.
type BackoffStep struct {
	// Below is the stage's ceiling: it applies while the delay is below it.
	Below time.Duration
	// Add is added to the delay per failure in this stage.
	Add time.Duration
}

// ExponentialBackoff is the default schedule: 1 s doubling to 5 min with
// ±20 % jitter, the common shape of client reconnect policies (gRPC's
// connection backoff uses 1 s, x1.6, 120 s, ±20 %; we cap later because a
// phone's reconnects cost battery).
func ExponentialBackoff() Backoff {
	return Backoff{Initial: time.Second, Multiplier: 2, Max: 5 * time.Minute, Jitter: 0.2}
}

// MicroGBackoff is microG's GCM reconnect sequence (facts §4.2, from
// microg/GmsCore's GCM service): 5 s, then +10 s per failure up to 60 s, then
// +60 s per failure up to 600 s: 5, 15, 25, 35, 45, 55, 60, 120, 180, ...,
// 600 s. microG adds no jitter.
func MicroGBackoff() Backoff {
	return Backoff{
		Initial: 5 * time.Second,
		Max:     600 * time.Second,
		Steps: []BackoffStep{
			{Below: 60 * time.Second, Add: 10 * time.Second},
			{Below: 600 * time.Second, Add: 60 * time.Second},
		},
	}
}

// BackoffPreset returns a named schedule: "exponential" or "microg".
func BackoffPreset(name string) (Backoff, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "exponential", "default", "":
		return ExponentialBackoff(), nil
	case "microg":
		return MicroGBackoff(), nil
	}
	return Backoff{}, fmt.Errorf("push: unknown backoff preset %q (want exponential or microg)", name)
}

// Validate checks the schedule.
func (b Backoff) Validate() error {
	if b.Initial <= 0 || b.Max < b.Initial {
		return fmt.Errorf("push: backoff initial %v and max %v must satisfy 0 < initial <= max", b.Initial, b.Max)
	}
	if len(b.Steps) == 0 && (b.Multiplier < 1 || math.IsNaN(b.Multiplier) || math.IsInf(b.Multiplier, 0)) {
		return fmt.Errorf("push: backoff multiplier %v must be >= 1", b.Multiplier)
	}
	if b.Jitter < 0 || b.Jitter > 1 || math.IsNaN(b.Jitter) {
		return fmt.Errorf("push: backoff jitter %v must be in [0, 1]", b.Jitter)
	}
	for i, s := range b.Steps {
		if s.Add <= 0 || s.Below <= 0 {
			return fmt.Errorf("push: backoff step %d (below %v add %v) must be positive", i, s.Below, s.Add)
		}
	}
	return nil
}

// Base returns the un-jittered delay before attempt k (k >= 0).
func (b Backoff) Base(k int) time.Duration {
	d := b.Initial
	for i := 0; i < k && d < b.Max; i++ {
		d = b.next(d)
	}
	return min(d, b.Max)
}

func (b Backoff) next(d time.Duration) time.Duration {
	if len(b.Steps) == 0 {
		f := float64(d) * b.Multiplier
		if f >= float64(b.Max) {
			return b.Max
		}
		return time.Duration(f)
	}
	for _, s := range b.Steps {
		if d < s.Below {
			return min(d+s.Add, s.Below)
		}
	}
	return b.Max
}

// Delay returns the delay before attempt k, jittered with rng (which may be
// nil when Jitter is zero).
func (b Backoff) Delay(k int, rng *rand.Rand) time.Duration {
	d := b.Base(k)
	if b.Jitter == 0 || rng == nil {
		return d
	}
	f := float64(d) * (1 + b.Jitter*(2*rng.Float64()-1))
	return min(time.Duration(f), b.Max)
}
