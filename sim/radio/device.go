package radio

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Promotion is a transition into the high-power connected state: how long
// it takes and the average power drawn meanwhile.
type Promotion struct {
	// Duration is the promotion delay (LTE RRC_IDLE to CONNECTED, UMTS
	// IDLE to CELL_DCH).
	Duration time.Duration
	// PowerW is the average power during the promotion, in watts.
	PowerW float64
}

// State is one connected-mode state of the radio's tail: after the last
// packet the radio stays in a state for its Timer, then demotes to the next
// state of the tail, and after the last one to idle. Traffic resets the
// timer of the state it is served in.
type State struct {
	// Name is the state's name in the standard (CELL_DCH, long DRX).
	Name string
	// PowerW is the average power in the state, in watts above the device
	// baseline, DRX on-durations included.
	PowerW float64
	// Timer is the inactivity timer after which the radio demotes.
	Timer time.Duration
	// ServesSmall says that packets no larger than the preset's small-packet
	// thresholds are carried in this state without a promotion to the first
	// state (UMTS CELL_FACH, ARO's RLC buffer thresholds); they restart this
	// state's timer.
	ServesSmall bool
}

// Preset is a radio energy profile: a promotion from idle, a chain of tail
// states, idle paging, and per-byte transfer energy, with its source.
type Preset struct {
	// Name is the preset name used in scenarios and results.
	Name string
	// Source cites where the numbers come from.
	Source string
	// Placeholder marks presets whose numbers are not from a measurement
	// (results should label them).
	Placeholder bool
	// Promotion is the promotion from idle to Tail[0].
	Promotion Promotion
	// Repromotion is the promotion from a lower tail state to Tail[0] when
	// a packet cannot be served where the radio is (UMTS FACH to DCH).
	Repromotion Promotion
	// Tail is the chain of connected states, highest power first. It must
	// not be empty.
	Tail []State
	// IdlePowerW is the average power in idle above the device baseline:
	// paging (LTE DRX in RRC_IDLE) or Wi-Fi PSM standby with beacons.
	IdlePowerW float64
	// SmallUpBytes and SmallDownBytes are the largest uplink and downlink
	// packets a ServesSmall state carries without a promotion.
	SmallUpBytes, SmallDownBytes int
	// UpJPerByte and DownJPerByte are the transfer energy per byte on top
	// of the state power (LTE alpha coefficients).
	UpJPerByte, DownJPerByte float64
}

// Validate reports the first bad field of p, naming it.
func (p *Preset) Validate() error {
	if p == nil {
		return fmt.Errorf("radio: nil preset")
	}
	bad := func(field string, v any) error {
		return fmt.Errorf("radio preset %q: %s = %v is invalid", p.Name, field, v)
	}
	if len(p.Tail) == 0 {
		return bad("Tail", "[]")
	}
	if len(p.Tail) > 127 {
		return bad("Tail length", len(p.Tail))
	}
	check := func(field string, d time.Duration, w float64) error {
		if d < 0 {
			return bad(field+".Duration", d)
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return bad(field+".PowerW", w)
		}
		return nil
	}
	if err := check("Promotion", p.Promotion.Duration, p.Promotion.PowerW); err != nil {
		return err
	}
	if err := check("Repromotion", p.Repromotion.Duration, p.Repromotion.PowerW); err != nil {
		return err
	}
	for i, s := range p.Tail {
		if s.Timer <= 0 {
			return bad(fmt.Sprintf("Tail[%d].Timer", i), s.Timer)
		}
		if s.PowerW < 0 || math.IsNaN(s.PowerW) || math.IsInf(s.PowerW, 0) {
			return bad(fmt.Sprintf("Tail[%d].PowerW", i), s.PowerW)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"IdlePowerW", p.IdlePowerW}, {"UpJPerByte", p.UpJPerByte}, {"DownJPerByte", p.DownJPerByte}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return bad(f.name, f.v)
		}
	}
	if p.SmallUpBytes < 0 {
		return bad("SmallUpBytes", p.SmallUpBytes)
	}
	if p.SmallDownBytes < 0 {
		return bad("SmallDownBytes", p.SmallDownBytes)
	}
	return nil
}

// Clone returns a deep copy of p.
func (p *Preset) Clone() *Preset {
	c := *p
	c.Tail = append([]State(nil), p.Tail...)
	return &c
}

// IsolatedPacketJ is the energy above idle of one packet exchange that
// finds the radio idle and is followed by silence: the promotion plus the
// whole tail (transfer energy excluded). It is what facts-table "energy per
// isolated keep-alive" figures compute.
func (p *Preset) IsolatedPacketJ() float64 {
	e := p.Promotion.PowerW * p.Promotion.Duration.Seconds()
	for _, s := range p.Tail {
		e += (s.PowerW - p.IdlePowerW) * s.Timer.Seconds()
	}
	return e - p.IdlePowerW*p.Promotion.Duration.Seconds()
}

