package scenarios

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"
)

// Render writes the fully resolved scenario as YAML: every default filled
// in, maps in key order, durations in scenario syntax. Loading the output
// gives the same scenario (natsim run --print-config).
func Render(s *Scenario) ([]byte, error) {
	n := encode(reflect.ValueOf(s).Elem())
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func scalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func addPair(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, scalar("!!str", key), v)
}

// encode turns a value of the scenario types into a node tree.
func encode(v reflect.Value) *yaml.Node {
	switch v.Type() {
	case durationType:
		return scalar("!!str", FormatDuration(timeDuration(v)))
	case rawType:
		r := v.Interface().(Raw)
		if r.node == nil {
			return scalar("!!null", "null")
		}
		return stripPos(cloneNode(r.node))
	case strategyType:
		st := v.Interface().(Strategy)
		m := mapping()
		addPair(m, "name", scalar("!!str", st.Name))
		for _, k := range sortedKeys(st.Params) {
			addPair(m, k, stripPos(cloneNode(st.Params[k].node)))
		}
		return m
	case expectationType:
		return scalar("!!str", v.Interface().(Expectation).String())
	case gridType:
		m := mapping()
		for _, a := range v.Interface().(Grid) {
			seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
			for _, r := range a.Values {
				seq.Content = append(seq.Content, encode(reflect.ValueOf(r)))
			}
			addPair(m, a.Path, seq)
		}
		return m
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return scalar("!!null", "null")
		}
		return encode(v.Elem())
	case reflect.Struct:
		m := mapping()
		t := v.Type()
		for _, f := range yamlFields(t) {
			fv := v.Field(f.index)
			if strings.Contains(t.Field(f.index).Tag.Get("yaml"), ",omitempty") && fv.IsZero() {
				continue
			}
			if (fv.Kind() == reflect.Map || fv.Kind() == reflect.Slice) && fv.Len() == 0 &&
				strings.Contains(t.Field(f.index).Tag.Get("yaml"), ",omitempty") {
				continue
			}
			addPair(m, f.name, encode(fv))
		}
		return m
	case reflect.Map:
		m := mapping()
		keys := v.MapKeys()
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.String()
		}
		for _, k := range sortedKeys(toSet(names)) {
			addPair(m, k, encode(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key()))))
		}
		return m
	case reflect.Slice:
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := range v.Len() {
			seq.Content = append(seq.Content, encode(v.Index(i)))
		}
		if v.Type().Elem() == durationType || v.Type().Elem().Kind() == reflect.String {
			seq.Style = yaml.FlowStyle
		}
		return seq
	case reflect.String:
		return scalar("!!str", v.String())
	case reflect.Int, reflect.Int64:
		return scalar("!!int", strconv.FormatInt(v.Int(), 10))
	case reflect.Uint64:
		return scalar("!!int", strconv.FormatUint(v.Uint(), 10))
	case reflect.Float64:
		s := strconv.FormatFloat(v.Float(), 'g', -1, 64)
		return scalar("!!float", s)
	case reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool()))
	}
	return scalar("!!null", "null")
}

func timeDuration(v reflect.Value) time.Duration { return time.Duration(v.Int()) }

func toSet(names []string) map[string]struct{} {
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		m[n] = struct{}{}
	}
	return m
}

// stripPos clears positions and comments so a node renders cleanly.
func stripPos(n *yaml.Node) *yaml.Node {
	n.Line, n.Column = 0, 0
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	for _, c := range n.Content {
		stripPos(c)
	}
	return n
}
