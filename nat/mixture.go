package nat

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Mixture is a named population of NAT behaviours: a device group drawn
// from it is spread over many NATs in the given proportions.
type Mixture struct {
	Name        string
	Description string
	// Sources and Assumptions as in PresetInfo (research notes section 3.6).
	Sources     []string
	Assumptions []string
	Components  []MixtureComponent
}

// MixtureComponent is one behaviour and its weight in a Mixture.
type MixtureComponent struct {
	// Label names the component in results ("tcp-300s").
	Label string
	// Weight is the component's share; weights need not sum to 1.
	Weight float64
	// Preset is the base preset.
	Preset string
	// TCPEstablished and UDPInitial override the preset when non-zero.
	TCPEstablished time.Duration
	UDPInitial     time.Duration
}

// Config returns the component's configuration.
func (c MixtureComponent) Config() Config {
	cfg := Preset(c.Preset)
	if c.TCPEstablished > 0 {
		cfg.TCP.Established = c.TCPEstablished
	}
	if c.UDPInitial > 0 {
		cfg.UDP.Initial = c.UDPInitial
		cfg.UDP.Established = max(cfg.UDP.Established, c.UDPInitial)
	}
	cfg.Name = c.Label
	return cfg
}

// Sample draws one component with probability proportional to its weight
// from rng (seeded by the caller: the same seed gives the same draws).
func (m Mixture) Sample(rng *rand.Rand) MixtureComponent {
	total := 0.0
	for _, c := range m.Components {
		total += c.Weight
	}
	x := rng.Float64() * total
	for _, c := range m.Components {
		if x < c.Weight {
			return c
		}
		x -= c.Weight
	}
	return m.Components[len(m.Components)-1]
}

var mixtures = []Mixture{
	{
		Name:        "cellular-2011",
		Description: "TCP idle timeouts of US and worldwide cellular carriers, 2011.",
		Sources:     []string{"NetPiculet, SIGCOMM 2011, secondary counts: 4/73 carriers <= 5 min, 11/73 < 10 min, one RSTs at 255 s [S]"},
		Assumptions: []string{"the split of the carriers above 10 min between 30 and 60 min", "the base presets (carrier-aggressive-rst, carrier-aggressive, carrier-30min)"},
		Components: []MixtureComponent{
			{Label: "tcp-255s-rst", Weight: 0.014, Preset: "carrier-aggressive-rst", TCPEstablished: 255 * sec},
			{Label: "tcp-300s", Weight: 0.04, Preset: "carrier-aggressive", TCPEstablished: 300 * sec},
			{Label: "tcp-600s", Weight: 0.10, Preset: "carrier-aggressive", TCPEstablished: 600 * sec},
			{Label: "tcp-1800s", Weight: 0.45, Preset: "carrier-30min", TCPEstablished: 1800 * sec},
			{Label: "tcp-3600s", Weight: 0.40, Preset: "carrier-30min", TCPEstablished: 3600 * sec},
		},
	},
	{
		Name:        "cn-mobile-2014",
		Description: "Chinese and other mobile networks in the WeChat team's 2014 table.",
		Sources:     []string{"WeChat carrier NAT-timeout table (~2014): 2 of 5 networks at 5 min, the rest > 28 min [S]"},
		Assumptions: []string{"the > 28 min networks are modelled at 1800 s with carrier-30min"},
		Components: []MixtureComponent{
			{Label: "tcp-300s", Weight: 0.4, Preset: "carrier-aggressive", TCPEstablished: 300 * sec},
			{Label: "tcp-1800s", Weight: 0.6, Preset: "carrier-30min", TCPEstablished: 1800 * sec},
		},
	},
	{
		Name:        "home-gw-udp-2010",
		Description: "Home gateways' single-packet (unreplied) UDP binding timeouts.",
		Sources:     []string{"Hätönen et al., IMC 2010: UDP-1 minimum 30 s, almost all below the IETF recommendation"},
		Assumptions: []string{"all weights", "the base preset home-router-openwrt"},
		Components: []MixtureComponent{
			{Label: "udp-30s", Weight: 0.15, Preset: "home-router-openwrt", UDPInitial: 30 * sec},
			{Label: "udp-60s", Weight: 0.35, Preset: "home-router-openwrt", UDPInitial: 60 * sec},
			{Label: "udp-120s", Weight: 0.3, Preset: "home-router-openwrt", UDPInitial: 120 * sec},
			{Label: "udp-300s", Weight: 0.2, Preset: "home-router-openwrt", UDPInitial: 300 * sec},
		},
	},
}

// LookupMixture returns the named mixture.
func LookupMixture(name string) (Mixture, error) {
	for _, m := range mixtures {
		if m.Name == name {
			m.Components = slices.Clone(m.Components)
			return m, nil
		}
	}
	if d := DidYouMean(NearestMixtures(name)); d != "" {
		return Mixture{}, fmt.Errorf("nat: unknown mixture %q%s", name, d)
	}
	return Mixture{}, fmt.Errorf("nat: unknown mixture %q (see nat.Mixtures)", name)
}

// Mixtures lists every mixture.
func Mixtures() []Mixture {
	out := make([]Mixture, len(mixtures))
	for i, m := range mixtures {
		m.Components = slices.Clone(m.Components)
		out[i] = m
	}
	return out
}
