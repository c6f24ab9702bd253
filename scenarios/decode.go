package scenarios

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"
)

// source is what a Scenario remembers of the text it was loaded from: the
// node tree (for sweeps) and where each field path was written (for errors
// found after decoding, and to tell an explicit value from a default).
type source struct {
	file   string
	root   *yaml.Node // the document's top mapping, aliases expanded
	pos    map[string]Pos
	keyPos map[string]Pos
	bad    map[string]bool // paths that failed to decode
	cat    Catalog
}

// has reports whether path was written in the source.
func (s *source) has(path string) bool {
	if s == nil {
		return false
	}
	_, ok := s.pos[path]
	return ok
}

// at returns the position of path, or of its nearest written ancestor.
func (s *source) at(path string) Pos {
	if s == nil {
		return Pos{}
	}
	for p := path; ; {
		if pos, ok := s.pos[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return Pos{File: s.file, Line: 1, Column: 1}
}

// keyAt returns the position of the key of path (falling back to at).
func (s *source) keyAt(path string) Pos {
	if p, ok := s.keyPos[path]; ok {
		return p
	}
	return s.at(path)
}

// maxNodes bounds the size of a document after alias expansion, so that an
// alias bomb is an error and not an out-of-memory.
const maxNodes = 200_000

// parse reads one YAML document and returns its top-level node with aliases
// expanded into copies.
func parse(file string, data []byte) (*yaml.Node, ErrorList) {
	var doc yaml.Node
	if err := yaml.Load(data, &doc); err != nil {
		return nil, ErrorList{syntaxError(file, err)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, ErrorList{{Pos: Pos{file, 1, 1}, Msg: "empty document"}}
	}
	budget := maxNodes
	root, err := expand(doc.Content[0], &budget, 0)
	if err != nil {
		return nil, ErrorList{{Pos: Pos{file, doc.Content[0].Line, doc.Content[0].Column}, Msg: err.Error()}}
	}
	return root, nil
}

// syntaxError turns a YAML parser error into an Error with a position.
func syntaxError(file string, err error) *Error {
	if strings.Contains(err.Error(), "found multiple") {
		return &Error{Pos: Pos{file, 1, 1}, Msg: "a scenario file holds exactly one YAML document"}
	}
	var le *yaml.LoadError
	if errors.As(err, &le) {
		line, col := le.Mark.Line, le.Mark.Column
		if line == 0 {
			line, col = 1, 1
		}
		return &Error{Pos: Pos{file, line, col}, Msg: "invalid YAML: " + le.Message}
	}
	var les *yaml.LoadErrors
	if errors.As(err, &les) && len(les.Errors) > 0 {
		e := les.Errors[0]
		line, col := e.Mark.Line, e.Mark.Column
		if line == 0 {
			line, col = 1, 1
		}
		return &Error{Pos: Pos{file, line, col}, Msg: "invalid YAML: " + strings.TrimPrefix(e.Message, "yaml: ")}
	}
	return &Error{Pos: Pos{file, 1, 1}, Msg: "invalid YAML: " + err.Error()}
}

// expand returns a copy of n with every alias replaced by a copy of its
// anchor's value.
func expand(n *yaml.Node, budget *int, depth int) (*yaml.Node, error) {
	*budget--
	if *budget < 0 {
		return nil, errors.New("document too large (aliases expand to more than 200000 nodes)")
	}
	if depth > 100 {
		return nil, errors.New("document nested deeper than 100 levels")
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil, errors.New("alias without anchor")
		}
		return expand(n.Alias, budget, depth+1)
	}
	c := *n
	c.Anchor = ""
	c.Alias = nil
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	if len(n.Content) > 0 {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, k := range n.Content {
			e, err := expand(k, budget, depth+1)
			if err != nil {
				return nil, err
			}
			c.Content[i] = e
		}
	}
	return &c, nil
}

// decoder turns a node tree into Go values, recording positions and
// collecting every error.
type decoder struct {
	src  *source
	errs ErrorList
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.nodePos(n), Path: path, Msg: fmt.Sprintf(format, args...)})
	d.src.bad[path] = true
}

// errorAt records an error at the recorded position of path.
func (d *decoder) errorAt(path, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.src.at(path), Path: path, Msg: fmt.Sprintf(format, args...)})
	d.src.bad[path] = true
}

func (d *decoder) nodePos(n *yaml.Node) Pos {
	if n.Line == 0 {
		return Pos{File: setFile}
	}
	return Pos{File: d.src.file, Line: n.Line, Column: n.Column}
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	rawType         = reflect.TypeFor[Raw]()
	strategyType    = reflect.TypeFor[Strategy]()
	expectationType = reflect.TypeFor[Expectation]()
	gridType        = reflect.TypeFor[Grid]()
)

// kindName describes a node for "expected X, got Y" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str":
			return fmt.Sprintf("string %q", n.Value)
		case "!!int":
			return "integer " + n.Value
		case "!!float":
			return "number " + n.Value
		case "!!bool":
			return "boolean " + n.Value
		}
		return n.Value
	}
	return "an unsupported node"
}

