package strategy

import (
	"math/rand/v2"
	"testing"
	"time"
)

// One device's alarm model shared by several apps' clients: with
// coalescing, an app's alarm joins another app's pending alarm inside its
// window; a cancelled or past alarm is not joined; without coalescing
// (exact alarms) each fires on its own.
func TestAlarmModelSetSharedByApps(t *testing.T) {
	a := Alarm{Earliest: 180 * time.Second, Latest: 300 * time.Second}
	m, err := NewAlarmModel(FireUniform, true, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	first, err := m.Set(t0, a)
	if err != nil {
		t.Fatal(err)
	}
	// A second app sets its alarm 30 s later: the first app's alarm is in
	// its window when it fires at least 210 s after t0.
	later := t0.Add(30 * time.Second)
	second, _ := m.Set(later, a)
	if first.Sub(t0) >= 210*time.Second && !second.Equal(first) {
		t.Errorf("second alarm at %v, want it joined to the first at %v", second.Sub(t0), first.Sub(t0))
	}
	if m.Pending() != 2 {
		t.Errorf("Pending() = %d, want 2", m.Pending())
	}
	m.Cancel(first)
	m.Cancel(second)
	if m.Pending() != 0 {
		t.Errorf("after cancelling both, Pending() = %d", m.Pending())
	}

	// Deterministic case: the pending alarm at 250 s is joined; once
	// cancelled, the next alarm fires at the policy's instant instead.
	exact, _ := NewAlarmModel(FireLatest, true, nil)
	at, _ := exact.Set(t0.Add(-50*time.Second), a) // fires at 250 s
	if got, _ := exact.Set(t0, a); !got.Equal(at) {
		t.Errorf("coalescing model: fired at %v, want the pending %v", got.Sub(t0), at.Sub(t0))
	}
	exact.Cancel(at)
	exact.Cancel(at)
	if got, _ := exact.Set(t0, a); !got.Equal(t0.Add(300 * time.Second)) {
		t.Errorf("after cancel: fired at %v, want 300 s", got.Sub(t0))
	}
	// Past alarms are forgotten when the next one is set.
	if got, _ := exact.Set(t0.Add(time.Hour), a); !got.Equal(t0.Add(time.Hour+300*time.Second)) || exact.Pending() != 1 {
		t.Errorf("an hour later: fired at %v with %d pending, want 1h5m and 1", got.Sub(t0), exact.Pending())
	}

	// Without coalescing, apps' exact alarms stay apart.
	apart, _ := NewAlarmModel(FireLatest, false, nil)
	x, _ := apart.Set(t0.Add(-50*time.Second), a)
	y, _ := apart.Set(t0, a)
	if x.Equal(y) || !y.Equal(t0.Add(300*time.Second)) {
		t.Errorf("exact alarms coalesced: %v and %v", x.Sub(t0), y.Sub(t0))
	}
	if _, err := apart.Set(t0, Alarm{Earliest: 2, Latest: 1}); err == nil {
		t.Error("inverted window accepted")
	}
}
