package strategy

import (
	"math/rand/v2"
	"time"
)

// None sends no application keep-alives and sets no TCP keep-alive: the
// connection relies on TCP alone (retransmissions when data is sent).
type None struct{}

// NewNone returns the "none" strategy.
func NewNone() *None { return &None{} }

// Name implements Strategy.
func (*None) Name() string { return "none" }

// Connected implements Strategy.
func (*None) Connected(time.Time, Network) {}

// Disconnected implements Strategy.
func (*None) Disconnected(time.Time) {}

// Next implements Strategy: there is never a keep-alive.
func (*None) Next(time.Time) (Alarm, bool) { return Alarm{}, false }

// AckTimeout implements Strategy.
func (*None) AckTimeout() time.Duration { return 0 }

// Succeeded implements Strategy.
func (*None) Succeeded(time.Time, time.Duration) {}

// Failed implements Strategy.
func (*None) Failed(time.Time, time.Duration) {}

// TCP implements Strategy: no TCP keep-alive.
func (*None) TCP() (TCPKeepAlive, bool) { return TCPKeepAlive{}, false }

// Interval implements Strategy.
func (*None) Interval() time.Duration { return 0 }

// FixedConfig configures a fixed-interval application keep-alive (MQTT
// PINGREQ every Keep Alive period, MQTT 3.1.1 §3.1.2.10).
type FixedConfig struct {
	// Interval between keep-alives. Default 300 s (an MQTT Keep Alive of
	// 300, the facts' mqtt-300 preset).
	Interval time.Duration `param:"interval"`
	// AckTimeout is how long to wait for PINGRESP. Default 30 s, an
	// assumption: MQTT says only "a reasonable amount of time" (facts §4.5,
	// §7.2 "assume 10-30 s").
	AckTimeout time.Duration `param:"ack_timeout"`
	// Jitter widens the alarm to [Interval-Jitter, Interval+Jitter].
	// Default 0 (exact).
	Jitter time.Duration `param:"jitter"`
}

// Fixed sends a keep-alive every Interval and never adapts.
type Fixed struct {
	name string
	c    FixedConfig
}

// DefaultFixed returns the "fixed" defaults.
func DefaultFixed() FixedConfig {
	return FixedConfig{Interval: 300 * time.Second, AckTimeout: 30 * time.Second}
}

// NewFixed returns a fixed-interval strategy named name.
func NewFixed(name string, c FixedConfig) (*Fixed, error) {
	if err := firstErr(positive(name, "interval", c.Interval), positive(name, "ack_timeout", c.AckTimeout)); err != nil {
		return nil, err
	}
	if c.Jitter < 0 || c.Jitter >= c.Interval {
		return nil, errorf(name, "jitter = %v must be in [0, interval)", c.Jitter)
	}
	return &Fixed{name: name, c: c}, nil
}

// Name implements Strategy.
func (f *Fixed) Name() string { return f.name }

// Connected implements Strategy.
func (*Fixed) Connected(time.Time, Network) {}

// Disconnected implements Strategy.
func (*Fixed) Disconnected(time.Time) {}

// Next implements Strategy.
func (f *Fixed) Next(time.Time) (Alarm, bool) {
	return Alarm{Earliest: f.c.Interval - f.c.Jitter, Latest: f.c.Interval + f.c.Jitter}, true
}

// AckTimeout implements Strategy.
func (f *Fixed) AckTimeout() time.Duration { return f.c.AckTimeout }

// Succeeded implements Strategy.
func (*Fixed) Succeeded(time.Time, time.Duration) {}

// Failed implements Strategy.
func (*Fixed) Failed(time.Time, time.Duration) {}

// TCP implements Strategy.
func (*Fixed) TCP() (TCPKeepAlive, bool) { return TCPKeepAlive{}, false }

// Interval implements Strategy.
func (f *Fixed) Interval() time.Duration { return f.c.Interval }

