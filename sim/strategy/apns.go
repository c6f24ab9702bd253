package strategy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// APNSStage is a stage of Apple's PCMultiStageGrowthAlgorithm (facts §4.1;
// the numbering follows the decompiled switch cases).
type APNSStage uint8

const (
	// StageInitialGrowth grows by the initial increment per success.
	StageInitialGrowth APNSStage = 0
	// StageRefinedGrowth grows by the refined increment per success.
	StageRefinedGrowth APNSStage = 1
	// StageSteady holds the interval for max(SteadyMin, SteadyMultiple·I).
	StageSteady APNSStage = 2
	// StageBackoff multiplies the interval by Backoff per failure.
	StageBackoff APNSStage = 3
	// StageFallback holds the minimum for FallbackDuration.
	StageFallback APNSStage = 4
)

// String returns the stage's name.
func (s APNSStage) String() string {
	switch s {
	case StageInitialGrowth:
		return "initial-growth"
	case StageRefinedGrowth:
		return "refined-growth"
	case StageSteady:
		return "steady"
	case StageBackoff:
		return "backoff"
	case StageFallback:
		return "fallback"
	}
	return fmt.Sprintf("stage(%d)", uint8(s))
}

// APNSConfig configures the model of Apple's keep-alive growth. Values
// marked ASSUMED are not in the public decompilations (facts §4.1, §8 item
// 4); they fit the observed 12-15 min Wi-Fi cadence and the 30 min Wi-Fi
// maximum but are guesses.
type APNSConfig struct {
	// Min is PCDefaultMinimumKeepAliveInterval: ASSUMED 15 min.
	Min time.Duration `param:"min"`
	// Initial is PCDefaultInitialKeepAliveInterval: ASSUMED 15 min.
	Initial time.Duration `param:"initial"`
	// InitialIncrement is PCInitialGrowthIncrement: ASSUMED 5 min.
	InitialIncrement time.Duration `param:"initial_increment"`
	// RefinedIncrement is PCRefinedGrowthIncrement: ASSUMED 1 min.
	RefinedIncrement time.Duration `param:"refined_increment"`
	// IncrementVariance is ± PCIncrementRandomVariance on each increment:
	// ASSUMED 0 (needs the device rng when positive).
	IncrementVariance time.Duration `param:"increment_variance"`
	// Backoff is PCBackoffMultiple: ASSUMED 0.75.
	Backoff float64 `param:"backoff"`
	// WiFiMax is setMaximumKeepAliveInterval:1800.0 on Wi-Fi.
	WiFiMax time.Duration `param:"wifi_max"`
	// WWANMax is PCDefaultMaximumKeepAliveInterval on WWAN: ASSUMED 60 min.
	WWANMax time.Duration `param:"wwan_max"`
	// AvoidStart and AvoidEnd are WWAN's setSignalAvoidanceRange:{1680,
	// 240}: no interval in [1680 s, 1920 s).
	AvoidStart time.Duration `param:"avoid_start"`
	AvoidEnd   time.Duration `param:"avoid_end"`
	// SteadyMin and SteadyMultiple give the steady-state length
	// max(3600 s, 24·I).
	SteadyMin      time.Duration `param:"steady_min"`
	SteadyMultiple float64       `param:"steady_multiple"`
	// FallbackDuration is how long the minimum-interval fallback lasts
	// (86400 s in the decompilation); 0 disables the fallback stage.
	FallbackDuration time.Duration `param:"fallback_duration"`
	// EarlyFire is the minimum early fire proportion, 0.75: alarms fire in
	// [EarlyFire·I, I].
	EarlyFire float64 `param:"early_fire"`
	// AckTimeout is the wait for the server's answer: ASSUMED 30 s.
	AckTimeout time.Duration `param:"ack_timeout"`
}

// DefaultAPNS returns the documented and assumed defaults.
func DefaultAPNS() APNSConfig {
	return APNSConfig{
		Min: 15 * time.Minute, Initial: 15 * time.Minute,
		InitialIncrement: 5 * time.Minute, RefinedIncrement: time.Minute,
		Backoff: 0.75, WiFiMax: 1800 * time.Second, WWANMax: 60 * time.Minute,
		AvoidStart: 1680 * time.Second, AvoidEnd: 1920 * time.Second,
		SteadyMin: 3600 * time.Second, SteadyMultiple: 24, FallbackDuration: 86400 * time.Second,
		EarlyFire: 0.75, AckTimeout: 30 * time.Second,
	}
}

