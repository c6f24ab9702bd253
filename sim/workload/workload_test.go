package workload

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func drain(s Schedule) []time.Time {
	var out []time.Time
	for t, ok := s.Next(); ok; t, ok = s.Next() {
		out = append(out, t)
	}
	return out
}

func TestPoisson(t *testing.T) {
	end := t0.Add(24 * time.Hour)
	const devices, perHour = 500, 10.0
	var n int
	var gaps []float64
	for d := range devices {
		p, err := NewPoisson(t0, end, perHour, rand.New(rand.NewPCG(42, uint64(d))))
		if err != nil {
			t.Fatal(err)
		}
		ts := drain(p)
		n += len(ts)
		prev := t0
		for _, x := range ts {
			if x.Before(prev) || !x.Before(end) || !x.After(t0) {
				t.Fatalf("time %v out of order or outside (start, end)", x)
			}
			gaps = append(gaps, x.Sub(prev).Seconds())
			prev = x
		}
	}
	// Expected 240 per device; the total of 120,000 has a standard
	// deviation of sqrt(120000) ≈ 346, so 2% (2400) is ~7 sigma.
	want := devices * perHour * 24
	if math.Abs(float64(n)-want) > 0.02*want {
		t.Errorf("%d arrivals, want %.0f within 2%%", n, want)
	}
	// Exponential gaps: mean 360 s and coefficient of variation 1.
	var sum, sq float64
	for _, g := range gaps {
		sum += g
		sq += g * g
	}
	mean := sum / float64(len(gaps))
	cv := math.Sqrt(sq/float64(len(gaps))-mean*mean) / mean
	if math.Abs(mean-360) > 0.02*360 || math.Abs(cv-1) > 0.03 {
		t.Errorf("gap mean %.1f s cv %.3f, want 360 s and 1", mean, cv)
	}
	// Deterministic per seed.
	a, _ := NewPoisson(t0, end, perHour, rand.New(rand.NewPCG(1, 1)))
	b, _ := NewPoisson(t0, end, perHour, rand.New(rand.NewPCG(1, 1)))
	if !slices.Equal(drain(a), drain(b)) {
		t.Error("same seed, different arrivals")
	}
}

