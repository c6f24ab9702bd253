package radio

import (
	"math"
	"strings"
	"testing"
	"time"
	"unsafe"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mustDevice(t testing.TB, name string) *Device {
	t.Helper()
	p, err := PresetByName(name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(p, t0)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// keepAlive sends a PINGREQ and receives the PINGRESP rtt later (MQTT
// PINGREQ and PINGRESP are 2 bytes; 40 bytes of TCP/IP headers and a
// TLS record overhead make ~66 bytes on the wire).
func keepAlive(d *Device, at time.Time, rtt time.Duration) {
	d.Packet(at, true, 66, CauseKeepAlive)
	d.Packet(at.Add(rtt), false, 66, CauseKeepAlive)
}

func within(got, want, frac float64) bool { return math.Abs(got-want) <= frac*math.Abs(want) }

// Facts §5.6: an isolated LTE keep-alive costs 0.26 s at 1.21 W plus
// 11.58 s at 1.06 W = 12.6 J. The expected value is computed from those
// published numbers, not from the model.
func TestIsolatedKeepAliveLTEHuang(t *testing.T) {
	want := 0.26*1.21 + 11.58*1.06
	d := mustDevice(t, "lte-huang2012")
	keepAlive(d, t0.Add(time.Minute), 50*time.Millisecond)
	r := d.Report(t0.Add(2 * time.Minute))
	// The facts figure is energy above the device base (ARO P_IDLE = 0):
	// remove idle paging only for the time the radio was idle.
	got := r.EnergyJ - lteIdleW*(2*time.Minute-r.OnTime).Seconds()
	if !within(got, want, 0.10) {
		t.Fatalf("isolated keep-alive = %.2f J, want %.2f J within 10%%", got, want)
	}
	if r.Wakeups != 1 {
		t.Errorf("wakeups = %d, want 1", r.Wakeups)
	}
	// The PINGRESP arrives during the promotion, so it does not extend the tail.
	wantOn := 260*time.Millisecond + 11576*time.Millisecond
	if r.OnTime != wantOn {
		t.Errorf("on time = %v, want %v", r.OnTime, wantOn)
	}
	if ka := r.ByCauseJ[CauseKeepAlive]; !within(ka, r.EnergyJ-r.IdleJ, 1e-9) {
		t.Errorf("keep-alive share = %.3f J, want all of %.3f J", ka, r.EnergyJ-r.IdleJ)
	}
	// Idle paging for the two minutes not spent connected: ~20 mW.
	wantIdle := 0.594 * 0.043 / 1.28 * 120 // over the whole run; on-time energy is counted above it
	if !within(r.IdleJ, wantIdle, 1e-9) {
		t.Errorf("idle = %.4f J, want %.4f J", r.IdleJ, wantIdle)
	}
	t.Logf("lte-huang2012 isolated keep-alive: %.2f J (facts 12.6 J)", got)
}

// The facts table (§5.6) gives the isolated-packet energy of each preset;
// IsolatedPacketJ must agree within 10% (lte-aro adds DRX pings, which the
// table leaves out).
func TestIsolatedPacketTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		want float64
	}{
		{"lte-huang2012", 0.26*1.21 + 11.58*1.06},
		{"lte-aro", 0.26*1.21 + 10.12*1.06},
		{"umts-inspire", 2*0.30 + 4*0.60 + 10*0.38},
		{"umts-captivate", 2*0.51 + 4*1.02 + 10*0.40},
		{"wifi-psm", 0.25 * 0.403},
	} {
		p, err := PresetByName(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		// The table counts energy above zero, IsolatedPacketJ above idle.
		got := p.IsolatedPacketJ() + p.IdlePowerW*(p.Promotion.Duration.Seconds()+tailSeconds(p))
		if !within(got, tc.want, 0.10) {
			t.Errorf("%s: isolated packet %.2f J, want %.2f J within 10%%", tc.name, got, tc.want)
		}
	}
}

func tailSeconds(p *Preset) float64 {
	var s float64
	for _, st := range p.Tail {
		s += st.Timer.Seconds()
	}
	return s
}

// haverinen is Table 2 of Haverinen, Siren, Eronen, VTC 2007-Spring (facts
// §5.5): average 3G current (mA) by keep-alive interval.
var haverinen = []struct {
	interval time.Duration
	mA       float64
}{{20 * time.Second, 34}, {40 * time.Second, 24}, {150 * time.Second, 16}, {300 * time.Second, 14}}

const haverinenIdleMA = 6.1

// batteryV is an assumption: a Li-ion cell's nominal 3.7 V, to turn the
// paper's idle current into the idle power the model's energy adds to. At a
// fixed voltage the current ratio equals the power ratio.
const batteryV = 3.7

// modelRatio runs keep-alives every interval for a day and returns the
// ratio of average power (idle baseline of the measured phone plus the
// model's energy) to the idle baseline.
func modelRatio(t *testing.T, preset string, interval time.Duration) float64 {
	d := mustDevice(t, preset)
	end := t0.Add(24 * time.Hour)
	for at := t0.Add(interval); at.Before(end); at = at.Add(interval) {
		keepAlive(d, at, 100*time.Millisecond)
	}
	r := d.Report(end)
	idleW := haverinenIdleMA / 1000 * batteryV
	return (idleW + r.EnergyJ/(24*3600)) / idleW
}

// TestHaverinenShape compares the UMTS presets with the measured ratio of
// average to idle power. At 300 s the ARO presets land within 20%. At 20 s
// they do not: every keep-alive pays a full promotion and the 14 s DCH+FACH
// tail (ARO's timers are shorter than 20 s, so the radio is idle again
// before the next one), which is 3-4x the measured cost. The measurements
// imply ~2 J per keep-alive plus a continuous cost of keeping the
// connection (Haverinen's network and phone served small packets without
// DCH and kept a PCH state); ARO's profiles do not describe that network,
// and we do not tune them to two numbers. The known gap is asserted so
// that a model change that closes it makes this test fail and the docs
// get updated (docs/radio.md, "Validation").
func TestHaverinenShape(t *testing.T) {
	for _, preset := range []string{"umts-inspire", "umts-captivate"} {
		for _, h := range haverinen {
			want := h.mA / haverinenIdleMA
			got := modelRatio(t, preset, h.interval)
			t.Logf("%s every %v: model ratio %.2f, measured %.2f (%+.0f%%)", preset, h.interval, got, want, 100*(got/want-1))
			switch h.interval {
			case 300 * time.Second:
				if !within(got, want, 0.20) {
					t.Errorf("%s every %v: ratio %.2f, measured %.2f: want within 20%%", preset, h.interval, got, want)
				}
			case 20 * time.Second:
				if got < 2*want {
					t.Errorf("%s every %v: ratio %.2f is no longer >2x the measured %.2f: the documented gap closed, update docs/radio.md", preset, h.interval, got, want)
				}
			}
		}
	}
}

// Keep-alives closer together than the tail share it: one wakeup.
func TestSharedTail(t *testing.T) {
	d := mustDevice(t, "lte-huang2012")
	keepAlive(d, t0, 50*time.Millisecond)
	d.Packet(t0.Add(5*time.Second), false, 200, CausePush)
	r := d.Report(t0.Add(time.Minute))
	if r.Wakeups != 1 {
		t.Fatalf("wakeups = %d, want 1", r.Wakeups)
	}
	// Keep-alive owns promotion + the 4.95 s of tail before the push; the
	// push owns the 11.576 s tail it restarted.
	bytesKA := 66 * (lteAlphaUp + lteAlphaDown) * 8 / 1e9
	wantKA := 0.26*(1.21-lteIdleW) + (5-0.26)*(1.06-lteIdleW) + bytesKA
	wantPush := 11.576*(1.06-lteIdleW) + 200*lteAlphaDown*8/1e9
	if got := r.ByCauseJ[CauseKeepAlive]; !within(got, wantKA, 1e-6) {
		t.Errorf("keep-alive J = %.4f, want %.4f", got, wantKA)
	}
	if got := r.ByCauseJ[CausePush]; !within(got, wantPush, 1e-6) {
		t.Errorf("push J = %.4f, want %.4f", got, wantPush)
	}
}

// UMTS: a small packet in FACH stays in FACH; a large one repromotes to DCH.
func TestUMTSFACH(t *testing.T) {
	small := mustDevice(t, "umts-inspire")
	small.Packet(t0, true, 66, CauseKeepAlive)
	small.Packet(t0.Add(8*time.Second), true, 100, CausePush) // 2 s promo + 4 s DCH: in FACH at 8 s
	rs := small.Report(t0.Add(time.Minute))
	// 2 s promo, 4 s DCH, 2 s FACH (KA), then 10 s FACH (push).
	wantS := 2*0.30 + 4*0.60 + 2*0.38 + 10*0.38
	if !within(rs.EnergyJ, wantS, 1e-6) {
		t.Errorf("small packet in FACH: %.3f J, want %.3f J", rs.EnergyJ, wantS)
	}
	if !within(rs.ByCauseJ[CausePush], 10*0.38, 1e-6) {
		t.Errorf("push share %.3f J, want %.3f", rs.ByCauseJ[CausePush], 10*0.38)
	}
	large := mustDevice(t, "umts-inspire")
	large.Packet(t0, true, 66, CauseKeepAlive)
	large.Packet(t0.Add(8*time.Second), true, 1400, CausePush)
	rl := large.Report(t0.Add(time.Minute))
	wantL := 2*0.30 + 4*0.60 + 2*0.38 + 1.5*0.49 + 4*0.60 + 10*0.38
	if !within(rl.EnergyJ, wantL, 1e-6) {
		t.Errorf("large packet in FACH: %.3f J, want %.3f J", rl.EnergyJ, wantL)
	}
	if rl.Wakeups != 1 {
		t.Errorf("repromotion counted as wakeup: %d", rl.Wakeups)
	}
}

// A packet during the promotion waits for it; the tail starts at its end.
func TestPacketDuringPromotion(t *testing.T) {
	d := mustDevice(t, "umts-captivate")
	d.Packet(t0, true, 66, CauseReconnect)
	d.Packet(t0.Add(time.Second), false, 66, CausePush)
	r := d.Report(t0.Add(time.Minute))
	want := 2*0.51 + 4*1.02 + 10*0.40
	if !within(r.EnergyJ, want, 1e-6) || r.ByCauseJ[CauseReconnect] != r.EnergyJ {
		t.Errorf("energy %.3f J by cause %v, want %.3f J all reconnect", r.EnergyJ, r.ByCauseJ, want)
	}
}

func TestReportDoesNotMutate(t *testing.T) {
	d := mustDevice(t, "lte-aro")
	d.Packet(t0, true, 66, CauseKeepAlive)
	a := d.Report(t0.Add(3 * time.Second))
	b := d.Report(t0.Add(time.Hour))
	c := d.Report(t0.Add(3 * time.Second))
	if a.EnergyJ != c.EnergyJ || b.EnergyJ <= a.EnergyJ {
		t.Fatalf("report changed the device: %v %v %v", a.EnergyJ, b.EnergyJ, c.EnergyJ)
	}
	if got := b.JoulesPerDay(time.Hour); !within(got, 24*b.EnergyJ, 1e-9) {
		t.Errorf("JoulesPerDay = %v", got)
	}
}

func TestWiFiPSM(t *testing.T) {
	d := mustDevice(t, "wifi-psm")
	keepAlive(d, t0.Add(time.Second), 20*time.Millisecond)
	r := d.Report(t0.Add(time.Hour))
	want := 0.02*3600 + (0.403-0.02)*0.27
	if !within(r.EnergyJ, want, 1e-6) {
		t.Errorf("wifi: %.4f J, want %.4f J", r.EnergyJ, want)
	}
}

func TestPresetsValid(t *testing.T) {
	names := PresetNames()
	for _, want := range []string{"lte-huang2012", "lte-aro", "umts-inspire", "umts-captivate", "wifi-psm", "nr-nsa"} {
		p, err := PresetByName(want)
		if err != nil {
			t.Fatalf("%s: %v (have %v)", want, err, names)
		}
		if err := p.Validate(); err != nil {
			t.Error(err)
		}
		if p.Source == "" {
			t.Errorf("%s: no source", want)
		}
	}
	if p, _ := PresetByName("nr-nsa"); !p.Placeholder {
		t.Error("nr-nsa must be marked placeholder")
	}
	if _, err := PresetByName("lte-huang"); err == nil {
		t.Error("unknown preset accepted")
	}
}

func TestValidateNamesField(t *testing.T) {
	base, _ := PresetByName("umts-inspire")
	for _, tc := range []struct {
		field string
		edit  func(p *Preset)
	}{
		{"Tail", func(p *Preset) { p.Tail = nil }},
		{"Tail[1].Timer", func(p *Preset) { p.Tail[1].Timer = 0 }},
		{"Tail[0].PowerW", func(p *Preset) { p.Tail[0].PowerW = math.NaN() }},
		{"Promotion.Duration", func(p *Preset) { p.Promotion.Duration = -1 }},
		{"IdlePowerW", func(p *Preset) { p.IdlePowerW = -1 }},
		{"SmallUpBytes", func(p *Preset) { p.SmallUpBytes = -1 }},
	} {
		p := base.Clone()
		tc.edit(p)
		_, err := New(p, t0)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err = %v, want it to name the field", tc.field, err)
		}
	}
	if _, err := New(nil, t0); err == nil {
		t.Error("nil preset accepted")
	}
}

// A device switched off in the middle of a keep-alive's tail stops there
// and draws nothing, not even idle paging, until it is switched on.
func TestPowerOffCutsTailAndIdle(t *testing.T) {
	d := mustDevice(t, "lte-huang2012")
	keepAlive(d, t0.Add(time.Minute), 50*time.Millisecond)
	d.PowerOff(t0.Add(time.Minute + 5*time.Second))
	d.PowerOff(t0.Add(time.Minute + 6*time.Second)) // already off: no change
	d.PowerOn(t0.Add(11*time.Minute + 5*time.Second))
	r := d.Report(t0.Add(12 * time.Minute))
	if r.OnTime != 5*time.Second {
		t.Errorf("on time = %v, want the 5 s before the device went off", r.OnTime)
	}
	if want := lteIdleW * (2 * time.Minute).Seconds(); !within(r.IdleJ, want, 1e-9) {
		t.Errorf("idle = %.4f J, want %.4f J (2 of 12 minutes on)", r.IdleJ, want)
	}
	if want := 0.26*(1.21-lteIdleW) + 4.74*(1.06-lteIdleW); !within(r.EnergyJ-r.IdleJ, want, 0.02) {
		t.Errorf("energy above idle = %.3f J, want %.3f J (promotion and 4.74 s of tail)", r.EnergyJ-r.IdleJ, want)
	}

	// A packet while off switches the device on at its time.
	e := mustDevice(t, "lte-huang2012")
	e.PowerOff(t0)
	e.Packet(t0.Add(time.Minute), true, 66, CauseKeepAlive)
	e.PowerOn(t0.Add(90 * time.Second)) // already on: no change
	if r := e.Report(t0.Add(2 * time.Minute)); !within(r.IdleJ, lteIdleW*60, 1e-9) || r.Wakeups != 1 {
		t.Errorf("idle %.4f J, %d wake-ups; want %.4f J (on from 1 min) and 1", r.IdleJ, r.Wakeups, lteIdleW*60)
	}
}

// The device state must stay small: 100k devices per run.
func TestDeviceSize(t *testing.T) {
	if s := unsafe.Sizeof(Device{}); s > 96 {
		t.Errorf("Device is %d bytes, want <= 96", s)
	}
}

func BenchmarkPacket(b *testing.B) {
	d := mustDevice(b, "lte-aro")
	at := t0
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(7 * time.Second)
		d.Packet(at, true, 66, CauseKeepAlive)
	}
}
