package scenarios

import (
	"encoding/json"
	"reflect"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the generated JSON Schema.
const SchemaID = "https://github.com/natsim/natsim/docs/scenario.schema.json"

// GenerateSchema returns the JSON Schema of scenario files, derived from
// the Go types. srcDir is this package's source directory, whose doc
// comments become descriptions ("" leaves them out). docs/scenario.schema.json
// is its output; `go generate ./scenarios` rewrites it.
func GenerateSchema(srcDir string) ([]byte, error) {
	r := &jsonschema.Reflector{
		FieldNameTag:               "yaml",
		RequiredFromJSONSchemaTags: true,
		AllowAdditionalProperties:  false,
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			if t == durationType {
				return &jsonschema.Schema{
					Type:        "string",
					Pattern:     `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d))+$`,
					Description: "A duration with a unit on every number: 30s, 4m30s, 2h, 1d (24h).",
				}
			}
			return nil
		},
	}
	if srcDir != "" {
		if err := r.AddGoComments("github.com/natsim/natsim/scenarios", srcDir); err != nil {
			return nil, err
		}
	}
	s := r.Reflect(&Scenario{})
	s.ID = SchemaID
	s.Title = "natsim scenario"
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func enumSchema(values ...string) *jsonschema.Schema {
	e := make([]any, len(values))
	for i, v := range values {
		e[i] = v
	}
	return &jsonschema.Schema{Type: "string", Enum: e}
}

// JSONSchema describes Clock in the JSON Schema.
func (Clock) JSONSchema() *jsonschema.Schema { return enumSchema("virtual", "wall") }

// JSONSchema describes OfflinePolicy in the JSON Schema.
func (OfflinePolicy) JSONSchema() *jsonschema.Schema {
	return enumSchema("keep-last", "keep-n", "keep-all")
}

// JSONSchema describes NetworkKind in the JSON Schema.
func (NetworkKind) JSONSchema() *jsonschema.Schema {
	return enumSchema("wifi", "cellular", "ethernet")
}

// JSONSchema describes Scope in the JSON Schema.
func (Scope) JSONSchema() *jsonschema.Schema { return enumSchema("per-device", "shared") }

// JSONSchema describes AlarmModel in the JSON Schema.
func (AlarmModel) JSONSchema() *jsonschema.Schema { return enumSchema("window", "exact") }

// JSONSchema describes BackoffPreset in the JSON Schema.
func (BackoffPreset) JSONSchema() *jsonschema.Schema { return enumSchema("exponential", "microg") }

// JSONSchema describes EventType in the JSON Schema.
func (EventType) JSONSchema() *jsonschema.Schema {
	return enumSchema("nat-reboot", "public-address-change", "link-outage", "handover", "timeout-change", "address-change")
}

// JSONSchema describes LinkName in the JSON Schema.
func (LinkName) JSONSchema() *jsonschema.Schema { return enumSchema("access", "core") }

// JSONSchema describes Op in the JSON Schema.
func (Op) JSONSchema() *jsonschema.Schema { return enumSchema("<", "<=", ">", ">=", "==", "!=") }

// JSONSchema describes Raw (any YAML value) in the JSON Schema.
func (Raw) JSONSchema() *jsonschema.Schema { return &jsonschema.Schema{} }

// JSONSchema describes Strategy in the JSON Schema: a name and free
// parameters (checked against the catalog by the loader), or a bare name.
func (Strategy) JSONSchema() *jsonschema.Schema {
	props := jsonschema.NewProperties()
	props.Set("name", &jsonschema.Schema{Type: "string", Description: "Strategy name, e.g. fixed, wechat-smart."})
	return &jsonschema.Schema{OneOf: []*jsonschema.Schema{
		{Type: "string"},
		{Type: "object", Properties: props, Required: []string{"name"}},
	}}
}

// expectationPattern is the string form of an expectation.
const expectationPattern = `^\s*[a-z_][a-z0-9_]*(\.[a-z0-9]+)?(@[a-z][a-z0-9_-]*)?\s*(<=|>=|==|!=|<|>)\s*[-+0-9.eE]+\s*$`

// JSONSchema describes Expectation in the JSON Schema.
func (Expectation) JSONSchema() *jsonschema.Schema {
	props := jsonschema.NewProperties()
	props.Set("metric", &jsonschema.Schema{Type: "string"})
	props.Set("op", Op("").JSONSchema())
	props.Set("value", &jsonschema.Schema{Type: "number"})
	props.Set("group", &jsonschema.Schema{Type: "string"})
	return &jsonschema.Schema{OneOf: []*jsonschema.Schema{
		{Type: "string", Pattern: expectationPattern, Description: `"metric[@group] op value", e.g. "latency_s.p99@phones < 5"`},
		{Type: "object", Properties: props, Required: []string{"metric", "op", "value"}, AdditionalProperties: jsonschema.FalseSchema},
	}}
}

// JSONSchema describes Grid in the JSON Schema: parameter paths to lists
// of values.
func (Grid) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type:                 "object",
		AdditionalProperties: &jsonschema.Schema{Type: "array", MinItems: ptr(uint64(1))},
	}
}

func ptr[T any](v T) *T { return &v }
