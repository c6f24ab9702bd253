package scenarios

import "github.com/natsim/natsim/nat"

// MaxPublicAddresses is the largest public address pool a NAT layer may
// have (the nat package's limit).
const MaxPublicAddresses = 1 << 16

// NATSuggester is implemented by a Catalog that can name the NAT presets
// and mixtures nearest to an unknown name, for "did you mean" errors.
type NATSuggester interface {
	// NearestNATPresets returns the preset names nearest to name, best first.
	NearestNATPresets(name string) []string
	// NearestNATMixtures returns the mixture names nearest to name, best first.
	NearestNATMixtures(name string) []string
}

// NearestNATPresets implements NATSuggester.
func (Registries) NearestNATPresets(name string) []string { return nat.NearestPresets(name) }

// NearestNATMixtures implements NATSuggester.
func (Registries) NearestNATMixtures(name string) []string { return nat.NearestMixtures(name) }

func (v *validator) nearNATPresets(name string) string {
	if s, ok := v.cat.(NATSuggester); ok {
		return nat.DidYouMean(s.NearestNATPresets(name))
	}
	return ""
}

func (v *validator) nearNATMixtures(name string) string {
	if s, ok := v.cat.(NATSuggester); ok {
		return nat.DidYouMean(s.NearestNATMixtures(name))
	}
	return ""
}

// publicAddresses checks a layer's public_addresses: a pool size for a
// shared layer only (a per-device layer's one public address is the
// device's own outside address).
func (v *validator) publicAddresses(lp string, l *NATLayer) {
	p := lp + ".public_addresses"
	if !v.src.has(p) {
		return
	}
	switch {
	case l.PublicAddresses < 1:
		v.errorf(p, "must be at least 1, got %d", l.PublicAddresses)
	case l.PublicAddresses > MaxPublicAddresses:
		v.errorf(p, "%d addresses, at most %d", l.PublicAddresses, MaxPublicAddresses)
	case l.Scope == ScopePerDevice:
		v.errorf(p, "applies to a shared layer only; a per-device layer has one public address per device")
	}
}