// Device is one device's radio state machine. It implements Model in O(1)
// per packet and keeps about a hundred bytes of state; many devices share
// one *Preset, which must not change while they use it.
//
// Attribution rule: the promotion is charged to the cause of the packet that
// woke the radio; the tail after a packet is charged to the cause of that
// packet until the next packet restarts a timer (so a tail belongs to the
// packet that started or last extended it); transfer energy to the packet's
// own cause; idle paging, which no packet causes, to CauseOther.
type Device struct {
	p *Preset
	// start is when accounting began, acc how far energy is accounted
	// (UnixNano).
	start, acc int64
	// anchor is when the timer of Tail[k] (re)started. While promoting,
	// acc < anchor and anchor is the end of the promotion.
	anchor  int64
	onTime  int64
	energy  [numCauses]float64
	wakeups int32
	// k is the current tail state, -1 when idle.
	k       int8
	repromo bool
	cause   Cause
	// owner is who the energy being charged is for, when SetOwners split
	// it: the owner of the packet that woke the radio or last restarted a
	// timer, like cause. byOwner is nil until SetOwners (a pointer keeps
	// the device small when energy is not split).
	owner   uint8
	byOwner *[][numCauses]float64
	// power is nil until the device is first switched off (PowerOff): a
	// pointer keeps the device small when no scenario switches it off.
	power *powerState
}

// powerState is when a device was switched off.
type powerState struct {
	// off is set while the device is off, since offSince (UnixNano);
	// offTotal is the time it spent off before that.
	off                bool
	offSince, offTotal int64
}

// MaxOwners is the most owners SetOwners accepts.
const MaxOwners = 256

const numCauses = 4

var _ Model = (*Device)(nil)

// New returns the radio of one device using preset p, idle at start.
func New(p *Preset, start time.Time) (*Device, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	t := start.UnixNano()
	return &Device{p: p, start: t, acc: t, anchor: t, k: -1}, nil
}

// advance accounts energy from d.acc to t along the timers running since
// the last packet, moving k and anchor to the state current at t.
func (d *Device) advance(t int64) {
	if t <= d.acc {
		return
	}
	from := d.acc
	if d.k >= 0 && from < d.anchor { // promoting
		end := min(t, d.anchor)
		pw := d.p.Promotion.PowerW
		if d.repromo {
			pw = d.p.Repromotion.PowerW
		}
		d.charge(pw, end-from)
		from = end
	}
	if d.k >= 0 && from < t {
		tail := d.p.Tail
		s := d.anchor
		for i := int(d.k); i < len(tail); i++ {
			e := s + int64(tail[i].Timer)
			if from < e {
				end := min(t, e)
				d.charge(tail[i].PowerW, end-from)
				from = end
			}
			if from >= t && t < e {
				d.k, d.anchor = int8(i), s
				d.acc = t
				return
			}
			s = e
		}
		d.k, d.anchor = -1, s
	}
	d.acc = t
}

// charge adds power pw over ns nanoseconds of radio-on time to the current
// cause, counting only the part above the idle power (the idle power is
// accounted over the time the device was on, in Report).
func (d *Device) charge(pw float64, ns int64) {
	d.onTime += ns
	e := (pw - d.p.IdlePowerW) * float64(ns) / 1e9
	d.energy[d.cause] += e
	if d.byOwner != nil {
		(*d.byOwner)[d.owner][d.cause] += e
	}
}

// SetOwners splits the device's energy by owner as well as by cause: the
// packets of several connections (apps) share one radio, so a wake-up
// and its tail are charged once, to the owner whose packet caused them
// (the attribution rule of causes). Owners are numbered 0 to n-1; Packet
// charges owner 0. It resets the split and must be called before the
// first packet. n must be in [1, MaxOwners].
func (d *Device) SetOwners(n int) error {
	if n < 1 || n > MaxOwners {
		return fmt.Errorf("radio: %d owners, want 1 to %d", n, MaxOwners)
	}
	s := make([][numCauses]float64, n)
	d.byOwner = &s
	return nil
}

// PacketFor is Packet for a packet of owner (0 to n-1 of SetOwners; other
// values count as 0).
func (d *Device) PacketFor(now time.Time, up bool, size int, cause Cause, owner int) {
	if d.byOwner == nil || owner < 0 || owner >= len(*d.byOwner) {
		owner = 0
	}
	d.packet(now, up, size, cause, uint8(owner))
}