// apnsIface is one interface's growth state, cached across connections
// as apsd caches keepAliveInterval and inInitialGrowth.
type apnsIface struct {
	stage    APNSStage
	interval time.Duration
	lastGood time.Duration
	until    int64 // end of the steady or fallback stage (stageEnd)
}

// stageEnd returns now + d in Unix nanoseconds, the form apnsIface keeps
// a stage's end in: 8 bytes where a time.Time takes 24, in a strategy
// every device holds. The engine's virtual clock counts Unix nanoseconds
// too, so every instant it reaches converts exactly; an end past the last
// of them (in 2262) saturates there.
func stageEnd(now time.Time, d time.Duration) int64 {
	n := now.UnixNano()
	if d > 0 && n > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	return n + int64(d)
}

// ended reports whether now is at or after until (a stageEnd).
func ended(now time.Time, until int64) bool { return now.UnixNano() >= until }

// APNS models apsd's PersistentConnection keep-alive: one growth state per
// interface class (Wi-Fi or WWAN; the per-address-family split is not
// modelled), stages initial growth → refined growth → steady → backoff →
// fallback. Server-provided interval bounds and the shrink stages are not
// modelled.
type APNS struct {
	c    APNSConfig
	rng  *rand.Rand
	wifi bool
	st   [2]apnsIface // 0 WWAN, 1 Wi-Fi
}

// NewAPNS returns the "apns-model" strategy. rng may be nil unless
// IncrementVariance is positive.
func NewAPNS(c APNSConfig, rng *rand.Rand) (*APNS, error) {
	const n = "apns-model"
	if err := firstErr(positive(n, "min", c.Min), positive(n, "initial", c.Initial),
		positive(n, "initial_increment", c.InitialIncrement), positive(n, "refined_increment", c.RefinedIncrement),
		positive(n, "wifi_max", c.WiFiMax), positive(n, "wwan_max", c.WWANMax), positive(n, "steady_min", c.SteadyMin),
		positive(n, "ack_timeout", c.AckTimeout),
		fraction(n, "backoff", c.Backoff, 0.01, 0.99), fraction(n, "early_fire", c.EarlyFire, 0, 1),
		fraction(n, "steady_multiple", c.SteadyMultiple, 0, 1e6)); err != nil {
		return nil, err
	}
	switch {
	case c.Initial < c.Min:
		return nil, errorf(n, "initial = %v is below min = %v", c.Initial, c.Min)
	case c.Initial > c.WiFiMax || c.Initial > c.WWANMax:
		return nil, errorf(n, "initial = %v exceeds wifi_max or wwan_max", c.Initial)
	case c.AvoidEnd < c.AvoidStart:
		return nil, errorf(n, "avoid_end = %v is before avoid_start = %v", c.AvoidEnd, c.AvoidStart)
	case c.AvoidEnd > c.AvoidStart && c.WWANMax >= c.AvoidStart && c.WWANMax < c.AvoidEnd:
		return nil, errorf(n, "wwan_max = %v lies in the avoid range [%v, %v)", c.WWANMax, c.AvoidStart, c.AvoidEnd)
	case c.AvoidEnd > c.AvoidStart && c.Initial >= c.AvoidStart && c.Initial < c.AvoidEnd:
		return nil, errorf(n, "initial = %v lies in the avoid range", c.Initial)
	case c.IncrementVariance < 0 || c.IncrementVariance >= c.RefinedIncrement:
		return nil, errorf(n, "increment_variance = %v must be in [0, refined_increment)", c.IncrementVariance)
	case c.IncrementVariance > 0 && rng == nil:
		return nil, errorf(n, "increment_variance needs the device rng, got nil")
	case c.FallbackDuration < 0:
		return nil, errorf(n, "fallback_duration = %v must not be negative", c.FallbackDuration)
	}
	a := &APNS{c: c, rng: rng}
	for i := range a.st {
		a.st[i] = apnsIface{stage: StageInitialGrowth, interval: c.Initial}
	}
	return a, nil
}

func (a *APNS) cur() *apnsIface {
	if a.wifi {
		return &a.st[1]
	}
	return &a.st[0]
}

// Stage returns the current interface's growth stage, for results and tests.
func (a *APNS) Stage() APNSStage { return a.cur().stage }

