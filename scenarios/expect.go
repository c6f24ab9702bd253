package scenarios

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v4"
)

// Expectation is an assertion on a run's results: Metric Op Value, for one
// group or (Group empty) for the whole run. In a file it is a string,
// "delivery_ratio >= 0.999" or "latency_s.p99@phones < 5", or a mapping
// {metric, op, value, group}.
type Expectation struct {
	// Metric is a metric name from Metrics, with a statistic suffix for
	// distributions ("latency_s.p99").
	Metric string `yaml:"metric"`
	// Op is the comparison.
	Op Op `yaml:"op"`
	// Value is the number the metric is compared with.
	Value float64 `yaml:"value"`
	// Group restricts the metric to one device group; empty is overall.
	Group string `yaml:"group,omitempty"`
}

// String returns the expectation in its string form; ParseExpectation
// reads it back.
func (e Expectation) String() string {
	m := e.Metric
	if e.Group != "" {
		m += "@" + e.Group
	}
	return m + " " + string(e.Op) + " " + strconv.FormatFloat(e.Value, 'g', -1, 64)
}

// Holds reports whether the expectation holds for the metric's value v.
func (e Expectation) Holds(v float64) bool { return e.Op.Holds(v, e.Value) }

// Op is a comparison operator of an expectation.
type Op string

// The comparison operators.
const (
	OpLT Op = "<"
	OpLE Op = "<="
	OpGT Op = ">"
	OpGE Op = ">="
	OpEQ Op = "=="
	OpNE Op = "!="
)

// Ops lists the operators in the order the parser tries them.
var Ops = []Op{OpLE, OpGE, OpEQ, OpNE, OpLT, OpGT}

// Holds reports whether "a op b" is true. NaN never satisfies any operator
// except !=.
func (o Op) Holds(a, b float64) bool {
	switch o {
	case OpLT:
		return a < b
	case OpLE:
		return a <= b
	case OpGT:
		return a > b
	case OpGE:
		return a >= b
	case OpEQ:
		return a == b
	case OpNE:
		return a != b
	}
	return false
}

// Metric describes a metric expectations can name.
type Metric struct {
	// Name is the base name, with its unit as in results files.
	Name string
	// Stats lists the statistic suffixes it requires ("p99"); nil for a
	// single number.
	Stats []string
	// PerGroup is true when it exists per device group (and overall);
	// false for whole-run metrics such as NAT counters.
	PerGroup bool
	// Doc says what it measures.
	Doc string
}

// Stats are the statistic suffixes of distribution metrics.
var Stats = []string{"mean", "min", "p50", "p90", "p95", "p99", "p999", "max"}

// Metrics are the metrics expectations may name, matching the fields of
// summary.json.
var Metrics = []Metric{
	{"pushes_sent", nil, true, "pushes the provider sent"},
	{"pushes_delivered", nil, true, "pushes that reached a device"},
	{"delivery_ratio", nil, true, "pushes_delivered / pushes_sent"},
	{"ontime_ratio", nil, true, "pushes delivered within outputs.on_time of being sent / pushes_sent"},
	{"latency_s", Stats, true, "delivery latency of delivered pushes, seconds"},
	{"keepalives_per_device_hour", nil, true, "application and TCP keep-alives sent per device-hour"},
	{"bytes_per_device_hour", nil, true, "bytes sent and received per device-hour"},
	{"reconnects", nil, true, "connection re-establishments"},
	{"reconnects_per_device_hour", nil, true, "reconnects per device-hour"},
	{"dead_detection_s", Stats, true, "time from a connection's death to its detection by the device, seconds"},
	{"energy_j_per_device_day", nil, true, "radio energy per device-day, joules"},
	{"final_interval_s", Stats, true, "each device's keep-alive interval at the end of the run, seconds"},
	{"connected_ratio", nil, true, "share of device-time with a live push connection"},
	{"quic_migrations", nil, true, "QUIC path migrations after NAT rebindings (0 on TCP)"},
	{"quic_idle_closes", nil, true, "QUIC connections closed by their idle timeout (0 on TCP)"},
	{"quic_stateless_resets", nil, true, "QUIC stateless resets received (0 on TCP)"},
	{"mappings_created", nil, false, "NAT mappings created"},
	{"mappings_expired", nil, false, "NAT mappings removed by idle timeout"},
	{"mappings_evicted", nil, false, "NAT mappings removed for capacity or by reboot"},
	{"nat_drops_no_mapping", nil, false, "inbound packets dropped for want of a mapping"},
	{"nat_rsts_sent", nil, false, "RSTs NATs sent on expiry"},
	{"nat_port_quota_failures", nil, false, "new flows refused for an exhausted port quota"},
}