// DefaultTelegram returns Telegram's push-connection settings: a ping
// every 180 s with ±20 ms jitter and a 30 s response timeout (DrKLO/Telegram:TMessagesProj/jni/tgnet/
// ConnectionsManager.cpp, facts §4.4).
func DefaultTelegram() FixedConfig {
	return FixedConfig{Interval: 180 * time.Second, AckTimeout: 30 * time.Second, Jitter: 20 * time.Millisecond}
}

// SignalConfig configures Signal's WebSocket keep-alive (GET
// /v1/keepalive; signalapp/Signal-Android OkHttpWebSocketConnection and
// SignalWebSocketHealthMonitor, facts §4.4).
type SignalConfig struct {
	// Foreground interval, default 30 s.
	Foreground time.Duration `param:"foreground_interval"`
	// Background interval, default 60 s.
	Background time.Duration `param:"background_interval"`
	// AckTimeout is the response timeout, default 20 s.
	AckTimeout time.Duration `param:"ack_timeout"`
	// StartForeground starts the app in the foreground; default false.
	StartForeground bool `param:"foreground"`
}

// DefaultSignal returns the "signal" defaults.
func DefaultSignal() SignalConfig {
	return SignalConfig{Foreground: 30 * time.Second, Background: 60 * time.Second, AckTimeout: 20 * time.Second}
}

// Signal keeps alive every 30 s in the foreground and 60 s in the
// background. It implements Foregrounder.
type Signal struct {
	c  SignalConfig
	fg bool
}

// NewSignal returns the Signal strategy.
func NewSignal(c SignalConfig) (*Signal, error) {
	const n = "signal"
	if err := firstErr(positive(n, "foreground_interval", c.Foreground), positive(n, "background_interval", c.Background),
		positive(n, "ack_timeout", c.AckTimeout)); err != nil {
		return nil, err
	}
	return &Signal{c: c, fg: c.StartForeground}, nil
}

// Name implements Strategy.
func (*Signal) Name() string { return "signal" }

// Connected implements Strategy.
func (*Signal) Connected(time.Time, Network) {}

// Disconnected implements Strategy.
func (*Signal) Disconnected(time.Time) {}

// SetForeground implements Foregrounder.
func (s *Signal) SetForeground(_ time.Time, fg bool) { s.fg = fg }

// Next implements Strategy.
func (s *Signal) Next(time.Time) (Alarm, bool) {
	i := s.Interval()
	return Alarm{Earliest: i, Latest: i}, true
}

// AckTimeout implements Strategy.
func (s *Signal) AckTimeout() time.Duration { return s.c.AckTimeout }

// Succeeded implements Strategy.
func (*Signal) Succeeded(time.Time, time.Duration) {}

// Failed implements Strategy.
func (*Signal) Failed(time.Time, time.Duration) {}

// TCP implements Strategy.
func (*Signal) TCP() (TCPKeepAlive, bool) { return TCPKeepAlive{}, false }

// Interval implements Strategy.
func (s *Signal) Interval() time.Duration {
	if s.fg {
		return s.c.Foreground
	}
	return s.c.Background
}

// TCPConfig configures kernel TCP keep-alive (SO_KEEPALIVE). Defaults are
// Linux's: tcp_keepalive_time 7200 s, tcp_keepalive_intvl 75 s,
// tcp_keepalive_probes 9 (RFC 1122 §4.2.3.6; Linux ip-sysctl; facts §4.6),
// so a dead peer is found 7875 s after the last ACK.
type TCPConfig struct {
	// Idle is TCP_KEEPIDLE: silence before the first probe.
	Idle time.Duration `param:"idle"`
	// Interval is TCP_KEEPINTVL: the gap between unanswered probes.
	Interval time.Duration `param:"interval"`
	// Count is TCP_KEEPCNT: unanswered probes before the connection dies.
	Count int `param:"count"`
}

// DefaultTCP returns the Linux defaults.
func DefaultTCP() TCPConfig {
	return TCPConfig{Idle: 7200 * time.Second, Interval: 75 * time.Second, Count: 9}
}

// TCPOnly sends no application keep-alives and asks for TCP keep-alive on
// the push connection.
type TCPOnly struct{ c TCPConfig }