// Name implements Strategy.
func (*APNS) Name() string { return "apns-model" }

// Connected implements Strategy: selects the interface's cached state.
func (a *APNS) Connected(_ time.Time, n Network) { a.wifi = isWiFi(n) }

// Disconnected implements Strategy: learned state survives.
func (*APNS) Disconnected(time.Time) {}

// Next implements Strategy: early fire in [EarlyFire·I, I].
func (a *APNS) Next(time.Time) (Alarm, bool) {
	i := a.cur().interval
	return Alarm{Earliest: time.Duration(a.c.EarlyFire * float64(i)), Latest: i}, true
}

// AckTimeout implements Strategy.
func (a *APNS) AckTimeout() time.Duration { return a.c.AckTimeout }

// Interval implements Strategy.
func (a *APNS) Interval() time.Duration { return a.cur().interval }

// TCP implements Strategy.
func (*APNS) TCP() (TCPKeepAlive, bool) { return TCPKeepAlive{}, false }

func (a *APNS) max() time.Duration {
	if a.wifi {
		return a.c.WiFiMax
	}
	return a.c.WWANMax
}

func (a *APNS) avoided(d time.Duration) bool {
	return !a.wifi && d >= a.c.AvoidStart && d < a.c.AvoidEnd
}

// grow returns i plus step (with variance), clamped to the maximum and
// lifted over the WWAN avoid range.
func (a *APNS) grow(i, step time.Duration) time.Duration {
	if v := a.c.IncrementVariance; v > 0 {
		step += time.Duration(a.rng.Int64N(int64(2*v)+1)) - v
	}
	n := min(i+step, a.max())
	if a.avoided(n) {
		n = a.c.AvoidEnd
	}
	return n
}

func (a *APNS) steady(s *apnsIface, now time.Time) {
	s.stage = StageSteady
	s.until = stageEnd(now, max(a.c.SteadyMin, time.Duration(a.c.SteadyMultiple*float64(s.interval))))
}

// Succeeded implements Strategy.
func (a *APNS) Succeeded(now time.Time, _ time.Duration) {
	s := a.cur()
	switch s.stage {
	case StageInitialGrowth, StageRefinedGrowth:
		step := a.c.InitialIncrement
		if s.stage == StageRefinedGrowth {
			step = a.c.RefinedIncrement
		}
		s.lastGood = s.interval
		if n := a.grow(s.interval, step); n > s.interval {
			s.interval = n
		} else {
			a.steady(s, now) // at the maximum
		}
	case StageSteady:
		if ended(now, s.until) {
			s.stage = StageRefinedGrowth
			s.lastGood = s.interval
			if n := a.grow(s.interval, a.c.RefinedIncrement); n > s.interval {
				s.interval = n
			} else {
				a.steady(s, now)
			}
		}
	case StageBackoff:
		s.lastGood = s.interval
		a.steady(s, now)
	case StageFallback:
		if ended(now, s.until) {
			*s = apnsIface{stage: StageInitialGrowth, interval: a.c.Initial}
		}
	}
}

// Failed implements Strategy.
func (a *APNS) Failed(now time.Time, _ time.Duration) {
	s := a.cur()
	switch s.stage {
	case StageInitialGrowth, StageRefinedGrowth:
		if s.lastGood > 0 && s.lastGood < s.interval {
			s.interval = s.lastGood
			if s.stage == StageInitialGrowth {
				s.stage = StageRefinedGrowth
			} else {
				a.steady(s, now)
			}
			return
		}
	case StageFallback:
		return
	}
	a.backoff(s, now)
}

func (a *APNS) backoff(s *apnsIface, now time.Time) {
	if s.interval <= a.c.Min {
		s.interval = a.c.Min
		if a.c.FallbackDuration > 0 {
			s.stage = StageFallback
			s.until = stageEnd(now, a.c.FallbackDuration)
		} else {
			s.stage = StageBackoff
		}
		return
	}
	n := max(time.Duration(a.c.Backoff*float64(s.interval)), a.c.Min)
	if a.avoided(n) {
		// Shrinking into the avoid range: drop below it.
		n = max(a.c.AvoidStart-a.c.RefinedIncrement, a.c.Min)
	}
	s.interval = n
	s.stage = StageBackoff
	s.lastGood = 0
}