// LookupMetric finds the metric named by a full name such as
// "latency_s.p99" and checks its statistic suffix.
func LookupMetric(full string) (Metric, error) {
	base, stat, hasStat := strings.Cut(full, ".")
	for _, m := range Metrics {
		if m.Name != base {
			continue
		}
		switch {
		case m.Stats == nil && hasStat:
			return m, fmt.Errorf("metric %q takes no statistic suffix", base)
		case m.Stats != nil && !hasStat:
			return m, fmt.Errorf("metric %q needs a statistic suffix (%s.p99; one of %s)", base, base, strings.Join(m.Stats, ", "))
		case m.Stats != nil && !slices.Contains(m.Stats, stat):
			return m, fmt.Errorf("unknown statistic %q of %s (one of %s)", stat, base, strings.Join(m.Stats, ", "))
		}
		return m, nil
	}
	return Metric{}, fmt.Errorf("unknown metric %q (see docs/scenarios.md, Expectations)", full)
}

// ParseExpectation parses "metric[@group] op value", e.g.
// "latency_s.p99@phones < 5". It checks the syntax and the metric name,
// not that the group exists.
func ParseExpectation(s string) (Expectation, error) {
	var e Expectation
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "<>=!")
	if i < 0 {
		return e, fmt.Errorf("expectation %q has no operator (one of <, <=, >, >=, ==, !=)", s)
	}
	lhs, rest := strings.TrimSpace(s[:i]), s[i:]
	for _, op := range Ops {
		if strings.HasPrefix(rest, string(op)) {
			e.Op = op
			rest = rest[len(op):]
			break
		}
	}
	if e.Op == "" {
		return e, fmt.Errorf("expectation %q: invalid operator at %q (one of <, <=, >, >=, ==, !=)", s, rest)
	}
	rhs := strings.TrimSpace(rest)
	if lhs == "" {
		return e, fmt.Errorf("expectation %q has no metric", s)
	}
	e.Metric, e.Group, _ = strings.Cut(lhs, "@")
	if strings.ContainsAny(e.Metric, " \t") || strings.ContainsAny(e.Group, " \t@") {
		return e, fmt.Errorf("expectation %q: malformed metric %q", s, lhs)
	}
	if strings.Contains(lhs, "@") && e.Group == "" {
		return e, fmt.Errorf("expectation %q: empty group after @", s)
	}
	v, err := strconv.ParseFloat(rhs, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return e, fmt.Errorf("expectation %q: %q is not a finite number", s, rhs)
	}
	e.Value = v
	m, err := LookupMetric(e.Metric)
	if err != nil {
		return e, err
	}
	if e.Group != "" && !m.PerGroup {
		return e, fmt.Errorf("metric %q is whole-run; it takes no @group", m.Name)
	}
	return e, nil
}

func (d *decoder) expectation(n *yaml.Node, e *Expectation, path string) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		x, err := ParseExpectation(n.Value)
		if err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		*e = x
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected an expectation (\"metric op value\" or {metric, op, value, group}), got %s", kindName(n))
		return
	}
	type plain Expectation
	var x plain
	d.structure(n, reflect.ValueOf(&x).Elem(), path)
	for _, f := range []string{"metric", "op", "value"} {
		if !d.src.has(joinPath(path, f)) {
			d.errorf(n, path, "missing field %q", f)
			return
		}
	}
	if !slices.Contains(Ops, x.Op) {
		d.errorAt(joinPath(path, "op"), "unknown operator %q (one of <, <=, >, >=, ==, !=)", x.Op)
		return
	}
	m, err := LookupMetric(x.Metric)
	if err != nil {
		d.errorAt(joinPath(path, "metric"), "%v", err)
		return
	}
	if x.Group != "" && !m.PerGroup {
		d.errorAt(joinPath(path, "group"), "metric %q is whole-run; it takes no group", m.Name)
		return
	}
	*e = Expectation(x)
}
