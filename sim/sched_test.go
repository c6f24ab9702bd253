package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestTimersFireAtExactVirtualTimes(t *testing.T) {
	s := NewScheduler(time.Time{})
	var got []time.Duration
	rec := func() { got = append(got, s.Now().Sub(s.Epoch())) }
	s.AfterFunc(ms(30), rec)
	s.AfterFunc(ms(10), rec)
	s.AfterFunc(ms(10), func() { rec(); s.AfterFunc(0, rec) }) // same instant, after
	s.RunFor(time.Second)
	want := []time.Duration{ms(10), ms(10), ms(10), ms(30)}
	if len(got) != len(want) {
		t.Fatalf("fired at %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fired at %v, want %v", got, want)
		}
	}
	if s.Elapsed() != time.Second {
		t.Fatalf("clock at %v after RunFor(1s)", s.Elapsed())
	}
}

func TestTimerStopAndReset(t *testing.T) {
	s := NewScheduler(time.Time{})
	fired := 0
	tm := s.AfterFunc(ms(10), func() { fired++ })
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if tm.Stop() {
		t.Fatal("second Stop returned true")
	}
	s.RunFor(ms(20))
	if fired != 0 {
		t.Fatal("stopped timer fired")
	}
	tm.Reset(ms(5)) // re-arm a stopped timer
	s.RunFor(ms(4))
	if fired != 0 {
		t.Fatal("fired early")
	}
	s.RunFor(ms(1))
	if fired != 1 {
		t.Fatalf("fired %d times, want 1 at 25ms", fired)
	}
	if tm.Stop() {
		t.Fatal("Stop after expiry returned true")
	}
	tm.Reset(ms(10))
	tm.Reset(ms(20)) // Reset of a pending timer moves it
	s.RunFor(ms(15))
	if fired != 1 {
		t.Fatal("Reset did not move the pending timer")
	}
	s.RunFor(ms(5))
	if fired != 2 {
		t.Fatalf("fired %d times, want 2", fired)
	}
}

func TestWallSchedulerRunsPostedWork(t *testing.T) {
	s := NewWallScheduler()
	done := make(chan struct{})
	go s.Post(func() { s.AfterFunc(ms(5), func() { close(done); s.Stop() }) })
	go func() {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.Stop()
		}
	}()
	s.Run()
	select {
	case <-done:
	default:
		t.Fatal("posted work did not run")
	}
}

// TestTimersFireInTimeThenSchedulingOrder arms, re-arms and stops many
// timers at random and checks that the survivors fire in order of (time,
// scheduling sequence of their last arming), as a sorted list says.
func TestTimersFireInTimeThenSchedulingOrder(t *testing.T) {
	s := NewScheduler(time.Time{})
	rng := rand.New(rand.NewPCG(1, 2))
	type arm struct {
		at  time.Duration
		seq int
	}
	const n = 2000
	last := make([]arm, n)
	live := make([]bool, n)
	timers := make([]*Timer, n)
	var fired []int
	seq := 0
	for i := range n {
		d := time.Duration(rng.IntN(50)) * time.Millisecond
		timers[i] = s.NewTimer(d, func() { fired = append(fired, i) })
		last[i], live[i] = arm{d, seq}, true
		seq++
	}
	for range 3 * n {
		i := rng.IntN(n)
		switch rng.IntN(3) {
		case 0:
			timers[i].Stop()
			live[i] = false
		default:
			d := time.Duration(rng.IntN(50)) * time.Millisecond
			timers[i].Reset(d)
			last[i], live[i] = arm{d, seq}, true
			seq++
		}
	}
	var want []int
	for i := range n {
		if live[i] {
			want = append(want, i)
		}
	}
	slices.SortFunc(want, func(a, b int) int {
		if last[a].at != last[b].at {
			return int(last[a].at - last[b].at)
		}
		return last[a].seq - last[b].seq
	})
	s.RunFor(time.Second)
	if !slices.Equal(fired, want) {
		t.Fatalf("fired %d timers in another order than (time, sequence); want %d", len(fired), len(want))
	}
}
