package harness

import (
	"reflect"
	"slices"
	"time"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/scenarios"
	"github.com/natsim/natsim/sim/radio"
	"github.com/natsim/natsim/sim/strategy"
)

// Catalog answers the scenario loader's questions from the live registries
// of packages nat, sim/strategy and sim/radio. Its zero value is ready to
// use.
type Catalog struct{}

var _ scenarios.Catalog = Catalog{}

// NATPreset implements scenarios.Catalog.
func (Catalog) NATPreset(name string) bool {
	for _, p := range nat.Presets() {
		if p.Name == name {
			return true
		}
	}
	return false
}

// NATMixture implements scenarios.Catalog.
func (Catalog) NATMixture(name string) bool {
	_, err := nat.LookupMixture(name)
	return err == nil
}

// Radio implements scenarios.Catalog. "auto" and "none" are always known.
func (Catalog) Radio(name string) bool {
	if name == "auto" || name == "none" {
		return true
	}
	return slices.Contains(radio.PresetNames(), name)
}

// Strategy implements scenarios.Catalog: the parameters are read from the
// `param` tags of the strategy's configuration struct.
func (Catalog) Strategy(name string) ([]scenarios.Param, bool) {
	if !slices.Contains(strategy.Names(), name) {
		return nil, false
	}
	cfg, ok := strategyConfigs[name]
	if !ok {
		// A strategy registered later: fall back to the format's list.
		return scenarios.DefaultCatalog().Strategy(name)
	}
	return paramsOf(cfg), true
}

// strategyConfigs maps the built-in strategies to their configuration
// structs (sim/strategy's registry decodes parameters onto them).
var strategyConfigs = map[string]any{
	"none":            struct{}{},
	"fixed":           strategy.FixedConfig{},
	"telegram":        strategy.FixedConfig{},
	"signal":          strategy.SignalConfig{},
	"tcp-keepalive":   strategy.TCPConfig{},
	"gcm-legacy":      strategy.GCMConfig{},
	"fcm-microg":      strategy.MicroGConfig{},
	"wechat-smart":    strategy.WeChatConfig{},
	"apns-model":      strategy.APNSConfig{},
	"adaptive-bisect": strategy.BisectConfig{},
}

var durationType = reflect.TypeFor[time.Duration]()

func paramsOf(cfg any) []scenarios.Param {
	t := reflect.TypeOf(cfg)
	var out []scenarios.Param
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("param")
		if tag == "" {
			continue
		}
		var k scenarios.ParamKind
		switch {
		case f.Type == durationType:
			k = scenarios.ParamDuration
		case f.Type.Kind() == reflect.Int:
			k = scenarios.ParamInt
		case f.Type.Kind() == reflect.Float64:
			k = scenarios.ParamFloat
		case f.Type.Kind() == reflect.Bool:
			k = scenarios.ParamBool
		default:
			k = scenarios.ParamString
		}
		out = append(out, scenarios.Param{Name: tag, Kind: k})
	}
	slices.SortFunc(out, func(a, b scenarios.Param) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// StrategyParams lists the parameters of a strategy, for listings.
func StrategyParams(name string) []scenarios.Param {
	p, _ := Catalog{}.Strategy(name)
	return p
}

// Loader returns a scenario loader checking names against the live
// registries, with sets as --set overrides.
func Loader(sets []string) *scenarios.Loader {
	return &scenarios.Loader{Catalog: Catalog{}, Sets: sets}
}
