package strategy

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// Monday 5 January 2026, 00:00 UTC.
var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

var (
	cell = Network{Kind: "cellular", Label: "carrier-a"}
	wifi = Network{Kind: "wifi", Label: "home"}
)

// step is one keep-alive the oracle judged.
type step struct {
	at       time.Time
	idle     time.Duration
	ok       bool
	interval time.Duration // Interval() after the outcome
}

// drive runs s against the oracle "a keep-alive succeeds iff the idle time
// is below the NAT timeout nat": the alarm fires where fire puts it in the
// window, a failure tears the connection down and reconnects at once.
func drive(s Strategy, n Network, nat time.Duration, steps int, fire func(Alarm) time.Duration) []step {
	return driveUntil(s, n, nat, steps, fire, nil)
}

// driveUntil is drive that stops after the step on which stop reports true.
func driveUntil(s Strategy, n Network, nat time.Duration, steps int, fire func(Alarm) time.Duration, stop func() bool) []step {
	if fire == nil {
		fire = func(a Alarm) time.Duration { return a.Latest }
	}
	now := t0
	s.Connected(now, n)
	var out []step
	for range steps {
		a, ok := s.Next(now)
		if !ok {
			break
		}
		idle := fire(a)
		now = now.Add(idle)
		st := step{at: now, idle: idle, ok: idle < nat}
		if st.ok {
			s.Succeeded(now, idle)
		} else {
			s.Failed(now, idle)
			s.Disconnected(now)
			s.Connected(now, n)
		}
		st.interval = s.Interval()
		out = append(out, st)
		if stop != nil && stop() {
			break
		}
	}
	return out
}

