package scenarios

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v4"
)

// setFile is the file name errors carry for values given with --set.
const setFile = "--set"

// Loader loads scenario files strictly: unknown fields, duplicate keys,
// wrong types, durations without units, impossible values, unknown names
// and dangling references are all errors, collected and returned together
// as an ErrorList sorted by position.
type Loader struct {
	// Catalog answers which NAT presets, mixtures, strategies and radios
	// exist. Nil means Registries{}.
	Catalog Catalog
	// Sets are "path=value" overrides (natsim --set) applied to the file
	// before decoding; the value is YAML ("60s", "[a, b]", "{x: 1}").
	Sets []string
}

func (l *Loader) catalog() Catalog {
	if l == nil || l.Catalog == nil {
		return Registries{}
	}
	return l.Catalog
}

// Load loads a scenario from data; name is the file name errors carry.
func (l *Loader) Load(name string, data []byte) (*Scenario, error) {
	root, errs := parse(name, data)
	if errs != nil {
		return nil, errs
	}
	var sets []string
	if l != nil {
		sets = l.Sets
	}
	if errs := applySets(root, sets); errs != nil {
		return nil, errs.err()
	}
	return build(name, root, l.catalog())
}

// LoadFile loads the scenario file at path.
func (l *Loader) LoadFile(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return l.Load(path, data)
}

// LoadDir loads every *.yaml file in dir, in name order. It returns the
// scenarios that loaded and, if any failed, an ErrorList of all their
// errors (I/O errors are reported against the file at line 0).
func (l *Loader) LoadDir(dir string) ([]*Scenario, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []*Scenario
	var all ErrorList
	for _, p := range paths {
		s, err := l.LoadFile(p)
		switch e := err.(type) {
		case nil:
			out = append(out, s)
		case ErrorList:
			all = append(all, e...)
		default:
			all = append(all, &Error{Pos: Pos{File: p}, Msg: err.Error()})
		}
	}
	return out, all.err()
}

// Load loads a scenario from data with the default catalog.
func Load(name string, data []byte) (*Scenario, error) { return (*Loader)(nil).Load(name, data) }

// LoadFile loads a scenario file with the default catalog.
func LoadFile(path string) (*Scenario, error) { return (*Loader)(nil).LoadFile(path) }

// LoadDir loads every *.yaml file of dir with the default catalog.
func LoadDir(dir string) ([]*Scenario, error) { return (*Loader)(nil).LoadDir(dir) }

// build decodes, defaults and validates a node tree.
func build(file string, root *yaml.Node, cat Catalog) (*Scenario, error) {
	src := &source{
		file: file, root: root, cat: cat,
		pos: map[string]Pos{}, keyPos: map[string]Pos{}, bad: map[string]bool{},
	}
	d := &decoder{src: src}
	s := &Scenario{src: src}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "", "expected a mapping, got %s", kindName(root))
		return nil, d.errs.err()
	}
	d.structure(root, reflect.ValueOf(s).Elem(), "")
	s.applyDefaults()
	v := &validator{src: src, cat: cat, errs: d.errs}
	v.scenario(s)
	if err := v.errs.err(); err != nil {
		return nil, err
	}
	s.warnings = v.warnings.sortDedup()
	return s, nil
}

// segment is one step of a parameter path: a mapping key or a list index.
type segment struct {
	key   string
	index int // -1 for a key
}

// parsePath splits "groups.phones.strategy.interval" or
// "networks.cell.nat[0].preset" (or nat.0.preset) into segments.
func parsePath(p string) ([]segment, error) {
	if p == "" {
		return nil, fmt.Errorf("empty path")
	}
	var segs []segment
	for part := range strings.SplitSeq(p, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key == "" && (rest == "" || len(segs) == 0) {
			return nil, fmt.Errorf("path %q has an empty segment", p)
		}
		if key != "" {
			segs = append(segs, segment{key: key, index: -1})
		}
		if rest == "" {
			continue
		}
		for _, ix := range strings.Split("["+rest, "[")[1:] {
			n, err := strconv.Atoi(strings.TrimSuffix(ix, "]"))
			if !strings.HasSuffix(ix, "]") || err != nil || n < 0 {
				return nil, fmt.Errorf("path %q has a malformed index [%s", p, ix)
			}
			segs = append(segs, segment{index: n})
		}
	}
	return segs, nil
}