func TestPeriodicBurstsBroadcast(t *testing.T) {
	p, err := NewPeriodic(t0, t0.Add(time.Hour), 5*time.Minute, 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{t0.Add(5 * time.Minute), t0.Add(25 * time.Minute), t0.Add(45 * time.Minute)}
	if got := drain(p); !slices.Equal(got, want) {
		t.Errorf("periodic %v, want %v", got, want)
	}
	times := []time.Time{t0.Add(time.Minute), t0.Add(time.Hour)}
	b, _ := NewBursts(3, times)
	if got := drain(b); len(got) != 6 || !got[2].Equal(times[0]) || !got[3].Equal(times[1]) {
		t.Errorf("bursts %v", got)
	}
	// Two devices share a broadcast's times and keep their own cursors.
	x, _ := NewBroadcast(times)
	y, _ := NewBroadcast(times)
	x.Next()
	if got := drain(y); !slices.Equal(got, times) {
		t.Errorf("second device's broadcast %v", got)
	}
	m := NewMerge(mustPeriodic(t, 10*time.Minute), mustBroadcast(t, t0.Add(15*time.Minute), t0.Add(20*time.Minute)))
	var mins []int
	for _, x := range drain(m) {
		mins = append(mins, int(x.Sub(t0)/time.Minute))
	}
	if want := []int{10, 15, 20, 20, 30, 40, 50}; !slices.Equal(mins, want) {
		t.Errorf("merge %v, want %v", mins, want)
	}
}

func mustPeriodic(t *testing.T, every time.Duration) *Periodic {
	p, err := NewPeriodic(t0, t0.Add(time.Hour), every, every)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustBroadcast(t *testing.T, ts ...time.Time) *At {
	a, err := NewBroadcast(ts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestBadParameters(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		err    error
		substr string
	}{
		{second(NewPoisson(t0, t0.Add(time.Hour), 0, rng)), "rate"},
		{second(NewPoisson(t0, t0.Add(time.Hour), 1, nil)), "rng"},
		{second(NewPoisson(t0.Add(time.Hour), t0, 1, rng)), "end"},
		{second(NewPeriodic(t0, t0, 0, 0)), "every"},
		{second(NewPeriodic(t0, t0, -1, time.Second)), "offset"},
		{second(NewBursts(0, nil)), "n = 0"},
		{second(NewBroadcast([]time.Time{t0.Add(time.Hour), t0})), "not sorted"},
		{second(NewLedger(-time.Second)), "ttl"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.substr) {
			t.Errorf("error %v, want it to mention %q", tc.err, tc.substr)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestStreamOrderAndIDs(t *testing.T) {
	var srcs []*Source
	for d := range uint32(3) {
		p, _ := NewPeriodic(t0, t0.Add(time.Hour), time.Duration(d)*time.Minute, 30*time.Minute)
		srcs = append(srcs, NewSource(d, p))
	}
	st := NewStream(srcs)
	var got []string
	prev := time.Time{}
	for n, ok := st.Next(); ok; n, ok = st.Next() {
		if n.Sent.Before(prev) {
			t.Fatalf("out of order at %v", n.Sent)
		}
		prev = n.Sent
		dev, seq := SplitID(n.ID)
		if dev != n.Device {
			t.Fatalf("ID %#x device %d", n.ID, n.Device)
		}
		got = append(got, string(rune('a'+dev))+string(rune('0'+seq)))
	}
	if want := []string{"a0", "b0", "c0", "a1", "b1", "c1"}; !slices.Equal(got, want) {
		t.Errorf("stream %v, want %v", got, want)
	}
}

func TestLedger(t *testing.T) {
	l, _ := NewLedger(time.Minute)
	src := NewSource(7, mustPeriodic(t, 10*time.Minute)) // 10, 20, 30, 40, 50 min
	var ns []Notification
	for n, ok := src.Next(); ok; n, ok = src.Next() {
		if err := l.Sent(n); err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	l.Delivered(ns[0].ID, ns[0].Sent.Add(1*time.Second))
	l.Delivered(ns[0].ID, ns[0].Sent.Add(3*time.Second)) // duplicate
	l.Delivered(ns[1].ID, ns[1].Sent.Add(2*time.Second))
	l.Delivered(ns[2].ID, ns[2].Sent.Add(5*time.Second))
	l.Delivered(ns[3].ID, ns[3].Sent.Add(2*time.Minute)) // past TTL
	l.Delivered(MakeID(99, 0), t0)                       // never sent
	// ns[4] (50 min) is never delivered; at 50m30s it is still pending.
	s := l.Summary(t0.Add(50*time.Minute + 30*time.Second))
	want := Summary{Sent: 5, Delivered: 4, Lost: 2, Expired: 1, Pending: 1, Duplicates: 1, Unknown: 1, DeliveryRatio: 0.6}
	got := s
	got.LatencyP50S, got.LatencyP90S, got.LatencyP99S, got.LatencyMaxS, got.LatencyMeanS = 0, 0, 0, 0, 0
	if got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	// Latencies 1, 2, 5, 120 s; empirical quantile: the smallest x with
	// CDF(x) >= p.
	if s.LatencyP50S != 2 || s.LatencyP90S != 120 || s.LatencyMaxS != 120 || s.LatencyMeanS != 32 {
		t.Errorf("latency p50 %v p90 %v max %v mean %v, want 2, 120, 120, 32", s.LatencyP50S, s.LatencyP90S, s.LatencyMaxS, s.LatencyMeanS)
	}
	if err := l.Sent(Notification{ID: MakeID(7, 9), Device: 7, Sent: t0}); err == nil {
		t.Error("out-of-order sequence accepted")
	}
	if err := l.Sent(Notification{ID: MakeID(1, 0), Device: 2, Sent: t0}); err == nil {
		t.Error("mismatched device accepted")
	}
}

// 100,000 devices at 1 push an hour for a day, pulled lazily.
func BenchmarkStream100k(b *testing.B) {
	end := t0.Add(24 * time.Hour)
	for b.Loop() {
		srcs := make([]*Source, 100_000)
		for d := range srcs {
			p, _ := NewPoisson(t0, end, 1, rand.New(rand.NewPCG(1, uint64(d))))
			srcs[d] = NewSource(uint32(d), p)
		}
		st := NewStream(srcs)
		n := 0
		for _, ok := st.Next(); ok; _, ok = st.Next() {
			n++
		}
		b.ReportMetric(float64(n), "notifications/op")
	}
}

func BenchmarkPoissonNext(b *testing.B) {
	p, _ := NewPoisson(t0, t0.Add(1<<62), 10, rand.New(rand.NewPCG(1, 2)))
	for b.Loop() {
		p.Next()
	}
}
