package scenarios

import (
	"slices"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/sim/radio"
	"github.com/natsim/natsim/sim/strategy"
)

// Catalog answers the loader's questions about names defined elsewhere in
// natsim: NAT presets and mixtures (package nat), keep-alive strategies and
// their parameters (sim/strategy) and radio presets (sim/radio).
// [Registries] answers them from those packages' live registries, so a
// strategy registered in Go is known to the loader too; a test can pass a
// [StaticCatalog] to pin the names.
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

// Param describes one parameter a strategy accepts; it is the strategy
// registry's own description.
type Param = strategy.Param

// ParamKind is the type of a strategy parameter.
type ParamKind = strategy.ParamKind

// The parameter kinds.
const (
	ParamDuration = strategy.ParamDuration
	ParamInt      = strategy.ParamInt
	ParamFloat    = strategy.ParamFloat
	ParamBool     = strategy.ParamBool
	ParamString   = strategy.ParamString
)

// Registries is the Catalog backed by the live registries of packages nat,
// sim/strategy and sim/radio. Its zero value is ready to use; the loader
// uses it when none is given.
type Registries struct{}

// NATPreset implements Catalog.
func (Registries) NATPreset(name string) bool {
	_, err := nat.LookupPreset(name)
	return err == nil
}

// NATMixture implements Catalog.
func (Registries) NATMixture(name string) bool {
	_, err := nat.LookupMixture(name)
	return err == nil
}

// Radio implements Catalog.
func (Registries) Radio(name string) bool {
	return slices.Contains(radio.PresetNames(), name)
}

// Strategy implements Catalog.
func (Registries) Strategy(name string) ([]Param, bool) {
	p, ok := strategy.Lookup(name)
	if !ok {
		return nil, false
	}
	return p.Params(), true
}

// StaticCatalog is a Catalog made of fixed lists, for tests that pin the
// names they validate against.
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