// NewTCPOnly returns the "tcp-keepalive" strategy.
func NewTCPOnly(c TCPConfig) (*TCPOnly, error) {
	const n = "tcp-keepalive"
	if err := firstErr(positive(n, "idle", c.Idle), positive(n, "interval", c.Interval)); err != nil {
		return nil, err
	}
	if c.Count < 1 {
		return nil, errorf(n, "count = %d must be at least 1", c.Count)
	}
	return &TCPOnly{c: c}, nil
}

// Name implements Strategy.
func (*TCPOnly) Name() string { return "tcp-keepalive" }

// Connected implements Strategy.
func (*TCPOnly) Connected(time.Time, Network) {}

// Disconnected implements Strategy.
func (*TCPOnly) Disconnected(time.Time) {}

// Next implements Strategy: no application keep-alive.
func (*TCPOnly) Next(time.Time) (Alarm, bool) { return Alarm{}, false }

// AckTimeout implements Strategy.
func (*TCPOnly) AckTimeout() time.Duration { return 0 }

// Succeeded implements Strategy.
func (*TCPOnly) Succeeded(time.Time, time.Duration) {}

// Failed implements Strategy.
func (*TCPOnly) Failed(time.Time, time.Duration) {}

// TCP implements Strategy.
func (t *TCPOnly) TCP() (TCPKeepAlive, bool) {
	return TCPKeepAlive{Idle: t.c.Idle, Interval: t.c.Interval, Count: t.c.Count}, true
}

// Interval implements Strategy: the TCP idle time.
func (t *TCPOnly) Interval() time.Duration { return t.c.Idle }

// GCMConfig configures Chromium's GCM heartbeat manager
// (chromium/chromium:google_apis/gcm/engine/heartbeat_manager.cc, facts
// §4.2).
type GCMConfig struct {
	// Cellular is kCellHeartbeatDefaultMs, 28 min (mobile or unknown).
	Cellular time.Duration `param:"cellular_interval"`
	// WiFi is kWifiHeartbeatDefaultMs, 15 min (Wi-Fi and Ethernet).
	WiFi time.Duration `param:"wifi_interval"`
	// AckTimeout is kHeartbeatAckDefaultMs, 60 s.
	AckTimeout time.Duration `param:"ack_timeout"`
	// Server, when positive, is a server-provided interval
	// (HeartbeatConfig.interval_ms) that overrides both defaults.
	Server time.Duration `param:"server_interval"`
}

// DefaultGCM returns Chromium's defaults.
func DefaultGCM() GCMConfig {
	return GCMConfig{Cellular: 28 * time.Minute, WiFi: 15 * time.Minute, AckTimeout: 60 * time.Second}
}

// GCM is the legacy GCM heartbeat: a fixed interval per network class,
// never adapted to failures.
type GCM struct {
	c    GCMConfig
	wifi bool
}

// NewGCM returns the "gcm-legacy" strategy.
func NewGCM(c GCMConfig) (*GCM, error) {
	const n = "gcm-legacy"
	if err := firstErr(positive(n, "cellular_interval", c.Cellular), positive(n, "wifi_interval", c.WiFi),
		positive(n, "ack_timeout", c.AckTimeout)); err != nil {
		return nil, err
	}
	if c.Server < 0 {
		return nil, errorf(n, "server_interval = %v must not be negative", c.Server)
	}
	return &GCM{c: c}, nil
}

// Name implements Strategy.
func (*GCM) Name() string { return "gcm-legacy" }

// Connected implements Strategy.
func (g *GCM) Connected(_ time.Time, n Network) { g.wifi = isWiFi(n) }

// Disconnected implements Strategy.
func (*GCM) Disconnected(time.Time) {}

// Next implements Strategy.
func (g *GCM) Next(time.Time) (Alarm, bool) {
	i := g.Interval()
	return Alarm{Earliest: i, Latest: i}, true
}

// AckTimeout implements Strategy.
func (g *GCM) AckTimeout() time.Duration { return g.c.AckTimeout }

// Succeeded implements Strategy.
func (*GCM) Succeeded(time.Time, time.Duration) {}