func mustNew(t testing.TB, name string, p Params) Strategy {
	t.Helper()
	s, err := New(name, p, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFixedScheduleExact(t *testing.T) {
	s := mustNew(t, "fixed", Params{"interval": "4m", "ack_timeout": 10})
	steps := drive(s, cell, time.Hour, 10, nil)
	if len(steps) != 10 {
		t.Fatalf("%d keep-alives, want 10", len(steps))
	}
	for i, st := range steps {
		if want := t0.Add(time.Duration(i+1) * 4 * time.Minute); !st.at.Equal(want) || !st.ok {
			t.Errorf("keep-alive %d at %v ok=%v, want %v ok", i, st.at, st.ok, want)
		}
	}
	if s.AckTimeout() != 10*time.Second {
		t.Errorf("ack timeout %v, want 10s", s.AckTimeout())
	}
	// A window of zero width fires exactly whatever the policy.
	m, _ := NewAlarmModel(FireUniform, false, rand.New(rand.NewPCG(3, 4)))
	a, _ := s.Next(t0)
	if at, _ := m.FireAt(t0, a, nil); !at.Equal(t0.Add(4 * time.Minute)) {
		t.Errorf("exact alarm fired at %v", at)
	}
	// Behind a 3-minute NAT it fails every time and never adapts.
	for _, st := range drive(mustNew(t, "fixed", Params{"interval": 240}), cell, 3*time.Minute, 5, nil) {
		if st.ok || st.idle != 4*time.Minute {
			t.Fatalf("fixed adapted or succeeded: %+v", st)
		}
	}
}

func TestTelegramSignal(t *testing.T) {
	tg := mustNew(t, "telegram", nil)
	if a, _ := tg.Next(t0); a.Earliest != 180*time.Second-20*time.Millisecond || a.Latest != 180*time.Second+20*time.Millisecond {
		t.Errorf("telegram window %v", a)
	}
	if tg.AckTimeout() != 30*time.Second {
		t.Errorf("telegram ack %v", tg.AckTimeout())
	}
	sg := mustNew(t, "signal", nil)
	if a, _ := sg.Next(t0); a.Latest != 60*time.Second || sg.AckTimeout() != 20*time.Second {
		t.Errorf("signal background %v ack %v", a, sg.AckTimeout())
	}
	sg.(Foregrounder).SetForeground(t0, true)
	if a, _ := sg.Next(t0); a.Latest != 30*time.Second {
		t.Errorf("signal foreground %v", a)
	}
}

func TestNoneAndTCP(t *testing.T) {
	if _, ok := mustNew(t, "none", nil).Next(t0); ok {
		t.Error("none schedules keep-alives")
	}
	if _, ok := mustNew(t, "none", nil).TCP(); ok {
		t.Error("none sets TCP keep-alive")
	}
	s := mustNew(t, "tcp-keepalive", nil)
	if _, ok := s.Next(t0); ok {
		t.Error("tcp-keepalive schedules app keep-alives")
	}
	k, ok := s.TCP()
	if want := (TCPKeepAlive{Idle: 7200 * time.Second, Interval: 75 * time.Second, Count: 9}); !ok || k != want {
		t.Errorf("TCP() = %+v %v, want %+v", k, ok, want)
	}
	k, _ = mustNew(t, "tcp-keepalive", Params{"idle": "4m", "interval": 30, "count": 3}).TCP()
	if k.Idle != 4*time.Minute || k.Interval != 30*time.Second || k.Count != 3 {
		t.Errorf("tuned TCP() = %+v", k)
	}
}

// Behind a 5-minute NAT GCM fails forever: 28 min on cellular, 15 min on
// Wi-Fi, never adapted.
func TestGCMLegacyNeverAdapts(t *testing.T) {
	for _, tc := range []struct {
		n    Network
		want time.Duration
	}{{cell, 28 * time.Minute}, {wifi, 15 * time.Minute}, {Network{Kind: "ethernet"}, 15 * time.Minute}} {
		s := mustNew(t, "gcm-legacy", nil)
		steps := drive(s, tc.n, 5*time.Minute, 50, nil)
		for i, st := range steps {
			if st.ok || st.idle != tc.want || st.interval != tc.want {
				t.Fatalf("%s step %d: %+v, want failure at %v", tc.n.Kind, i, st, tc.want)
			}
		}
		if s.AckTimeout() != time.Minute {
			t.Errorf("ack %v", s.AckTimeout())
		}
	}
	if s := mustNew(t, "gcm-legacy", Params{"server_interval": "8m"}); drive(s, cell, 5*time.Minute, 1, nil)[0].idle != 8*time.Minute {
		t.Error("server interval ignored")
	}
}

func TestMicroG(t *testing.T) {
	approx := func(a, b time.Duration) bool { return math.Abs(float64(a-b)) < float64(time.Millisecond) }
	// Full-interval successes: ×1.02 each, clamped at 30 min.
	s := mustNew(t, "fcm-microg", nil)
	steps := drive(s, cell, 24*time.Hour, 200, nil)
	want := 300.0
	for i, st := range steps[:20] {
		want = math.Min(want*1.02, 1800)
		if !approx(st.interval, time.Duration(want*float64(time.Second))) {
			t.Fatalf("step %d: interval %v, want %.3fs", i, st.interval, want)
		}
	}
	if last := steps[len(steps)-1].interval; last != 30*time.Minute {
		t.Errorf("after 200 successes: %v, want the 30 min clamp", last)
	}
	// Failure: ×0.95, but never below the 5 min clamp.
	s.Failed(t0, time.Hour)
	if got := s.Interval(); !approx(got, 1710*time.Second) {
		t.Errorf("after failure from 1800 s: %v, want 1710 s", got)
	}
	fresh := mustNew(t, "fcm-microg", nil)
	fresh.Connected(t0, cell)
	fresh.Failed(t0, time.Minute)
	if fresh.Interval() != 5*time.Minute {
		t.Errorf("failure at the minimum: %v, want 5 min", fresh.Interval())
	}
	// Alarm window [I/2, I]; a success that fired at I/2 (idle below 3/4 I)
	// does not grow the interval.
	if a, _ := fresh.Next(t0); a.Earliest != 150*time.Second || a.Latest != 300*time.Second {
		t.Errorf("window %v, want [150s, 300s]", a)
	}
	early := drive(mustNew(t, "fcm-microg", nil), cell, time.Hour, 20, func(a Alarm) time.Duration { return a.Earliest })
	if got := early[len(early)-1].interval; got != 5*time.Minute {
		t.Errorf("early-fired successes grew the interval to %v", got)
	}
	// Behind a 10-minute NAT it oscillates just around the timeout.
	osc := drive(mustNew(t, "fcm-microg", nil), cell, 10*time.Minute, 300, nil)
	for _, st := range osc[100:] {
		if st.idle < 570*time.Second || st.idle > 612*time.Second {
			t.Fatalf("interval %v left [570 s, 612 s] around a 600 s NAT", st.idle)
		}
	}
	// Per network class: Wi-Fi learning does not move the cellular value.
	m := mustNew(t, "fcm-microg", nil)
	drive(m, wifi, time.Hour, 30, nil)
	m.Connected(t0, cell)
	if m.Interval() != 5*time.Minute {
		t.Errorf("cellular interval %v after Wi-Fi learning", m.Interval())
	}
}

// wechatSettle drives WeChat until it marks the network stable and returns
// the stable interval and the intervals it probed on the way.
func wechatSettle(t *testing.T, nat time.Duration, p Params) (time.Duration, []time.Duration) {
	t.Helper()
	s := mustNew(t, "wechat-smart", p).(*WeChat)
	var probed []time.Duration
	for _, st := range driveUntil(s, cell, nat, 200, nil, func() bool { return s.net.stable }) {
		if len(probed) == 0 || probed[len(probed)-1] != st.idle {
			probed = append(probed, st.idle)
		}
	}
	if !s.net.stable {
		t.Fatalf("not stable after 200 heartbeats; probed %v", probed)
	}
	return s.Interval(), probed
}

// Derivations, from smart_heartbeat.cc with Min 270, step 60, success step
// 20, 3 successes per step, 3 failures to back off (exact alarms; a
// heartbeat succeeds iff its idle is below the NAT timeout T):
//
//   - T = 300 s: the first 3 heartbeats of a connection use Min (270, ok);
//     the 3rd counts, and 3 counted successes at 270 step up to 330. 330
//     fails (fail 1); the reconnect sends 3 more at 270 (they do not count:
//     last_heart != cur), then 330 fails again (2), and again (3). Not
//     stable yet, so cur = max(270, 330-60-20 = 250) = 270, stable.
//   - T = 500 s: 270 → 330 → 390 → 450 → 510 (3 successes each); 510 fails
//     three times; cur = 510-80 = 430, stable.
//   - T = 1000 s, Max 590: ... 510 → 570 → min(630, 590) = 590; success at
//     590 ≥ Max sets cur = 590-20 = 570, stable. With Max 890: 810 → 870 →
//     890, then 870.
func TestWeChatConverges(t *testing.T) {
	for _, tc := range []struct {
		nat    time.Duration
		max    any
		want   time.Duration
		probes []time.Duration
	}{
		{300 * time.Second, nil, 270 * time.Second, []time.Duration{270, 330, 270, 330, 270, 330}},
		{500 * time.Second, nil, 430 * time.Second, []time.Duration{270, 330, 390, 450, 510, 270, 510, 270, 510}},
		{1000 * time.Second, nil, 570 * time.Second, []time.Duration{270, 330, 390, 450, 510, 570, 590}},
		{1000 * time.Second, "890s", 870 * time.Second, nil},
	} {
		p := Params{}
		if tc.max != nil {
			p["max"] = tc.max
		}
		got, probed := wechatSettle(t, tc.nat, p)
		if got != tc.want {
			t.Errorf("T=%v: settled at %v, want %v (probed %v)", tc.nat, got, tc.want, probed)
		}
		if got >= tc.nat {
			t.Errorf("T=%v: settled at or above the NAT timeout", tc.nat)
		}
		if tc.probes != nil {
			var want []time.Duration
			for _, p := range tc.probes {
				want = append(want, p*time.Second)
			}
			if !slices.Equal(probed, want) {
				t.Errorf("T=%v: probed %v, want %v", tc.nat, probed, want)
			}
		}
	}
}

// Stable for a day and on a Tuesday: +20 s and probe again; behind a 500 s
// NAT that ends back at 430.
func TestWeChatReprobe(t *testing.T) {
	s := mustNew(t, "wechat-smart", nil).(*WeChat)
	steps := drive(s, cell, 500*time.Second, 800, nil)
	var sawReprobe bool
	for _, st := range steps {
		if st.idle == 450*time.Second && st.at.Sub(t0) > 24*time.Hour {
			sawReprobe = true
			if st.at.Weekday() != time.Tuesday {
				t.Errorf("re-probe on %v", st.at.Weekday())
			}
		}
	}
	if !sawReprobe {
		t.Error("no re-probe at 450 s after a day")
	}
	if !s.net.stable || s.Interval() != 430*time.Second {
		t.Errorf("after re-probe: stable=%v interval %v, want 430 s", s.net.stable, s.Interval())
	}
	// Foreground uses Min.
	s.SetForeground(steps[len(steps)-1].at, true)
	if a, _ := s.Next(t0); a.Latest != 270*time.Second {
		t.Errorf("foreground interval %v", a.Latest)
	}
}

func TestAPNSStages(t *testing.T) {
	// Wi-Fi behind a 1300 s NAT, alarms at the end of the window:
	// initial growth 900 → 1200 → 1500 (fails, back to 1200, refined),
	// 1260 → 1320 (fails, back to 1260, steady).
	s := mustNew(t, "apns-model", nil).(*APNS)
	steps := drive(s, wifi, 1300*time.Second, 7, nil)
	var got []time.Duration
	for _, st := range steps {
		got = append(got, st.idle/time.Second)
	}
	if want := []time.Duration{900, 1200, 1500, 1200, 1260, 1320, 1260}; !slices.Equal(got, want) {
		t.Errorf("Wi-Fi probes %v, want %v", got, want)
	}
	if s.Stage() != StageSteady || s.Interval() != 1260*time.Second {
		t.Errorf("stage %v interval %v, want steady at 1260 s", s.Stage(), s.Interval())
	}
	// Steady lasts max(3600, 24·1260 s = 30240 s): the next probe of a
	// longer interval comes only after that.
	steadyStart := steps[5].at
	more := drive(s, wifi, 1300*time.Second, 40, nil)
	for _, st := range more {
		if st.idle > 1260*time.Second && st.at.Sub(steadyStart) < 30240*time.Second {
			t.Fatalf("probed %v only %v into steady state", st.idle, st.at.Sub(steadyStart))
		}
	}
	// Early fire window.
	if a, _ := s.Next(t0); a.Earliest != 945*time.Second || a.Latest != 1260*time.Second {
		t.Errorf("early fire window %v, want [945s, 1260s]", a)
	}
	// Failure in steady state: backoff ×0.75, then steady again on success.
	s.Failed(t0, 1260*time.Second)
	if s.Stage() != StageBackoff || s.Interval() != 945*time.Second {
		t.Errorf("after steady failure: %v %v, want backoff at 945 s", s.Stage(), s.Interval())
	}
	s.Succeeded(t0, 945*time.Second)
	if s.Stage() != StageSteady {
		t.Errorf("after backoff success: %v", s.Stage())
	}
	// Failing at the minimum enters the 24 h fallback.
	s.Failed(t0, 900*time.Second)
	s.Failed(t0, 900*time.Second)
	if s.Stage() != StageFallback || s.Interval() != 15*time.Minute {
		t.Errorf("at minimum: %v %v, want fallback at 15 min", s.Stage(), s.Interval())
	}
	s.Succeeded(t0.Add(25*time.Hour), 900*time.Second)
	if s.Stage() != StageInitialGrowth {
		t.Errorf("after fallback: %v", s.Stage())
	}
}

// WWAN never uses an interval in [1680 s, 1920 s) and grows to its
// maximum; Wi-Fi stops at 1800 s. State is per interface and survives
// reconnects.
func TestAPNSAvoidRangeAndMax(t *testing.T) {
	s := mustNew(t, "apns-model", nil).(*APNS)
	var got []time.Duration
	for _, st := range drive(s, cell, 24*time.Hour, 12, nil) {
		got = append(got, st.idle/time.Second)
		if st.idle >= 1680*time.Second && st.idle < 1920*time.Second {
			t.Errorf("WWAN used %v inside the avoid range", st.idle)
		}
	}
	if want := []time.Duration{900, 1200, 1500, 1920, 2220, 2520, 2820, 3120, 3420, 3600, 3600, 3600}; !slices.Equal(got, want) {
		t.Errorf("WWAN growth %v, want %v", got, want)
	}
	s.Disconnected(t0)
	s.Connected(t0, wifi)
	var wifiMax time.Duration
	for _, st := range drive(s, wifi, 24*time.Hour, 10, nil) {
		wifiMax = max(wifiMax, st.idle)
	}
	if wifiMax != 1800*time.Second {
		t.Errorf("Wi-Fi maximum %v, want 1800 s", wifiMax)
	}
	s.Connected(t0, cell)
	if s.Interval() != 3600*time.Second {
		t.Errorf("WWAN state lost across interfaces: %v", s.Interval())
	}
}

// The bisection ends with lo < T <= hi and hi-lo within the resolution.
func TestBisectBracketsTimeout(t *testing.T) {
	for _, nat := range []time.Duration{45 * time.Second, 437 * time.Second, 1800 * time.Second, 7200 * time.Second} {
		s := mustNew(t, "adaptive-bisect", nil).(*Bisect)
		steps := drive(s, cell, nat, 60, nil)
		lo, hi, done := s.Bracket()
		if !done {
			t.Fatalf("T=%v: search not done after 60 probes: [%v, %v]", nat, lo, hi)
		}
		if !(lo < nat && nat <= hi && hi-lo <= time.Second) {
			t.Errorf("T=%v: bracket [%v, %v] does not hold T within 1 s", nat, lo, hi)
		}
		if want := time.Duration(0.9 * float64(lo)); s.Interval() != want {
			t.Errorf("T=%v: interval %v, want 0.9·lo = %v", nat, s.Interval(), want)
		}
		if last := steps[len(steps)-1]; !last.ok {
			t.Errorf("T=%v: still failing after convergence", nat)
		}
		probes := 0
		for _, st := range steps {
			if !st.ok || st.idle != s.Interval() {
				probes++
			}
		}
		if probes > 25 {
			t.Errorf("T=%v: %d probes, want logarithmic", nat, probes)
		}
	}
	// A NAT that never expires ends the doubling at Max.
	s := mustNew(t, "adaptive-bisect", Params{"max": "1h"}).(*Bisect)
	drive(s, cell, 48*time.Hour, 20, nil)
	if lo, _, done := s.Bracket(); !done || lo != time.Hour {
		t.Errorf("lenient NAT: lo %v done %v, want 1h", lo, done)
	}
}

func TestRegistry(t *testing.T) {
	want := []string{"adaptive-bisect", "apns-model", "fcm-microg", "fixed", "gcm-legacy", "none", "signal", "tcp-keepalive", "telegram", "wechat-smart"}
	for _, n := range want {
		if !slices.Contains(Names(), n) {
			t.Errorf("preset %q missing from %v", n, Names())
		}
	}
	for _, p := range Presets() {
		if p.Source == "" || p.Summary == "" {
			t.Errorf("%s: no source or summary", p.Name)
		}
		if s, err := p.New(nil, rand.New(rand.NewPCG(1, 1))); err != nil || s.Name() != p.Name {
			t.Errorf("%s: defaults: %v, name %q", p.Name, err, s.Name())
		}
	}
	for _, tc := range []struct {
		name   string
		params Params
		substr string
	}{
		{"fixd", nil, `unknown strategy "fixd"`},
		{"fixed", Params{"intreval": 30}, `unknown parameter "intreval"`},
		{"fixed", Params{"interval": "soon"}, `parameter "interval"`},
		{"fixed", Params{"interval": -5}, "interval = -5s must be positive"},
		{"fixed", Params{"interval": 10, "jitter": 10}, "jitter"},
		{"tcp-keepalive", Params{"count": 0}, "count = 0"},
		{"tcp-keepalive", Params{"count": 2.5}, `parameter "count": want an integer`},
		{"fcm-microg", Params{"min": "40m"}, "min = 40m0s exceeds max"},
		{"wechat-smart", Params{"max": 200}, "max = 3m20s"},
		{"apns-model", Params{"wwan_max": 1700}, "avoid range"},
		{"apns-model", Params{"backoff": 1.5}, "backoff"},
		{"adaptive-bisect", Params{"margin": 0}, "margin"},
		{"signal", Params{"foreground": "yes"}, "want true or false"},
	} {
		_, err := New(tc.name, tc.params, nil)
		if err == nil || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("New(%q, %v) error = %v, want it to contain %q", tc.name, tc.params, err, tc.substr)
		}
	}
	custom := Preset{Name: "test-custom", Summary: "s", Source: "test", New: func(Params, *rand.Rand) (Strategy, error) {
		return NewFixed("test-custom", FixedConfig{Interval: time.Minute, AckTimeout: time.Second})
	}}
	if err := Register(custom); err != nil {
		t.Fatal(err)
	}
	if err := Register(custom); err == nil {
		t.Error("duplicate Register accepted")
	}
	if err := Register(Preset{Name: "x"}); err == nil {
		t.Error("nil factory accepted")
	}
	if s := mustNew(t, "test-custom", nil); s.Interval() != time.Minute {
		t.Errorf("custom strategy interval %v", s.Interval())
	}
}

func TestAlarmModel(t *testing.T) {
	a := Alarm{Earliest: 150 * time.Second, Latest: 300 * time.Second}
	draw := func(seed uint64) []time.Time {
		m, err := NewAlarmModel(FireUniform, false, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		var out []time.Time
		for range 100 {
			at, err := m.FireAt(t0, a, nil)
			if err != nil {
				t.Fatal(err)
			}
			if at.Before(t0.Add(a.Earliest)) || at.After(t0.Add(a.Latest)) {
				t.Fatalf("fired at %v outside the window", at.Sub(t0))
			}
			out = append(out, at)
		}
		return out
	}
	if !slices.Equal(draw(7), draw(7)) {
		t.Error("same seed, different fire times")
	}
	if slices.Equal(draw(7), draw(8)) {
		t.Error("different seeds, same fire times")
	}
	late, _ := NewAlarmModel(FireLatest, true, nil)
	pending := []time.Time{t0.Add(400 * time.Second), t0.Add(200 * time.Second), t0.Add(160 * time.Second), t0.Add(100 * time.Second)}
	if at, _ := late.FireAt(t0, a, pending); !at.Equal(t0.Add(160 * time.Second)) {
		t.Errorf("coalesced to %v, want the earliest pending alarm inside the window (160 s)", at.Sub(t0))
	}
	if at, _ := late.FireAt(t0, a, pending[:1]); !at.Equal(t0.Add(300 * time.Second)) {
		t.Errorf("no pending alarm in the window: fired at %v, want 300 s", at.Sub(t0))
	}
	early, _ := NewAlarmModel(FireEarliest, false, nil)
	if at, _ := early.FireAt(t0, a, pending); !at.Equal(t0.Add(150 * time.Second)) {
		t.Errorf("earliest policy fired at %v", at.Sub(t0))
	}
	if _, err := late.FireAt(t0, Alarm{Earliest: 2, Latest: 1}, nil); err == nil {
		t.Error("inverted window accepted")
	}
	if _, err := NewAlarmModel(FireUniform, false, nil); err == nil {
		t.Error("uniform policy without rng accepted")
	}
	if p, err := ParseFirePolicy("latest"); err != nil || p != FireLatest {
		t.Errorf("ParseFirePolicy: %v %v", p, err)
	}
	if _, err := ParseFirePolicy("soon"); err == nil {
		t.Error("unknown policy parsed")
	}
}

func BenchmarkWeChatCycle(b *testing.B) {
	s := mustNew(b, "wechat-smart", nil)
	s.Connected(t0, cell)
	now := t0
	for b.Loop() {
		a, _ := s.Next(now)
		now = now.Add(a.Latest)
		s.Succeeded(now, a.Latest)
	}
}

func BenchmarkAlarmFireAt(b *testing.B) {
	m, _ := NewAlarmModel(FireUniform, true, rand.New(rand.NewPCG(1, 2)))
	a := Alarm{Earliest: 150 * time.Second, Latest: 300 * time.Second}
	pending := []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)}
	for b.Loop() {
		_, _ = m.FireAt(t0, a, pending)
	}
}

