package strategy

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// Params are a strategy's parameters by snake_case name, as a scenario
// file gives them. A duration is a time.Duration, a Go duration string
// ("4m30s") or a number of seconds; other values are numbers, booleans or
// strings. Parameters left out keep the preset's documented default.
type Params map[string]any

// Factory builds a strategy from parameters. rng is the device's seeded
// source; strategies that draw no randomness accept nil.
type Factory func(p Params, rng *rand.Rand) (Strategy, error)

// Preset is a named strategy: its factory, a one-line summary and the
// source its behaviour and defaults come from.
type Preset struct {
	// Name is the name scenarios use.
	Name string
	// Summary says what the strategy does, in a line.
	Summary string
	// Source cites where the behaviour and defaults come from.
	Source string
	// New builds an instance.
	New Factory
	// Config is the value of the configuration struct New decodes
	// parameters onto, with the preset's defaults; its `param`-tagged
	// fields are the parameters the preset accepts (see Params). Nil when
	// the preset documents no parameters.
	Config any
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

// String returns the kind as error messages and listings say it.
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

// Param describes one parameter a strategy preset accepts.
type Param struct {
	// Name is the key in a scenario file, e.g. "interval".
	Name string
	// Kind is the parameter's type.
	Kind ParamKind
	// Default is the preset's default value, formatted for listings.
	Default string
}

// Params lists the parameters of p, sorted by name, read from the
// `param` tags of p.Config.
func (p Preset) Params() []Param {
	if p.Config == nil {
		return nil
	}
	v := reflect.ValueOf(p.Config)
	if v.Kind() != reflect.Struct {
		return nil
	}
	t := v.Type()
	var out []Param
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("param")
		if name == "" {
			continue
		}
		k := ParamString
		switch {
		case f.Type == durationType:
			k = ParamDuration
		case f.Type.Kind() == reflect.Int:
			k = ParamInt
		case f.Type.Kind() == reflect.Float64:
			k = ParamFloat
		case f.Type.Kind() == reflect.Bool:
			k = ParamBool
		}
		def := fmt.Sprint(v.Field(i).Interface())
		if k == ParamDuration {
			def = shortDuration(v.Field(i).Interface().(time.Duration))
		}
		out = append(out, Param{Name: name, Kind: k, Default: def})
	}
	slices.SortFunc(out, func(a, b Param) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// shortDuration formats d without zero trailing units: "5m", "2h4m", "1h".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Lookup returns the preset registered as name.
func Lookup(name string) (Preset, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	p, ok := registry[name]
	return p, ok
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Preset{}
)

func init() {
	for _, p := range builtins() {
		registry[p.Name] = p
	}
}

// Register adds a strategy under p.Name so scenarios can name it. It fails
// when the name is empty or taken, or the factory is nil.
func Register(p Preset) error {
	if p.Name == "" {
		return fmt.Errorf("strategy: Register: empty Name")
	}
	if p.New == nil {
		return fmt.Errorf("strategy: Register %q: nil New", p.Name)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, ok := registry[p.Name]; ok {
		return fmt.Errorf("strategy: Register %q: name already registered", p.Name)
	}
	registry[p.Name] = p
	return nil
}

// New builds the strategy registered as name with params over its
// defaults, drawing randomness (if any) from rng.
func New(name string, params Params, rng *rand.Rand) (Strategy, error) {
	registryMu.RLock()
	p, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("strategy: unknown strategy %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return p.New(params, rng)
}

// Names returns the registered names, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Presets returns the registered presets, sorted by name.
func Presets() []Preset {
	names := Names()
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]Preset, 0, len(names))
	for _, n := range names {
		out = append(out, registry[n])
	}
	return out
}

// Decode sets the fields of the struct dst points to from p, matching each
// key with a field's `param:"name"` tag. Unknown keys and values of the
// wrong type are errors that name the strategy and the key. Custom
// strategies can use it for their own configuration structs.
func Decode(strategy string, p Params, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("strategy %q: Decode needs a pointer to a struct, got %T", strategy, dst)
	}
	v = v.Elem()
	fields := map[string]reflect.Value{}
	var known []string
	for i := 0; i < v.NumField(); i++ {
		if tag := v.Type().Field(i).Tag.Get("param"); tag != "" {
			fields[tag] = v.Field(i)
			known = append(known, tag)
		}
	}
	slices.Sort(known)
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f, ok := fields[k]
		if !ok {
			return fmt.Errorf("strategy %q: unknown parameter %q (known: %s)", strategy, k, strings.Join(known, ", "))
		}
		if err := setParam(f, p[k]); err != nil {
			return fmt.Errorf("strategy %q: parameter %q: %w", strategy, k, err)
		}
	}
	return nil
}

var durationType = reflect.TypeFor[time.Duration]()

func setParam(f reflect.Value, x any) error {
	if f.Type() == durationType {
		d, err := toDuration(x)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.Float64:
		n, ok := toFloat(x)
		if !ok {
			return fmt.Errorf("want a number, got %v (%T)", x, x)
		}
		f.SetFloat(n)
	case reflect.Int:
		n, ok := toFloat(x)
		if !ok || n != float64(int64(n)) {
			return fmt.Errorf("want an integer, got %v (%T)", x, x)
		}
		f.SetInt(int64(n))
	case reflect.Bool:
		b, ok := x.(bool)
		if !ok {
			return fmt.Errorf("want true or false, got %v (%T)", x, x)
		}
		f.SetBool(b)
	case reflect.String:
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("want a string, got %v (%T)", x, x)
		}
		f.SetString(s)
	default:
		return fmt.Errorf("unsupported field type %s", f.Type())
	}
	return nil
}

func toFloat(x any) (float64, bool) {
	switch n := x.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func toDuration(x any) (time.Duration, error) {
	switch d := x.(type) {
	case time.Duration:
		return d, nil
	case string:
		v, err := time.ParseDuration(d)
		if err != nil {
			return 0, fmt.Errorf("want a duration such as \"4m30s\": %w", err)
		}
		return v, nil
	}
	if s, ok := toFloat(x); ok {
		return time.Duration(s * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("want a duration or a number of seconds, got %v (%T)", x, x)
}

// positive and friends build the validation errors every config uses.
func positive(strategy, field string, d time.Duration) error {
	if d <= 0 {
		return errorf(strategy, "%s = %v must be positive", field, d)
	}
	return nil
}

func fraction(strategy, field string, f float64, lo, hi float64) error {
	if !(f >= lo && f <= hi) {
		return errorf(strategy, "%s = %v must be in [%v, %v]", field, f, lo, hi)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// isWiFi says whether a network kind is Wi-Fi class (Chromium treats
// Ethernet like Wi-Fi; Apple's Wi-Fi interface).
func isWiFi(n Network) bool { return n.Kind == "wifi" || n.Kind == "ethernet" }

// Foregrounder is implemented by strategies whose interval depends on
// whether the app is in the foreground (Signal, WeChat). The push client
// calls it when the app changes state; strategies start in the background.
type Foregrounder interface {
	SetForeground(now time.Time, foreground bool)
}

// KeepAliveSender is implemented by strategies that must know when a
// keep-alive actually goes out, not only when Next scheduled it: Tencent
// Mars counts a heartbeat as awaiting its answer from OnHeartbeatStart, so
// a connection lost between heartbeats is not a failed heartbeat. The push
// client calls KeepAliveSent as it writes the keep-alive.
type KeepAliveSender interface {
	KeepAliveSent(now time.Time)
}

func errorf(strategy, format string, args ...any) error {
	return fmt.Errorf("strategy %q: "+format, append([]any{strategy}, args...)...)
}