// Failed implements Strategy: GCM does not adapt.
func (*GCM) Failed(time.Time, time.Duration) {}

// TCP implements Strategy.
func (*GCM) TCP() (TCPKeepAlive, bool) { return TCPKeepAlive{}, false }

// Interval implements Strategy.
func (g *GCM) Interval() time.Duration {
	switch {
	case g.c.Server > 0:
		return g.c.Server
	case g.wifi:
		return g.c.WiFi
	}
	return g.c.Cellular
}

// builtins lists the presets; each factory decodes params over the
// preset's defaults.
func builtins() []Preset {
	return []Preset{
		preset("none", "no application or TCP keep-alive; rely on TCP alone", "baseline",
			func() struct{} { return struct{}{} },
			func(struct{}, *rand.Rand) (*None, error) { return NewNone(), nil }),
		preset("fixed", "MQTT PINGREQ every interval", "MQTT 3.1.1 §3.1.2.10",
			DefaultFixed, func(c FixedConfig, _ *rand.Rand) (*Fixed, error) { return NewFixed("fixed", c) }),
		preset("telegram", "ping every 180 s (±20 ms), 30 s response timeout", "DrKLO/Telegram ConnectionsManager.cpp",
			DefaultTelegram, func(c FixedConfig, _ *rand.Rand) (*Fixed, error) { return NewFixed("telegram", c) }),
		preset("signal", "WebSocket keep-alive every 30 s foreground / 60 s background, 20 s timeout",
			"signalapp/Signal-Android OkHttpWebSocketConnection", DefaultSignal, noRand(NewSignal)),
		preset("tcp-keepalive", "SO_KEEPALIVE only (Linux 7200/75/9 by default)",
			"RFC 1122 §4.2.3.6; Linux ip-sysctl", DefaultTCP, noRand(NewTCPOnly)),
		preset("gcm-legacy", "28 min cellular / 15 min Wi-Fi, 60 s ack, never adapts",
			"chromium google_apis/gcm/engine/heartbeat_manager.cc", DefaultGCM, noRand(NewGCM)),
		preset("fcm-microg", "learned interval from 300 s, x0.95 on failure, x1.02 on near-full success, [5, 30] min, alarm in [I/2, I]",
			"microg/GmsCore GcmPrefs.java, McsService.java", DefaultMicroG, noRand(NewMicroG)),
		preset("wechat-smart", "smart heartbeat: probe up from 270 s in 60 s steps, back off 80 s after 3 failures, stable state",
			"Tencent/mars mars/stn/src/smart_heartbeat.cc, config.h", DefaultWeChat, noRand(NewWeChat)),
		preset("apns-model", "multi-stage growth per interface, steady state, backoff; early fire [0.75 I, I] (constants partly assumed)",
			"PersistentConnection.framework decompilations (facts §4.1)", DefaultAPNS, NewAPNS),
		preset("adaptive-bisect", "RFC 5780-style search of the NAT timeout: doubling, then bisection",
			"creytiv/re src/natbd/lifetime.c", DefaultBisect, noRand(NewBisect)),
	}
}

// preset makes a Preset whose factory decodes params over a fresh copy of
// the defaults and builds the strategy from the result. The defaults also
// become Preset.Config, which lists the parameters.
func preset[C any, S Strategy](name, summary, source string, defaults func() C, build func(C, *rand.Rand) (S, error)) Preset {
	return Preset{Name: name, Summary: summary, Source: source, Config: defaults(),
		New: func(p Params, rng *rand.Rand) (Strategy, error) {
			c := defaults()
			if err := Decode(name, p, &c); err != nil {
				return nil, err
			}
			s, err := build(c, rng)
			if err != nil {
				// Never return a typed nil pointer inside the interface.
				return nil, err
			}
			return s, nil
		}}
}

// noRand adapts a constructor that draws no randomness to preset's shape.
func noRand[C any, S Strategy](f func(C) (S, error)) func(C, *rand.Rand) (S, error) {
	return func(c C, _ *rand.Rand) (S, error) { return f(c) }
}