// Mars counts a heartbeat as awaiting its answer only once it is sent
// (OnHeartbeatStart): a connection lost while the next heartbeat is merely
// scheduled is not a failed heartbeat, one lost while it is in flight is.
func TestWeChatCountsOnlySentHeartbeatsAsFailedOnDisconnect(t *testing.T) {
	// Mars (facts 4.3) uses the minimum for the first three answered
	// heartbeats of every connection and steps up after three more at the
	// current interval; three failures at a probed interval step back by
	// heart_step + success_step and freeze.
	beat := func(w *WeChat, now time.Time) time.Time {
		a, _ := w.Next(now)
		now = now.Add(a.Latest)
		w.KeepAliveSent(now)
		w.Succeeded(now, a.Latest)
		return now
	}
	run := func(sent bool) time.Duration {
		w, err := NewWeChat(DefaultWeChat())
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday: no weekly re-probe
		n := Network{Kind: "cellular", Label: "c"}
		w.Connected(now, n)
		for range 6 {
			now = beat(w, now)
		}
		if got := w.Interval(); got != 330*time.Second {
			t.Fatalf("after six answered heartbeats the interval is %v, want 330s", got)
		}
		for range 3 { // three connections lost while a 330 s heartbeat is due
			a, _ := w.Next(now)
			if a.Latest != 330*time.Second {
				t.Fatalf("probe heartbeat due in %v, want 330s", a.Latest)
			}
			now = now.Add(time.Minute)
			if sent {
				w.KeepAliveSent(now)
			}
			w.Disconnected(now)
			w.Connected(now, n)
			for range 3 { // the new connection's warm-up at the minimum
				now = beat(w, now)
			}
		}
		return w.Interval()
	}
	if got := run(false); got != 330*time.Second {
		t.Errorf("disconnects between heartbeats changed the interval to %v; want 330s (no failure counted)", got)
	}
	if got := run(true); got != 270*time.Second {
		t.Errorf("three heartbeats lost in flight left the interval at %v; want 270s (back off after max_fail failures)", got)
	}
}