// mappingPairs checks that n is a mapping with unique string keys and
// returns its key/value pairs.
func (d *decoder) mappingPairs(n *yaml.Node, path, what string) [][2]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected %s, got %s", what, kindName(n))
		return nil
	}
	seen := map[string]*yaml.Node{}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.ShortTag() != "!!str" && k.ShortTag() != "!!int") {
			if k.ShortTag() == "!!merge" {
				d.errorf(k, path, "merge keys (<<) are not supported; use an alias as a whole value")
			} else {
				d.errorf(k, path, "keys must be strings, got %s", kindName(k))
			}
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.errorf(k, path, "duplicate key %q (first at line %d)", k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

// checkRaw rejects duplicate keys and merge keys anywhere inside a raw value.
func (d *decoder) checkRaw(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for _, kv := range d.mappingPairs(n, path, "a mapping") {
			d.checkRaw(kv[1], joinPath(path, kv[0].Value))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.checkRaw(c, indexPath(path, i))
		}
	}
}

func (d *decoder) record(path string, k, v *yaml.Node) {
	d.src.pos[path] = d.nodePos(v)
	if k != nil {
		d.src.keyPos[path] = d.nodePos(k)
	}
}

// decode stores n into v (addressable), which lives at path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	switch t {
	case durationType:
		if dur, ok := d.duration(n, path); ok {
			v.SetInt(int64(dur))
		}
		return
	case rawType:
		d.checkRaw(n, path)
		if n.ShortTag() != "!!null" {
			v.Set(reflect.ValueOf(Raw{node: n, file: d.src.file}))
		}
		return
	case strategyType:
		d.strategy(n, v.Addr().Interface().(*Strategy), path)
		return
	case expectationType:
		d.expectation(n, v.Addr().Interface().(*Expectation), path)
		return
	case gridType:
		d.axes(n, v.Addr().Interface().(*Grid), path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if n.ShortTag() == "!!null" {
			return
		}
		p := reflect.New(t.Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		m := reflect.MakeMap(t)
		for _, kv := range d.mappingPairs(n, path, "a mapping") {
			p := joinPath(path, kv[0].Value)
			d.record(p, kv[0], kv[1])
			e := reflect.New(t.Elem()).Elem()
			d.decode(kv[1], e, p)
			m.SetMapIndex(reflect.ValueOf(kv[0].Value).Convert(t.Key()), e)
		}
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			p := indexPath(path, i)
			d.record(p, nil, c)
			d.decode(c, s.Index(i), p)
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			d.errorf(n, path, "expected a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.errorf(n, path, "expected an integer, got %s", kindName(n))
			return
		}
		if v.OverflowInt(i) {
			d.errorf(n, path, "integer %s out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint64:
		var u uint64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&u) != nil {
			d.errorf(n, path, "expected a non-negative integer, got %s", kindName(n))
			return
		}
		v.SetUint(u)
	case reflect.Float64:
		f, ok := d.number(n, path)
		if ok {
			v.SetFloat(f)
		}
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.errorf(n, path, "expected true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	default:
		d.errorf(n, path, "internal error: cannot decode into %s", t)
	}
}

func (d *decoder) number(n *yaml.Node, path string) (float64, bool) {
	var f float64
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
		d.errorf(n, path, "expected a number, got %s", kindName(n))
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		d.errorf(n, path, "expected a finite number, got %s", n.Value)
		return 0, false
	}
	return f, true
}

func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.errorf(n, path, "expected a duration (e.g. 30s, 5m, 2h, 1d), got %s", kindName(n))
		return 0, false
	}
	dur, err := ParseDuration(n.Value)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return 0, false
	}
	return dur, true
}

// fieldInfo is a struct field with its YAML name.
type fieldInfo struct {
	name  string
	index int
}

func yamlFields(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, fieldInfo{name, i})
	}
	return out
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	fields := yamlFields(v.Type())
	for _, kv := range d.mappingPairs(n, path, "a mapping") {
		k := kv[0].Value
		i := -1
		for _, f := range fields {
			if f.name == k {
				i = f.index
			}
		}
		if i < 0 {
			d.errorf(kv[0], path, "unknown field %q", k)
			continue
		}
		p := joinPath(path, k)
		d.record(p, kv[0], kv[1])
		d.decode(kv[1], v.Field(i), p)
	}
}

func (d *decoder) strategy(n *yaml.Node, s *Strategy, path string) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		// Shorthand: "strategy: none".
		s.Name = n.Value
		d.record(joinPath(path, "name"), nil, n)
		return
	}
	for _, kv := range d.mappingPairs(n, path, "a strategy ({name: ..., params})") {
		k, v := kv[0], kv[1]
		p := joinPath(path, k.Value)
		d.record(p, k, v)
		if k.Value == "name" {
			d.decode(v, reflect.ValueOf(&s.Name).Elem(), p)
			continue
		}
		d.checkRaw(v, p)
		if s.Params == nil {
			s.Params = map[string]Raw{}
		}
		s.Params[k.Value] = Raw{node: v, file: d.src.file}
	}
}

func (d *decoder) axes(n *yaml.Node, out *Grid, path string) {
	for _, kv := range d.mappingPairs(n, path, "a mapping of parameter paths to lists of values") {
		k, v := kv[0], kv[1]
		p := joinPath(path, k.Value)
		d.record(p, k, v)
		a := Axis{Path: k.Value}
		if v.Kind != yaml.SequenceNode {
			d.errorf(v, p, "expected a list of values, got %s", kindName(v))
		} else {
			for i, c := range v.Content {
				d.checkRaw(c, indexPath(p, i))
				a.Values = append(a.Values, Raw{node: c, file: d.src.file})
			}
		}
		*out = append(*out, a)
	}
}

// nodeString renders a node as compact single-line YAML where possible.
func nodeString(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	c := cloneNode(n)
	setFlow(c)
	b, err := yaml.Marshal(c)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func setFlow(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = yaml.FlowStyle
	}
	for _, c := range n.Content {
		setFlow(c)
	}
}

// cloneNode deep-copies a node tree (aliases are already expanded).
func cloneNode(n *yaml.Node) *yaml.Node {
	c := *n
	if n.Content != nil {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, k := range n.Content {
			c.Content[i] = cloneNode(k)
		}
	}
	return &c
}
