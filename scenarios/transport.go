package scenarios

import (
	"fmt"
	"slices"
	"time"
)

// TransportName names the transport a group's push connection runs on.
type TransportName string

// The transports.
const (
	// TransportTCP is TCP with the group's TLS cost model (the default).
	TransportTCP TransportName = "tcp"
	// TransportQUIC is QUIC (RFC 9000) on UDP, TLS inside its handshake,
	// keep-alives as PING frames; see docs/quic.md.
	TransportQUIC TransportName = "quic"
)

// QUIC defaults and bounds (sim/quic's; repeated here so the scenario
// layer does not import the engine).
const (
	// DefaultQUICIdleTimeout is the max_idle_timeout both sides announce
	// unless set: 30 s, as Go's x/net/quic and quic-go (RFC 9000 §10.1).
	DefaultQUICIdleTimeout = 30 * time.Second
	// MinQUICIdleTimeout and MaxQUICIdleTimeout bound idle_timeout and
	// server_idle_timeout.
	MinQUICIdleTimeout = time.Second
	MaxQUICIdleTimeout = time.Hour
)

// Transport is the transport of a group's push connection, written
// inline: {name: quic, idle_timeout: 30s}. The QUIC fields are only
// allowed (and only defaulted) when name is quic.
type Transport struct {
	// Name is "tcp" (default) or "quic".
	Name TransportName `yaml:"name" jsonschema:"enum=tcp,enum=quic"`
	// IdleTimeout is the max_idle_timeout the device announces (QUIC).
	// Default 30s. The effective idle timeout is the smaller of the two
	// sides' values.
	IdleTimeout time.Duration `yaml:"idle_timeout,omitempty"`
	// ServerIdleTimeout is the max_idle_timeout the server announces to
	// this group (QUIC). Default 30s.
	ServerIdleTimeout time.Duration `yaml:"server_idle_timeout,omitempty"`
	// ZeroRTT: reconnects resume the TLS session with 0-RTT, so MQTT
	// CONNECT travels with the first flight (QUIC). Default true.
	ZeroRTT *bool `yaml:"zero_rtt,omitempty"`
	// Migration: the server follows a NAT rebinding (path validation, then
	// it sends to the new address). false keeps sending to the old
	// address, as the haproxy #3329 server did (QUIC). Default true.
	Migration *bool `yaml:"migration,omitempty"`
}

// Effective returns the connection's idle timeout: the smaller of both
// sides' (RFC 9000 §10.1). Zero for TCP.
func (t *Transport) Effective() time.Duration {
	if t.Name != TransportQUIC {
		return 0
	}
	return min(t.IdleTimeout, t.ServerIdleTimeout)
}

// usesQUIC reports whether a connection of the group's devices runs on
// QUIC: the group's own, or an own app's.
func (g *Group) usesQUIC() bool {
	if g.Transport.Name == TransportQUIC {
		return true
	}
	for _, a := range g.Apps {
		if a.Connection == AppOwn && a.Transport != nil && a.Transport.Name == TransportQUIC {
			return true
		}
	}
	return false
}

// tcpKeepAliveStrategy is the strategy that keeps alive with TCP
// keep-alive only (sim/strategy.NewTCPOnly).
const tcpKeepAliveStrategy = "tcp-keepalive"

// quicFields are the transport fields only QUIC takes.
var quicFields = []string{"idle_timeout", "server_idle_timeout", "zero_rtt", "migration"}

func (t *Transport) applyDefaults(has func(string) bool, p string) {
	if !has(p + ".name") {
		t.Name = TransportTCP
	}
	if t.Name != TransportQUIC {
		return
	}
	if !has(p + ".idle_timeout") {
		t.IdleTimeout = DefaultQUICIdleTimeout
	}
	if !has(p + ".server_idle_timeout") {
		t.ServerIdleTimeout = DefaultQUICIdleTimeout
	}
	yes := true
	if t.ZeroRTT == nil {
		t.ZeroRTT = &yes
	}
	if t.Migration == nil {
		t.Migration = &yes
	}
}

