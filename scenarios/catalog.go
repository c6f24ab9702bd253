package scenarios

import "slices"

// Catalog answers the loader's questions about names defined elsewhere in
// natsim: NAT presets and mixtures (package nat), keep-alive strategies and
// their parameters (sim/strategy) and radio presets (sim/radio). The
// harness passes one built from the live registries; [DefaultCatalog] is a
// static stand-in.
type Catalog interface {
	// NATPreset reports whether name is a NAT preset.
	NATPreset(name string) bool
	// NATMixture reports whether name is a mixture of NAT presets.
	NATMixture(name string) bool
	// Radio reports whether name is a radio energy preset.
	Radio(name string) bool
	// Strategy reports whether name is a keep-alive strategy and which
	// parameters it accepts.
	Strategy(name string) (params []Param, ok bool)
}

// Param describes one parameter a strategy accepts.
type Param struct {
	// Name is the key in the scenario file, e.g. "interval".
	Name string
	// Kind is the parameter's type.
	Kind ParamKind
}

// ParamKind is the type of a strategy parameter.
type ParamKind int

// The parameter kinds.
const (
	ParamDuration ParamKind = iota + 1 // a duration with a unit
	ParamInt                           // an integer
	ParamFloat                         // a number
	ParamBool                          // true or false
	ParamString                        // a string
)

// String returns the kind as the loader's messages say it.
func (k ParamKind) String() string {
	switch k {
	case ParamDuration:
		return "duration"
	case ParamInt:
		return "integer"
	case ParamFloat:
		return "number"
	case ParamBool:
		return "boolean"
	case ParamString:
		return "string"
	}
	return "unknown"
}

// StaticCatalog is a Catalog made of fixed lists.
type StaticCatalog struct {
	// NATPresets are the NAT preset names.
	NATPresets []string
	// NATMixtures are the NAT mixture names.
	NATMixtures []string
	// Radios are the radio preset names.
	Radios []string
	// Strategies maps strategy names to the parameters they accept.
	Strategies map[string][]Param
}

// NATPreset implements Catalog.
func (c *StaticCatalog) NATPreset(name string) bool { return slices.Contains(c.NATPresets, name) }

// NATMixture implements Catalog.
func (c *StaticCatalog) NATMixture(name string) bool { return slices.Contains(c.NATMixtures, name) }

// Radio implements Catalog.
func (c *StaticCatalog) Radio(name string) bool { return slices.Contains(c.Radios, name) }

// Strategy implements Catalog.
func (c *StaticCatalog) Strategy(name string) ([]Param, bool) {
	p, ok := c.Strategies[name]
	return p, ok
}

func durations(names ...string) []Param {
	p := make([]Param, len(names))
	for i, n := range names {
		p[i] = Param{Name: n, Kind: ParamDuration}
	}
	return p
}

// DefaultCatalog returns the names the nat, sim/strategy and sim/radio
// packages were specified with, so that `natsim validate` works on its own.
// The harness replaces it with a catalog answered by the live registries;
// keep the two in step until then. Strategy parameters not listed here are
// rejected; every parameter is optional (the strategy has defaults).
func DefaultCatalog() *StaticCatalog {
	return &StaticCatalog{
		NATPresets: []string{
			"rfc-compliant", "linux-conntrack", "home-router-openwrt",
			"home-router-short", "home-router-bad", "cgnat-typical",
			"cgnat-pba-tight", "carrier-30min", "carrier-aggressive",
			"carrier-aggressive-rst", "carrier-lenient", "enterprise-fw",
			"lb-f5-fastl4", "cloud-aws", "cloud-azure", "cloud-gcp",
			"nat444-typical",
		},
		NATMixtures: []string{"cellular-2011", "cn-mobile-2014", "home-gw-udp-2010"},
		Radios: []string{
			"lte-huang2012", "lte-aro", "umts-inspire", "umts-captivate",
			"wifi-psm", "nr-nsa",
		},
		Strategies: map[string][]Param{
			"none": nil,
			// One application keep-alive every interval; dead after
			// ack_timeout without an answer.
			"fixed": durations("interval", "ack_timeout"),
			// Kernel TCP keep-alive only (facts 4.6).
			"tcp-keepalive": append(durations("idle", "interval"), Param{"count", ParamInt}),
			// Chromium heartbeat_manager.cc: 15 min Wi-Fi, 28 min cellular,
			// ack 60 s (facts 4.2).
			"gcm-legacy": durations("wifi_interval", "cell_interval", "ack_timeout"),
			// microG GcmPrefs: start 5 min, clamp [5, 30] min, x0.95 / x1.02.
			"fcm-microg": append(durations("initial", "min", "max"),
				Param{"fail_factor", ParamFloat}, Param{"success_factor", ParamFloat}),
			// Tencent Mars smart_heartbeat.cc (facts 4.3).
			"wechat-smart": append(durations("min", "max", "step", "success_step", "ack_timeout"),
				Param{"fail_count", ParamInt}, Param{"success_count", ParamInt}),
			// PersistentConnection model (facts 4.1; constants assumed).
			"apns-model": append(durations("min", "initial", "max_wifi", "initial_step",
				"refined_step", "avoid_from", "avoid_to", "ack_timeout"),
				Param{"backoff", ParamFloat}, Param{"early_fire", ParamFloat}),
			// Telegram push connection: 180 s ping, 30 s response, server 420 s.
			"telegram": durations("interval", "ack_timeout", "server_disconnect"),
			// Signal WebSocket keep-alive: 30 s foreground, 60 s background.
			"signal": append(durations("interval", "foreground_interval", "ack_timeout"),
				Param{"foreground", ParamBool}),
			// RFC 5780-style bisection of the NAT timeout (creytiv/re).
			"adaptive-bisect": durations("initial", "min", "max", "ack_timeout"),
		},
	}
}
