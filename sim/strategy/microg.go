package strategy

import "time"

// MicroGConfig configures microG's learned heartbeat
// (microg/GmsCore:play-services-core/.../gcm/GcmPrefs.java and
// McsService.java; facts §4.2).
type MicroGConfig struct {
	// Start is the first learned interval, 300 000 ms.
	Start time.Duration `param:"start"`
	// Min and Max clamp the learned interval: 5 min and 30 min.
	Min time.Duration `param:"min"`
	Max time.Duration `param:"max"`
	// FailFactor multiplies the interval after an ack timeout: 0.95.
	FailFactor float64 `param:"fail_factor"`
	// SuccessFactor multiplies it after a success whose observed idle
	// exceeded NearFull of the interval: 1.02 and 0.75.
	SuccessFactor float64 `param:"success_factor"`
	NearFull      float64 `param:"near_full"`
	// Window is the alarm window as a fraction of the interval:
	// setWindow(now + I/2, I/2) fires in [I/2, I], Window 0.5.
	Window float64 `param:"window"`
}

// DefaultMicroG returns microG's constants.
func DefaultMicroG() MicroGConfig {
	return MicroGConfig{Start: 300 * time.Second, Min: 5 * time.Minute, Max: 30 * time.Minute,
		FailFactor: 0.95, SuccessFactor: 1.02, NearFull: 0.75, Window: 0.5}
}

// MicroG learns one interval per network class (Network.Kind: mobile,
// wifi, roaming, other), kept across connections.
type MicroG struct {
	c      MicroGConfig
	learnt map[string]time.Duration
	cur    string
}

// NewMicroG returns the "fcm-microg" strategy.
func NewMicroG(c MicroGConfig) (*MicroG, error) {
	const n = "fcm-microg"
	if err := firstErr(positive(n, "start", c.Start), positive(n, "min", c.Min), positive(n, "max", c.Max),
		fraction(n, "fail_factor", c.FailFactor, 0.01, 1), fraction(n, "success_factor", c.SuccessFactor, 1, 10),
		fraction(n, "near_full", c.NearFull, 0, 1), fraction(n, "window", c.Window, 0, 1)); err != nil {
		return nil, err
	}
	if c.Min > c.Max {
		return nil, errorf(n, "min = %v exceeds max = %v", c.Min, c.Max)
	}
	return &MicroG{c: c, learnt: map[string]time.Duration{}}, nil
}

// Name implements Strategy.
func (*MicroG) Name() string { return "fcm-microg" }

// Connected implements Strategy.
func (m *MicroG) Connected(_ time.Time, n Network) { m.cur = n.Kind }

// Disconnected implements Strategy: the learned value is kept.
func (*MicroG) Disconnected(time.Time) {}

// Interval implements Strategy: the learned value for the current class.
func (m *MicroG) Interval() time.Duration {
	if v, ok := m.learnt[m.cur]; ok {
		return v
	}
	return m.clamp(m.c.Start)
}

func (m *MicroG) clamp(d time.Duration) time.Duration { return min(max(d, m.c.Min), m.c.Max) }

// Next implements Strategy: setWindow fires in [(1-Window)·I, I].
func (m *MicroG) Next(time.Time) (Alarm, bool) {
	i := m.Interval()
	return Alarm{Earliest: i - time.Duration(m.c.Window*float64(i)), Latest: i}, true
}

// AckTimeout implements Strategy. microG declares the connection dead when
// no ack came within 2·I of the last one; with the heartbeat sent at most
// I after that ack, waiting I for this ack approximates that rule.
func (m *MicroG) AckTimeout() time.Duration { return m.Interval() }

// Succeeded implements Strategy: ×SuccessFactor when the connection had
// been idle for more than NearFull of the interval.
func (m *MicroG) Succeeded(_ time.Time, idle time.Duration) {
	i := m.Interval()
	if float64(idle) > m.c.NearFull*float64(i) {
		m.learnt[m.cur] = m.clamp(time.Duration(float64(i) * m.c.SuccessFactor))
	} else {
		m.learnt[m.cur] = i
	}
}

// Failed implements Strategy: ×FailFactor.
func (m *MicroG) Failed(time.Time, time.Duration) {
	m.learnt[m.cur] = m.clamp(time.Duration(float64(m.Interval()) * m.c.FailFactor))
}

// TCP implements Strategy.
func (*MicroG) TCP() (TCPKeepAlive, bool) { return TCPKeepAlive{}, false }