// transport checks a group's transport; p is the group's path.
func (v *validator) transport(p string, g *Group, s *Scenario) {
	if !v.transportSettings(p+".transport", &g.Transport, s) || g.Transport.Name != TransportQUIC {
		return
	}
	if g.Strategy.Name == tcpKeepAliveStrategy {
		v.errorf(p+".strategy.name", "%s keeps alive with TCP keep-alive, which a quic group does not have; use an application strategy (its interval is the PING interval)", tcpKeepAliveStrategy)
	}
	if g.TLS != (TLSCost{}) && !g.hasOwnTCPApp() {
		v.errorf(p+".tls", "a quic group's TLS handshake is part of QUIC's; remove tls (it applies only to an own app on tcp)")
	}
	v.quicKeepAliveWarning(p+".strategy", &g.Strategy, g.Transport.Effective())
}

// transportSettings checks transport t written at tp (a group's or an
// app's); false when its name is unknown.
func (v *validator) transportSettings(tp string, t *Transport, s *Scenario) bool {
	switch t.Name {
	case TransportTCP:
		for _, f := range quicFields {
			if v.src.has(tp + "." + f) {
				v.errorf(tp+"."+f, "is a QUIC parameter; this transport is tcp (set name: quic)")
			}
		}
		return true
	case TransportQUIC:
	default:
		v.errorf(tp+".name", "unknown transport %q (tcp or quic)", t.Name)
		return false
	}
	if s.Server.External != "" {
		v.errorf(tp+".name", "quic needs the built-in server; server.external speaks MQTT over TCP")
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"idle_timeout", t.IdleTimeout}, {"server_idle_timeout", t.ServerIdleTimeout}} {
		if f.d < MinQUICIdleTimeout || f.d > MaxQUICIdleTimeout {
			v.errorf(tp+"."+f.name, "must be in [%s,%s], got %s", FormatDuration(MinQUICIdleTimeout), FormatDuration(MaxQUICIdleTimeout), FormatDuration(f.d))
		}
	}
	return true
}

// quicKeepAliveWarning warns when strategy st's (written at path)
// keep-alive interval is at or above idle, the effective QUIC idle
// timeout: the connection closes between two PINGs.
func (v *validator) quicKeepAliveWarning(path string, st *Strategy, idle time.Duration) {
	params, ok := v.cat.Strategy(st.Name)
	if !ok || idle <= 0 {
		return
	}
	i := slices.IndexFunc(params, func(x Param) bool { return x.Name == "interval" })
	if i < 0 {
		return
	}
	var iv time.Duration
	if r, ok := st.Params["interval"]; ok {
		var s string
		if r.Decode(&s) != nil {
			return
		}
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		iv, path = d, path+".interval"
	} else {
		d, err := ParseDuration(params[i].Default)
		if err != nil {
			return
		}
		iv = d
	}
	if iv >= idle {
		v.warnings = append(v.warnings, &Error{Pos: v.src.at(path), Path: path,
			Msg: fmt.Sprintf("warning: keep-alive interval %s is at or above the effective QUIC idle timeout %s (the smaller of idle_timeout and server_idle_timeout): the connection closes between keep-alives",
				FormatDuration(iv), FormatDuration(idle))})
	}
}

// Warnings returns what the loader found doubtful but not wrong, with
// positions, in file order.
func (s *Scenario) Warnings() []*Error { return s.warnings }

// hasOwnTCPApp reports whether one of the group's apps has its own
// connection on TCP: the group's tls is then that connection's, whatever
// the group's own transport.
func (g *Group) hasOwnTCPApp() bool {
	for i := range g.Apps {
		a := &g.Apps[i]
		if a.Connection == AppOwn && a.Transport != nil && a.Transport.Name == TransportTCP {
			return true
		}
	}
	return false
}