// AlignTo fires on the first grid point inside the window, and falls back
// to the policy when the window holds none.
func TestAlarmModelAlignsToAGrid(t *testing.T) {
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m, err := NewAlarmModel(FireLatest, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.AlignTo(15*time.Minute, epoch)
	now := epoch.Add(7 * time.Minute)
	if got, _ := m.FireAt(now, Alarm{Earliest: 5 * time.Minute, Latest: 10 * time.Minute}, nil); !got.Equal(epoch.Add(15 * time.Minute)) {
		t.Errorf("window [12m, 17m]: fires at %v, want the grid point 15m", got.Sub(epoch))
	}
	if got, _ := m.FireAt(now, Alarm{Earliest: time.Minute, Latest: 5 * time.Minute}, nil); !got.Equal(now.Add(5 * time.Minute)) {
		t.Errorf("window [8m, 12m] holds no grid point: fires at %v, want its latest instant 12m", got.Sub(epoch))
	}
}

// Every device holds its strategy: APNS's size is its share of the
// per-device budget (docs/engine.md, "Memory of a full-stack run").
func TestAPNSSize(t *testing.T) {
	if s := unsafe.Sizeof(APNS{}); s > 208 {
		t.Errorf("APNS is %d bytes, want <= 208: every device pays for a field added here", s)
	}
}

// A stage's end kept in Unix nanoseconds is the instant now.Add(d) is,
// and one past what int64 nanoseconds reach saturates instead of wrapping
// into the past.
func TestAPNSStageEnd(t *testing.T) {
	d := 86400 * time.Second
	if got, want := stageEnd(t0, d), t0.Add(d).UnixNano(); got != want {
		t.Errorf("stageEnd(t0, 1 day) = %d, want %d", got, want)
	}
	if ended(t0.Add(d-1), stageEnd(t0, d)) || !ended(t0.Add(d), stageEnd(t0, d)) {
		t.Error("ended: want false a nanosecond before the end, true at it")
	}
	end := stageEnd(t0, math.MaxInt64)
	if end != math.MaxInt64 || ended(t0.Add(100*365*24*time.Hour), end) {
		t.Errorf("stageEnd(t0, max) = %d: want it saturated and not ended a century later", end)
	}
}