func formatPath(segs []segment) string {
	var b strings.Builder
	for _, s := range segs {
		if s.index >= 0 {
			fmt.Fprintf(&b, "[%d]", s.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

// setPath puts val at path in the tree rooted at root (a mapping), creating
// mappings along the way. It replaces whole values; it never merges.
// New keys get position line:col (0 for --set values).
func setPath(root *yaml.Node, path string, val *yaml.Node, line, col int) error {
	segs, err := parsePath(path)
	if err != nil {
		return err
	}
	cur := root
	for i, s := range segs {
		last := i == len(segs)-1
		here := formatPath(segs[:i])
		if cur.Kind == yaml.ScalarNode && cur.ShortTag() == "!!null" && s.index < 0 {
			*cur = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: cur.Line, Column: cur.Column}
		}
		switch cur.Kind {
		case yaml.MappingNode:
			if s.index >= 0 {
				return fmt.Errorf("%s is a mapping, not a list: cannot index it with [%d]", here, s.index)
			}
			j := -1
			for k := 0; k+1 < len(cur.Content); k += 2 {
				if cur.Content[k].Value == s.key {
					j = k + 1
				}
			}
			if j < 0 {
				key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.key, Line: line, Column: col}
				next := val
				if !last {
					next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: line, Column: col}
				}
				cur.Content = append(cur.Content, key, next)
				cur = next
				continue
			}
			if last {
				cur.Content[j] = val
			}
			cur = cur.Content[j]
		case yaml.SequenceNode:
			ix := s.index
			if ix < 0 {
				n, err := strconv.Atoi(s.key)
				if err != nil {
					return fmt.Errorf("%s is a list: index it with [n], not .%s", here, s.key)
				}
				ix = n
			}
			if ix >= len(cur.Content) {
				return fmt.Errorf("%s has %d elements: index %d is out of range", here, len(cur.Content), ix)
			}
			if last {
				cur.Content[ix] = val
			}
			cur = cur.Content[ix]
		default:
			return fmt.Errorf("%s is %s, not a mapping or a list", here, kindName(cur))
		}
	}
	return nil
}

// applySets applies "path=value" strings to the tree.
func applySets(root *yaml.Node, sets []string) ErrorList {
	var errs ErrorList
	for _, s := range sets {
		path, value, ok := strings.Cut(s, "=")
		path = strings.TrimSpace(path)
		if !ok {
			errs = append(errs, &Error{Pos: Pos{File: setFile}, Path: path, Msg: fmt.Sprintf("%q is not path=value", s)})
			continue
		}
		val, err := parseValue(value)
		if err != nil {
			errs = append(errs, &Error{Pos: Pos{File: setFile}, Path: path, Msg: err.Error()})
			continue
		}
		if err := setPath(root, path, val, 0, 0); err != nil {
			errs = append(errs, &Error{Pos: Pos{File: setFile}, Path: path, Msg: err.Error()})
		}
	}
	return errs
}

// parseValue parses a --set value as YAML and strips its positions, so that
// errors about it say "--set" rather than a line of the one-line value.
func parseValue(s string) (*yaml.Node, error) {
	if strings.TrimSpace(s) == "" {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}, nil
	}
	root, errs := parse(setFile, []byte(s))
	if errs != nil {
		return nil, fmt.Errorf("value %q: %s", s, errs[0].Msg)
	}
	clearPos(root)
	return root, nil
}

func clearPos(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		clearPos(c)
	}
}
