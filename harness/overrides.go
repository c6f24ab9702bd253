package harness

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v4"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/scenarios"
)

// applyOverrides decodes a scenario's NAT overrides (a YAML mapping such as
// {tcp: {established: 300s}}) onto cfg field by field. Keys are the
// snake_case names of nat.Config's fields (TCP.SynSent is tcp.syn_sent);
// enumerations take the names their String methods return ("rst_inside",
// "apdf"); durations need units. Errors carry the file:line:column of the
// offending key or value.
func applyOverrides(cfg *nat.Config, raw scenarios.Raw) error {
	if raw.IsZero() {
		return nil
	}
	file := raw.Pos().File
	return overlay(reflect.ValueOf(cfg).Elem(), raw.Node(), file, "")
}

func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func nodeErr(file string, n *yaml.Node, path, format string, a ...any) error {
	return fmt.Errorf("%s:%d:%d: %s: %s", file, n.Line, n.Column, path, fmt.Sprintf(format, a...))
}

func overlay(v reflect.Value, n *yaml.Node, file, path string) error {
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	t := v.Type()
	switch {
	case t == reflect.TypeFor[time.Duration]():
		if n.Kind != yaml.ScalarNode {
			return nodeErr(file, n, path, "want a duration")
		}
		d, err := scenarios.ParseDuration(n.Value)
		if err != nil {
			return nodeErr(file, n, path, "%v", err)
		}
		v.SetInt(int64(d))
		return nil
	case t == reflect.TypeFor[netip.Addr]():
		a, err := netip.ParseAddr(n.Value)
		if err != nil || !a.Is4() {
			return nodeErr(file, n, path, "want an IPv4 address, got %q", n.Value)
		}
		v.Set(reflect.ValueOf(a))
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nodeErr(file, n, path, "want a mapping")
		}
		fields := map[string]int{}
		var known []string
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			name := snake(t.Field(i).Name)
			if name == "name" || name == "seed" || name == "public_addrs" || name == "router_addr" {
				continue // set by the harness
			}
			fields[name] = i
			known = append(known, name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			fi, ok := fields[k.Value]
			if !ok {
				return nodeErr(file, k, p, "unknown NAT field %q (known: %s)", k.Value, strings.Join(known, ", "))
			}
			if err := overlay(v.Field(fi), val, file, p); err != nil {
				return err
			}
		}
		return nil
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil || n.Kind != yaml.ScalarNode {
			return nodeErr(file, n, path, "want true or false, got %q", n.Value)
		}
		v.SetBool(b)
		return nil
	case reflect.Int:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil || n.Kind != yaml.ScalarNode {
			return nodeErr(file, n, path, "want an integer, got %q", n.Value)
		}
		v.SetInt(i)
		return nil
	case reflect.Uint16:
		i, err := strconv.ParseUint(n.Value, 10, 16)
		if err != nil || n.Kind != yaml.ScalarNode {
			return nodeErr(file, n, path, "want an integer in [0, 65535], got %q", n.Value)
		}
		v.SetUint(i)
		return nil
	case reflect.Uint32:
		i, err := strconv.ParseUint(n.Value, 10, 32)
		if err != nil || n.Kind != yaml.ScalarNode {
			return nodeErr(file, n, path, "want a non-negative integer, got %q", n.Value)
		}
		v.SetUint(i)
		return nil
	case reflect.Uint8:
		// An enumeration: match its String names.
		if _, ok := v.Interface().(fmt.Stringer); ok {
			var names []string
			for i := range 256 {
				c := reflect.New(t).Elem()
				c.SetUint(uint64(i))
				name := c.Interface().(fmt.Stringer).String()
				if strings.Contains(name, "(") || strings.Contains(name, "%") || slices.Contains(names, name) {
					continue
				}
				if name == n.Value {
					v.SetUint(uint64(i))
					return nil
				}
				names = append(names, name)
				if len(names) > 16 {
					break
				}
			}
			return nodeErr(file, n, path, "unknown value %q (known: %s)", n.Value, strings.Join(names, ", "))
		}
		i, err := strconv.ParseUint(n.Value, 10, 8)
		if err != nil {
			return nodeErr(file, n, path, "want an integer in [0, 255], got %q", n.Value)
		}
		v.SetUint(i)
		return nil
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || n.Kind != yaml.ScalarNode {
			return nodeErr(file, n, path, "want a number, got %q", n.Value)
		}
		v.SetFloat(f)
		return nil
	}
	return nodeErr(file, n, path, "cannot be overridden")
}
