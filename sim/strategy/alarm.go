package strategy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// FirePolicy says where in an Alarm's window a device's alarm fires.
type FirePolicy uint8

const (
	// FireUniform fires uniformly at random in [Earliest, Latest], a
	// neutral model of inexact alarms (Android setWindow, Apple early fire).
	FireUniform FirePolicy = iota
	// FireLatest fires at Latest: the alarm as late as allowed.
	FireLatest
	// FireEarliest fires at Earliest, as an OS that batches eagerly.
	FireEarliest
)

// String returns the policy's name in scenarios.
func (p FirePolicy) String() string {
	switch p {
	case FireUniform:
		return "uniform"
	case FireLatest:
		return "latest"
	case FireEarliest:
		return "earliest"
	}
	return fmt.Sprintf("FirePolicy(%d)", uint8(p))
}

// ParseFirePolicy parses "uniform", "latest" or "earliest".
func ParseFirePolicy(s string) (FirePolicy, error) {
	for _, p := range []FirePolicy{FireUniform, FireLatest, FireEarliest} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("strategy: unknown fire policy %q (want uniform, latest or earliest)", s)
}

// AlarmModel turns a strategy's Alarm into the instant the device's alarm
// fires. With Coalesce, an alarm whose window contains another alarm
// already pending on the device fires with it, so the two share one radio
// wakeup (Android batches alarms with overlapping windows; Apple's early
// fire exists to coalesce). With AlignTo, it fires on a grid of wake-ups
// when the grid has a point in its window. One AlarmModel serves one
// device: the push clients of a device's apps share it, and Set remembers
// the alarms they have pending so that one app's alarm can join another's
// wake-up.
type AlarmModel struct {
	policy   FirePolicy
	coalesce bool
	rng      *rand.Rand
	grid     time.Duration
	epoch    time.Time
	pending  []time.Time // fire times of alarms Set and not yet fired or cancelled
}

// NewAlarmModel returns an alarm model. rng, the device's seeded source,
// may be nil only with a policy that draws nothing (latest, earliest).
func NewAlarmModel(policy FirePolicy, coalesce bool, rng *rand.Rand) (*AlarmModel, error) {
	if policy > FireEarliest {
		return nil, fmt.Errorf("strategy: AlarmModel: unknown policy %d", policy)
	}
	if policy == FireUniform && rng == nil {
		return nil, fmt.Errorf("strategy: AlarmModel: policy uniform needs the device rng, got nil")
	}
	return &AlarmModel{policy: policy, coalesce: coalesce, rng: rng}, nil
}

// AlignTo makes alarms fire at the first multiple of period after epoch
// that falls inside their window, when there is one: wake-ups batched on a
// grid (Android's Doze maintenance windows and alarm batching). A period
// of zero turns alignment off. It returns m.
func (m *AlarmModel) AlignTo(period time.Duration, epoch time.Time) *AlarmModel {
	m.grid, m.epoch = max(period, 0), epoch
	return m
}

// FireAt returns when an alarm a, set at now, fires. pending holds the
// fire times of the device's other pending alarms, in any order; with
// coalescing, the earliest of them inside [now+Earliest, now+Latest] is
// chosen, else the first grid point in the window (AlignTo), else the
// policy picks the instant. An alarm with a negative
// bound or Earliest after Latest is an error.
func (m *AlarmModel) FireAt(now time.Time, a Alarm, pending []time.Time) (time.Time, error) {
	if a.Earliest < 0 || a.Latest < a.Earliest {
		return time.Time{}, fmt.Errorf("strategy: alarm window [%v, %v] is invalid", a.Earliest, a.Latest)
	}
	lo, hi := now.Add(a.Earliest), now.Add(a.Latest)
	if m.coalesce {
		var best time.Time
		found := false
		for _, p := range pending {
			if !p.Before(lo) && !p.After(hi) && (!found || p.Before(best)) {
				best, found = p, true
			}
		}
		if found {
			return best, nil
		}
	}
	if m.grid > 0 {
		since := max(lo.Sub(m.epoch), 0)
		if t := m.epoch.Add((since + m.grid - 1) / m.grid * m.grid); !t.After(hi) {
			return t, nil
		}
	}
	switch m.policy {
	case FireLatest:
		return hi, nil
	case FireEarliest:
		return lo, nil
	}
	if a.Latest == a.Earliest {
		return lo, nil
	}
	return lo.Add(time.Duration(m.rng.Int64N(int64(a.Latest-a.Earliest) + 1))), nil
}

// Set returns when an alarm a, set at now by one of the device's clients,
// fires (FireAt with the device's pending alarms) and records it as
// pending until it fires or is cancelled: with coalescing, the alarms of
// several apps on one device batch into one wake-up, as Android batches
// inexact alarms; without, each fires on its own.
func (m *AlarmModel) Set(now time.Time, a Alarm) (time.Time, error) {
	m.pending = slices.DeleteFunc(m.pending, func(p time.Time) bool { return p.Before(now) })
	at, err := m.FireAt(now, a, m.pending)
	if err != nil {
		return at, err
	}
	m.pending = append(m.pending, at)
	return at, nil
}

// Cancel forgets one pending alarm that was to fire at at (a client's
// keep-alive timer stopped before it fired).
func (m *AlarmModel) Cancel(at time.Time) {
	if i := slices.IndexFunc(m.pending, at.Equal); i >= 0 {
		m.pending = slices.Delete(m.pending, i, i+1)
	}
}

// Pending returns how many alarms are pending on the device.
func (m *AlarmModel) Pending() int { return len(m.pending) }