// Packet records a packet of size bytes at now. A packet earlier than one
// already seen is counted at the latest time seen.
func (d *Device) Packet(now time.Time, up bool, size int, cause Cause) {
	d.packet(now, up, size, cause, 0)
}

func (d *Device) packet(now time.Time, up bool, size int, cause Cause, owner uint8) {
	if cause >= numCauses {
		cause = CauseOther
	}
	t := max(now.UnixNano(), d.acc)
	d.advance(t)
	if d.power != nil && d.power.off {
		d.powerOn(t)
	}
	if size > 0 {
		e := float64(size) * d.p.DownJPerByte
		if up {
			e = float64(size) * d.p.UpJPerByte
		}
		d.energy[cause] += e
		if d.byOwner != nil {
			(*d.byOwner)[owner][cause] += e
		}
	}
	switch {
	case d.k < 0:
		d.wakeups++
		d.k, d.repromo, d.cause, d.owner = 0, false, cause, owner
		d.anchor = t + int64(d.p.Promotion.Duration)
	case t < d.anchor:
		// Promoting: the packet waits, and the tail timer starts when the
		// promotion ends, so it extends nothing.
	case d.k == 0:
		d.anchor, d.cause, d.owner = t, cause, owner
	case d.p.Tail[d.k].ServesSmall && d.small(up, size):
		d.anchor, d.cause, d.owner = t, cause, owner
	default:
		d.k, d.repromo, d.cause, d.owner = 0, true, cause, owner
		d.anchor = t + int64(d.p.Repromotion.Duration)
	}
}

// PowerOff switches the device off at now: a promotion or tail in
// progress ends there, and until PowerOn the radio draws nothing, not
// even the idle (paging) power. A device that is off sends and receives
// nothing; a packet that comes all the same switches it back on at its
// time. Switching off a device that is off changes nothing.
func (d *Device) PowerOff(now time.Time) {
	if d.power == nil {
		d.power = &powerState{}
	}
	if d.power.off {
		return
	}
	t := max(now.UnixNano(), d.acc)
	d.advance(t)
	d.k, d.anchor = -1, t
	d.power.off, d.power.offSince = true, t
}

// PowerOn switches a device that PowerOff switched off back on at now,
// idle. It does nothing to a device that is on.
func (d *Device) PowerOn(now time.Time) {
	if d.power == nil || !d.power.off {
		return
	}
	t := max(now.UnixNano(), d.acc)
	d.advance(t)
	d.powerOn(t)
}

func (d *Device) powerOn(t int64) {
	d.power.offTotal += t - d.power.offSince
	d.power.off = false
}

// poweredFor is the time the device was on from its start to t (t not
// before the last packet or power change).
func (d *Device) poweredFor(t int64) int64 {
	if d.power == nil {
		return t - d.start
	}
	off := d.power.offTotal
	if d.power.off {
		off += t - d.power.offSince
	}
	return t - d.start - off
}

func (d *Device) small(up bool, size int) bool {
	if up {
		return size <= d.p.SmallUpBytes
	}
	return size <= d.p.SmallDownBytes
}

// Report returns the energy from the start up to now, counting running
// tails up to now. It does not change the device.
func (d *Device) Report(now time.Time) Report {
	c := *d
	if d.byOwner != nil {
		s := slices.Clone(*d.byOwner)
		c.byOwner = &s
	}
	t := max(now.UnixNano(), c.acc)
	c.advance(t)
	idleJ := d.p.IdlePowerW * float64(c.poweredFor(t)) / 1e9
	r := Report{ByCauseJ: make(map[Cause]float64, numCauses), OnTime: time.Duration(c.onTime),
		Wakeups: int(c.wakeups), IdleJ: idleJ}
	for i, e := range c.energy {
		r.EnergyJ += e
		if e != 0 {
			r.ByCauseJ[Cause(i)] = e
		}
	}
	r.EnergyJ += idleJ
	if idleJ != 0 {
		r.ByCauseJ[CauseOther] += idleJ
	}
	var split [][numCauses]float64
	if c.byOwner != nil {
		split = *c.byOwner
	}
	for _, o := range split {
		m := make(map[Cause]float64, numCauses)
		for i, e := range o {
			if e != 0 {
				m[Cause(i)] = e
			}
		}
		r.ByOwnerJ = append(r.ByOwnerJ, m)
	}
	return r
}

// Preset returns the device's preset.
func (d *Device) Preset() *Preset { return d.p }

// JoulesPerDay scales r, accumulated over elapsed, to one day.
func (r Report) JoulesPerDay(elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return r.EnergyJ * float64(24*time.Hour) / float64(elapsed)
}
