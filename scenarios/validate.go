package scenarios

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"
)

// validator checks a decoded, defaulted scenario and collects errors.
type validator struct {
	src      *source
	cat      Catalog
	errs     ErrorList
	warnings ErrorList
}

// errorf records an error at the position of path, unless path (or an
// ancestor) already failed to decode: one mistake, one message.
func (v *validator) errorf(path, format string, args ...any) {
	for p := path; ; {
		if v.src.bad[p] {
			return
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	v.errs = append(v.errs, &Error{Pos: v.src.at(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// keyErrorf records an error at the key of path (for map entry names).
func (v *validator) keyErrorf(path, format string, args ...any) {
	v.errs = append(v.errs, &Error{Pos: v.src.keyAt(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// missing records a required field that was not written.
func (v *validator) missing(parent, field string) {
	v.errorf(parent, "missing required field %q", field)
}

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	entryRE    = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	selectorRE = regexp.MustCompile(`^([a-z][a-z0-9_-]*)/(\*|[0-9]+)$`)
)

func (v *validator) nonNegative(path string, d time.Duration) {
	if d < 0 {
		v.errorf(path, "must not be negative, got %s", FormatDuration(d))
	}
}

func (v *validator) positive(path string, d time.Duration) {
	if d <= 0 {
		v.errorf(path, "must be positive, got %s", FormatDuration(d))
	}
}

func (v *validator) fraction(path string, f float64) {
	if f < 0 || f > 1 {
		v.errorf(path, "must be in [0,1], got %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
}

func (v *validator) scenario(s *Scenario) {
	has := v.src.has
	if !has("name") {
		v.missing("", "name")
	} else if !nameRE.MatchString(s.Name) {
		v.errorf("name", "%q: use letters, digits, '.', '_' and '-'", s.Name)
	}
	if !has("duration") {
		v.missing("", "duration")
	} else {
		v.positive("duration", s.Duration)
	}
	switch s.Clock {
	case ClockVirtual:
	case ClockWall:
		if s.Duration > MaxWallDuration {
			v.errorf("duration", "a wall-clock scenario may last at most %s, got %s", FormatDuration(MaxWallDuration), FormatDuration(s.Duration))
		}
	default:
		v.errorf("clock", "unknown clock %q (virtual or wall)", s.Clock)
	}
	v.server(s)
	v.partitions(s)

	if !has("networks") {
		v.missing("", "networks")
	} else if len(s.Networks) == 0 && !v.src.bad["networks"] {
		v.errorf("networks", "at least one network is required")
	}
	var prefixes []netip.Prefix
	var prefixNames []string
	for _, name := range sortedKeys(s.Networks) {
		p := "networks." + name
		if !entryRE.MatchString(name) {
			v.keyErrorf(p, "network name %q: use lower-case letters, digits, '_' and '-', starting with a letter", name)
		}
		n := s.Networks[name]
		if n == nil {
			v.errorf(p, "empty network")
			continue
		}
		if pf, ok := v.network(p, n); ok {
			for i, q := range prefixes {
				if q.Overlaps(pf) {
					v.errorf(p+".prefix", "%s overlaps %s of network %q", pf, q, prefixNames[i])
				}
			}
			prefixes = append(prefixes, pf)
			prefixNames = append(prefixNames, name)
		}
	}

	if !has("groups") {
		v.missing("", "groups")
	} else if len(s.Groups) == 0 && !v.src.bad["groups"] {
		v.errorf("groups", "at least one group is required")
	}
	for _, name := range sortedKeys(s.Groups) {
		p := "groups." + name
		if !entryRE.MatchString(name) {
			v.keyErrorf(p, "group name %q: use lower-case letters, digits, '_' and '-', starting with a letter", name)
		}
		if g := s.Groups[name]; g == nil {
			v.errorf(p, "empty group")
		} else {
			v.group(p, g, s)
		}
	}
	v.serverTLS(s)
	v.capacity(s)

	for _, name := range sortedKeys(s.Workload) {
		p := "workload." + name
		if _, ok := s.Groups[name]; !ok {
			v.keyErrorf(p, "no group named %q", name)
		}
		if w := s.Workload[name]; w == nil {
			v.errorf(p, "empty workload")
		} else {
			v.workload(p, w, s)
		}
	}
	for i := range s.Timeline {
		v.event(indexPath("timeline", i), &s.Timeline[i], s)
	}
	v.outputs(s)
	for i, e := range s.Expect {
		p := indexPath("expect", i)
		if e.Group != "" {
			v.expectGroup(p, e, s)
		}
	}
	if s.Sweep != nil {
		v.sweep(s)
	}
}

// partitions checks the shard count and what a sharded run cannot do.
func (v *validator) partitions(s *Scenario) {
	if s.Partitions < 1 || s.Partitions > MaxPartitions {
		v.errorf("partitions", "must be in [1,%d], got %d", MaxPartitions, s.Partitions)
		return
	}
	if s.Partitions == 1 {
		return
	}
	switch {
	case s.Clock == ClockWall:
		v.errorf("partitions", "a wall-clock run is one world: partitions must be 1, got %d", s.Partitions)
	case s.Server.External != "":
		v.errorf("partitions", "an external server is one server: partitions must be 1, got %d", s.Partitions)
	case len(s.Outputs.Pcap) > 0:
		v.errorf("partitions", "outputs.pcap captures one world: partitions must be 1, got %d", s.Partitions)
	}
}

func (v *validator) server(s *Scenario) {
	srv := &s.Server
	if srv.External != "" {
		u, err := url.Parse(srv.External)
		switch {
		case err != nil || u.Host == "" || u.Port() == "":
			v.errorf("server.external", "%q: want mqtt://host:port", srv.External)
		case u.Scheme != "mqtt" && u.Scheme != "tcp" && u.Scheme != "mqtts":
			v.errorf("server.external", "scheme %q: want mqtt, mqtts or tcp", u.Scheme)
		}
		if s.Clock != ClockWall {
			v.errorf("server.external", "an external server needs clock: wall")
		}
		for _, f := range []string{"port", "keepalive_factor", "offline", "heartbeat", "heartbeat_timeout", "tcp"} {
			if v.src.has("server." + f) {
				v.errorf("server."+f, "applies to the built-in server only, not with server.external")
			}
		}
		return
	}
	v.builtinServer("server", srv)
}

// builtinServer checks the built-in server settings srv written at p (the
// top-level server or an app's).
func (v *validator) builtinServer(p string, srv *Server) {
	if srv.Port < 1 || srv.Port > 65535 {
		v.errorf(p+".port", "must be in [1,65535], got %d", srv.Port)
	}
	if srv.KeepAliveFactor < 1 {
		v.errorf(p+".keepalive_factor", "must be at least 1, got %g", srv.KeepAliveFactor)
	}
	v.nonNegative(p+".heartbeat", srv.Heartbeat)
	v.presenceServer(p, srv)
	if o := srv.Offline; o != nil {
		switch o.Policy {
		case OfflineKeepN:
			if o.N < 1 {
				v.errorf(p+".offline.n", "keep-n needs n >= 1, got %d", o.N)
			}
		case OfflineKeepLast, OfflineKeepAll:
			if o.N != 0 {
				v.errorf(p+".offline.n", "n applies to policy keep-n only")
			}
		default:
			v.errorf(p+".offline.policy", "unknown policy %q (keep-last, keep-n or keep-all)", o.Policy)
		}
		v.nonNegative(p+".offline.ttl", o.TTL)
	}
	if t := srv.TCP; t != nil {
		v.nonNegative(p+".tcp.keepalive_idle", t.KeepAliveIdle)
		v.positive(p+".tcp.keepalive_interval", t.KeepAliveInterval)
		if t.KeepAliveCount < 1 {
			v.errorf(p+".tcp.keepalive_count", "must be at least 1, got %d", t.KeepAliveCount)
		}
		v.nonNegative(p+".tcp.user_timeout", t.UserTimeout)
	}
}

func (v *validator) network(p string, n *Network) (netip.Prefix, bool) {
	switch n.Kind {
	case KindWiFi, KindCellular, KindEthernet:
	case "":
		v.missing(p, "kind")
	default:
		v.errorf(p+".kind", "unknown kind %q (wifi, cellular or ethernet)", n.Kind)
	}
	pf, err := netip.ParsePrefix(n.Prefix)
	ok := err == nil
	switch {
	case err != nil:
		v.errorf(p+".prefix", "%q is not an address prefix like 10.1.0.0/16", n.Prefix)
	case !pf.Addr().Is4():
		v.errorf(p+".prefix", "%s: only IPv4 prefixes are supported", pf)
		ok = false
	case pf.Bits() < 8 || pf.Bits() > 30:
		v.errorf(p+".prefix", "%s: prefix length must be in [8,30]", pf)
		ok = false
	case pf.Masked() != pf:
		v.errorf(p+".prefix", "%s has host bits set (did you mean %s?)", pf, pf.Masked())
		ok = false
	}
	v.link(p+".access", &n.Access)
	v.link(p+".core", &n.Core)
	for i := range n.NAT {
		l := &n.NAT[i]
		lp := indexPath(p+".nat", i)
		switch {
		case l.Preset != "" && l.Mixture != "":
			v.errorf(lp, "set preset or mixture, not both")
		case l.Preset == "" && l.Mixture == "":
			v.errorf(lp, "missing required field \"preset\" (or \"mixture\")")
		case l.Preset != "" && !v.cat.NATPreset(l.Preset):
			v.errorf(lp+".preset", "unknown NAT preset %q%s", l.Preset, v.nearNATPresets(l.Preset))
		case l.Mixture != "" && !v.cat.NATMixture(l.Mixture):
			v.errorf(lp+".mixture", "unknown NAT mixture %q%s", l.Mixture, v.nearNATMixtures(l.Mixture))
		}
		switch l.Scope {
		case ScopePerDevice, ScopeShared:
		default:
			v.errorf(lp+".scope", "unknown scope %q (per-device or shared)", l.Scope)
		}
		if i > 0 && l.Scope == ScopePerDevice && n.NAT[i-1].Scope == ScopeShared {
			v.errorf(lp+".scope", "a per-device layer cannot sit outside a shared one")
		}
		v.overrides(lp+".overrides", l.Overrides)
		v.publicAddresses(lp, l)
	}
	return pf, ok
}

func (v *validator) overrides(p string, r Raw) {
	if n := r.Node(); n != nil && n.Kind != yaml.MappingNode {
		v.errorf(p, "expected a mapping of configuration fields, got %s", kindName(n))
	}
}

func (v *validator) link(p string, l *Link) {
	v.nonNegative(p+".latency", l.Latency)
	v.nonNegative(p+".jitter", l.Jitter)
	v.fraction(p+".loss", l.Loss)
	if l.BandwidthMbps < 0 {
		v.errorf(p+".bandwidth_mbps", "must not be negative, got %g", l.BandwidthMbps)
	}
	for _, d := range []struct {
		name string
		o    *LinkDirection
	}{{"up", l.Up}, {"down", l.Down}} {
		if d.o == nil {
			continue
		}
		dp := p + "." + d.name
		if d.o.Latency != nil {
			v.nonNegative(dp+".latency", *d.o.Latency)
		}
		if d.o.Jitter != nil {
			v.nonNegative(dp+".jitter", *d.o.Jitter)
		}
		if d.o.Loss != nil {
			v.fraction(dp+".loss", *d.o.Loss)
		}
		if d.o.BandwidthMbps != nil && *d.o.BandwidthMbps < 0 {
			v.errorf(dp+".bandwidth_mbps", "must not be negative, got %g", *d.o.BandwidthMbps)
		}
	}
}

func (v *validator) networkRef(p, name string, s *Scenario) {
	if _, ok := s.Networks[name]; !ok {
		v.errorf(p, "no network named %q", name)
	}
}

// maxDevices bounds a group's size; larger populations should be sampled.
const maxDevices = 1_000_000

func (v *validator) group(p string, g *Group, s *Scenario) {
	has := v.src.has
	if !has(p + ".count") {
		v.missing(p, "count")
	} else if g.Count < 1 || g.Count > maxDevices {
		v.errorf(p+".count", "must be in [1,%d], got %d", maxDevices, g.Count)
	}
	switch {
	case g.Network != "" && g.Schedule != nil:
		v.errorf(p, "set network or schedule, not both")
	case g.Network != "":
		v.networkRef(p+".network", g.Network, s)
	case g.Schedule != nil:
		v.schedule(p+".schedule", g.Schedule, s)
	default:
		v.missing(p, "network")
	}
	v.strategy(p+".strategy", &g.Strategy)
	if g.Radio != "auto" && g.Radio != "none" && !v.cat.Radio(g.Radio) {
		v.errorf(p+".radio", "unknown radio preset %q", g.Radio)
	}
	t := &g.TCP
	v.positive(p+".tcp.min_rto", t.MinRTO)
	if t.MaxRTO < t.MinRTO {
		v.errorf(p+".tcp.max_rto", "must be at least min_rto (%s), got %s", FormatDuration(t.MinRTO), FormatDuration(t.MaxRTO))
	}
	if t.MaxRetries < 0 || t.MaxRetries > 255 {
		v.errorf(p+".tcp.max_retries", "must be in [0,255], got %d", t.MaxRetries)
	}
	if t.SYNRetries < 0 || t.SYNRetries > 255 {
		v.errorf(p+".tcp.syn_retries", "must be in [0,255], got %d", t.SYNRetries)
	}
	v.nonNegative(p+".tcp.user_timeout", t.UserTimeout)
	switch g.Alarm.Model {
	case AlarmWindow, AlarmExact:
	default:
		v.errorf(p+".alarm.model", "unknown alarm model %q (window or exact)", g.Alarm.Model)
	}
	v.nonNegative(p+".alarm.coalesce", g.Alarm.Coalesce)
	if g.TLS.RoundTrips < 0 || g.TLS.RoundTrips > 4 {
		v.errorf(p+".tls.round_trips", "must be in [0,4], got %d", g.TLS.RoundTrips)
	}
	if g.TLS.ClientBytes < 0 {
		v.errorf(p+".tls.client_bytes", "must not be negative, got %d", g.TLS.ClientBytes)
	}
	if g.TLS.ServerBytes < 0 {
		v.errorf(p+".tls.server_bytes", "must not be negative, got %d", g.TLS.ServerBytes)
	}
	b := &g.Backoff
	switch b.Preset {
	case BackoffExponential:
		v.positive(p+".backoff.initial", b.Initial)
		if b.Multiplier < 1 {
			v.errorf(p+".backoff.multiplier", "must be at least 1, got %g", b.Multiplier)
		}
		if b.Max < b.Initial {
			v.errorf(p+".backoff.max", "must be at least initial (%s), got %s", FormatDuration(b.Initial), FormatDuration(b.Max))
		}
		v.fraction(p+".backoff.jitter", b.Jitter)
	case BackoffMicroG:
		for _, f := range []struct {
			name string
			zero bool
		}{{"initial", b.Initial == 0}, {"multiplier", b.Multiplier == 0}, {"max", b.Max == 0}, {"jitter", b.Jitter == 0}} {
			if !f.zero {
				v.errorf(p+".backoff."+f.name, "the microg preset is a fixed sequence; remove %s", f.name)
			}
		}
	default:
		v.errorf(p+".backoff.preset", "unknown backoff preset %q (exponential or microg)", b.Preset)
	}
	ka := g.PushKeepAlive
	switch {
	case ka < 0:
		v.errorf(p+".push_keepalive", "must not be negative, got %s", FormatDuration(ka))
	case ka%time.Second != 0:
		v.errorf(p+".push_keepalive", "must be whole seconds (MQTT keep-alive), got %s", FormatDuration(ka))
	case ka > 65535*time.Second:
		v.errorf(p+".push_keepalive", "must be at most 18h12m15s (65535 s, MQTT), got %s", FormatDuration(ka))
	}
	switch {
	case g.StartSpread < 0:
		v.errorf(p+".start_spread", "must not be negative, got %s", FormatDuration(g.StartSpread))
	case s.Duration > 0 && g.StartSpread > s.Duration:
		v.errorf(p+".start_spread", "%s is longer than the run (duration %s): some devices would never start",
			FormatDuration(g.StartSpread), FormatDuration(s.Duration))
	}
	v.transport(p, g, s)
	v.presenceGroup(p, g, s)
	v.apps(p, g, s)
}

func (v *validator) schedule(p string, sc *Schedule, s *Scenario) {
	v.positive(p+".period", sc.Period)
	if len(sc.Slots) == 0 {
		v.errorf(p+".slots", "at least one slot is required")
	}
	for i, sl := range sc.Slots {
		sp := indexPath(p+".slots", i)
		switch {
		case i == 0 && sl.At != 0:
			v.errorf(sp+".at", "the first slot must start at 0s, got %s", FormatDuration(sl.At))
		case i > 0 && sl.At <= sc.Slots[i-1].At:
			v.errorf(sp+".at", "slots must be in increasing order of at, got %s after %s", FormatDuration(sl.At), FormatDuration(sc.Slots[i-1].At))
		case sc.Period > 0 && sl.At >= sc.Period:
			v.errorf(sp+".at", "must be below the period %s, got %s", FormatDuration(sc.Period), FormatDuration(sl.At))
		}
		if sl.Network == "" {
			v.missing(sp, "network")
		} else {
			v.networkRef(sp+".network", sl.Network, s)
		}
	}
}

func (v *validator) strategy(p string, st *Strategy) {
	if st.Name == "" {
		if !v.src.has(p) {
			v.missing(p[:strings.LastIndex(p, ".")], "strategy")
		} else {
			v.missing(p, "name")
		}
		return
	}
	params, ok := v.cat.Strategy(st.Name)
	if !ok {
		v.errorf(p+".name", "unknown strategy %q", st.Name)
		return
	}
	for _, k := range sortedKeys(st.Params) {
		r := st.Params[k]
		pp := p + "." + k
		i := slices.IndexFunc(params, func(x Param) bool { return x.Name == k })
		if i < 0 {
			v.errs = append(v.errs, &Error{Pos: v.src.keyAt(pp), Path: p, Msg: fmt.Sprintf("strategy %s has no parameter %q", st.Name, k)})
			continue
		}
		v.param(pp, params[i].Kind, r)
	}
}

// param checks a strategy parameter's value against its kind.
func (v *validator) param(p string, kind ParamKind, r Raw) {
	n := r.Node()
	ok := n.Kind == yaml.ScalarNode
	tag := n.ShortTag()
	switch kind {
	case ParamDuration:
		if ok {
			d, err := ParseDuration(n.Value)
			if err != nil {
				v.errorf(p, "%v", err)
			} else {
				v.nonNegative(p, d)
			}
			return
		}
	case ParamInt:
		ok = ok && tag == "!!int"
	case ParamFloat:
		ok = ok && (tag == "!!int" || tag == "!!float")
	case ParamBool:
		ok = ok && tag == "!!bool"
	case ParamString:
		ok = ok && tag == "!!str"
	}
	if !ok {
		v.errorf(p, "expected a %s, got %s", kind, kindName(n))
	}
}

// capacity checks that every network's prefix has room for the devices
// that may be attached to it at once.
func (v *validator) capacity(s *Scenario) {
	need := map[string]int{}
	for _, name := range sortedKeys(s.Groups) {
		g := s.Groups[name]
		if g == nil {
			continue
		}
		seen := map[string]bool{g.Network: true}
		if g.Schedule != nil {
			for _, sl := range g.Schedule.Slots {
				seen[sl.Network] = true
			}
		}
		for _, e := range s.Timeline {
			if e.Type == EventHandover && e.Group == name {
				seen[e.To] = true
			}
		}
		for n := range seen {
			need[n] += g.Count
		}
	}
	for _, name := range sortedKeys(s.Networks) {
		n := s.Networks[name]
		if n == nil {
			continue
		}
		pf, err := netip.ParsePrefix(n.Prefix)
		if err != nil || !pf.Addr().Is4() || pf.Bits() < 8 || pf.Bits() > 30 {
			continue
		}
		if room := 1<<(32-pf.Bits()) - 3; need[name] > room {
			v.errorf("networks."+name+".prefix", "%s has room for %d devices, but up to %d may attach", pf, room, need[name])
		}
	}
}

func (v *validator) workload(p string, w *Workload, s *Scenario) {
	if w.Poisson == nil && w.Fixed == nil && w.Bursts == nil && w.Broadcast == nil {
		v.errorf(p, "no push model (set poisson, fixed, bursts or broadcast)")
	}
	if w.Poisson != nil && !(w.Poisson.RatePerHour > 0) {
		v.errorf(p+".poisson.rate_per_hour", "must be positive, got %g", w.Poisson.RatePerHour)
	}
	if f := w.Fixed; f != nil {
		v.positive(p+".fixed.every", f.Every)
		if f.Offset < 0 || (f.Every > 0 && f.Offset >= f.Every) {
			v.errorf(p+".fixed.offset", "must be in [0s, every), got %s", FormatDuration(f.Offset))
		}
	}
	if b := w.Bursts; b != nil {
		v.positive(p+".bursts.every", b.Every)
		if b.Size < 1 {
			v.errorf(p+".bursts.size", "must be at least 1, got %d", b.Size)
		}
		v.nonNegative(p+".bursts.spread", b.Spread)
	}
	if b := w.Broadcast; b != nil {
		if len(b.At) == 0 {
			v.errorf(p+".broadcast.at", "at least one time is required")
		}
		for i, at := range b.At {
			if at < 0 || at > s.Duration {
				v.errorf(indexPath(p+".broadcast.at", i), "must be within the run [0s, %s], got %s", FormatDuration(s.Duration), FormatDuration(at))
			}
		}
	}
	if w.QoS != 0 && w.QoS != 1 {
		v.errorf(p+".qos", "must be 0 or 1, got %d", w.QoS)
	}
	v.nonNegative(p+".ttl", w.TTL)
	if w.PayloadBytes < 0 || w.PayloadBytes > 4096 {
		v.errorf(p+".payload_bytes", "must be in [0,4096], got %d", w.PayloadBytes)
	}
}

// eventFields lists, per event type, the fields it takes besides at and type.
var eventFields = map[EventType][]string{
	EventNATReboot:           {"network", "layer", "fraction"},
	EventPublicAddressChange: {"network", "layer"},
	EventLinkOutage:          {"network", "link", "duration"},
	EventHandover:            {"group", "fraction", "to"},
	EventTimeoutChange:       {"network", "layer", "overrides"},
	EventAddressChange:       {"group", "fraction"},
	EventQUICServerRestart:   {"group"},
	EventDeviceOff:           {"group", "fraction", "duration"},
	EventCoverageLoss:        {"group", "fraction", "duration"},
	EventAppSuspended:        {"group", "fraction", "duration"},
}

var eventRequired = map[EventType][]string{
	EventNATReboot:           {"network"},
	EventPublicAddressChange: {"network"},
	EventLinkOutage:          {"network", "duration"},
	EventHandover:            {"group", "to"},
	EventTimeoutChange:       {"network", "layer", "overrides"},
	EventAddressChange:       {"group"},
	EventQUICServerRestart:   {"group"},
	EventDeviceOff:           {"group"},
	EventCoverageLoss:        {"group", "duration"},
	EventAppSuspended:        {"group", "duration"},
}

func (v *validator) event(p string, e *Event, s *Scenario) {
	has := v.src.has
	if !has(p + ".at") {
		v.missing(p, "at")
	} else if e.At < 0 || e.At > s.Duration {
		v.errorf(p+".at", "must be within the run [0s, %s], got %s", FormatDuration(s.Duration), FormatDuration(e.At))
	}
	fields, ok := eventFields[e.Type]
	if !ok {
		if e.Type == "" {
			v.missing(p, "type")
		} else {
			v.errorf(p+".type", "unknown event type %q (nat-reboot, public-address-change, link-outage, handover, timeout-change, address-change, quic-server-restart, device-off, coverage-loss, app-suspended)", e.Type)
		}
		return
	}
	for _, f := range []string{"network", "layer", "link", "duration", "group", "fraction", "to", "overrides"} {
		if has(p+"."+f) && !slices.Contains(fields, f) {
			v.errs = append(v.errs, &Error{Pos: v.src.keyAt(p + "." + f), Path: p, Msg: fmt.Sprintf("field %q does not apply to %s events", f, e.Type)})
		}
	}
	for _, f := range eventRequired[e.Type] {
		if !has(p + "." + f) {
			v.missing(p, f)
		}
	}
	if e.Network != "" {
		v.networkRef(p+".network", e.Network, s)
	}
	if e.Layer != nil {
		if n := s.Networks[e.Network]; n != nil && (*e.Layer < 0 || *e.Layer >= len(n.NAT)) {
			v.errorf(p+".layer", "network %q has %d NAT layers; layer %d does not exist", e.Network, len(n.NAT), *e.Layer)
		}
	} else if n := s.Networks[e.Network]; n != nil && len(n.NAT) == 0 && (e.Type == EventNATReboot || e.Type == EventPublicAddressChange) {
		v.errorf(p+".network", "network %q has no NAT", e.Network)
	}
	if e.Type == EventLinkOutage {
		v.positive(p+".duration", e.Duration)
		if e.Link != LinkAccess && e.Link != LinkCore {
			v.errorf(p+".link", "unknown link %q (access or core)", e.Link)
		}
	}
	if e.Group != "" {
		if g, ok := s.Groups[e.Group]; !ok {
			v.errorf(p+".group", "no group named %q", e.Group)
		} else if e.Type == EventQUICServerRestart && g != nil && !g.usesQUIC() {
			v.errorf(p+".group", "group %q runs on %s and has no own app on quic; quic-server-restart needs a QUIC connection (the group's transport or an own app's)", e.Group, g.Transport.Name)
		}
	}
	if slices.Contains(fields, "fraction") && !(e.Fraction > 0 && e.Fraction <= 1) {
		v.errorf(p+".fraction", "must be in (0,1], got %g", e.Fraction)
	}
	if e.To != "" {
		v.networkRef(p+".to", e.To, s)
	}
	if e.Type == EventTimeoutChange {
		v.overrides(p+".overrides", e.Overrides)
	}
	v.presenceEvent(p, e, s)
}

func (v *validator) outputs(s *Scenario) {
	o := &s.Outputs
	for i, sel := range o.Pcap {
		p := indexPath("outputs.pcap", i)
		m := selectorRE.FindStringSubmatch(sel)
		if m == nil {
			v.errorf(p, "%q: want group/index or group/*", sel)
			continue
		}
		g, ok := s.Groups[m[1]]
		if !ok {
			v.errorf(p, "no group named %q", m[1])
			continue
		}
		if m[2] != "*" {
			if i, err := strconv.Atoi(m[2]); err != nil || g == nil || i >= g.Count {
				v.errorf(p, "%q: group %s has devices 0 to %d", sel, m[1], max(0, countOf(g)-1))
			}
		}
	}
	for i, pl := range o.Plots {
		if !slices.Contains(Plots, pl) {
			v.errorf(indexPath("outputs.plots", i), "unknown plot %q (%s)", pl, strings.Join(Plots, ", "))
		}
	}
	for i, f := range o.Formats {
		if !slices.Contains(Formats, f) {
			v.errorf(indexPath("outputs.formats", i), "unknown format %q (%s)", f, strings.Join(Formats, ", "))
		}
	}
	v.positive("outputs.on_time", o.OnTime)
	switch o.PlotFormat {
	case "svg", "png", "pdf":
	default:
		v.errorf("outputs.plot_format", "unknown plot format %q (svg, png or pdf)", o.PlotFormat)
	}
}

func countOf(g *Group) int {
	if g == nil {
		return 0
	}
	return g.Count
}

// maxRuns bounds the size of a sweep.
const maxRuns = 1_000_000

func (v *validator) sweep(s *Scenario) {
	sw := s.Sweep
	if sw.Replicates < 1 {
		v.errorf("sweep.replicates", "must be at least 1, got %d", sw.Replicates)
	}
	runs := max(sw.Replicates, 1)
	for _, a := range sw.Grid {
		p := "sweep.grid." + a.Path
		for _, path := range a.Paths() {
			if _, err := parsePath(path); err != nil {
				v.keyErrorf(p, "%v", err)
			} else if strings.HasPrefix(path, "sweep") {
				v.keyErrorf(p, "a sweep cannot change the sweep")
			}
		}
		if len(a.Values) == 0 && !v.src.bad[p] {
			v.errorf(p, "needs at least one value")
		}
		runs *= max(len(a.Values), 1)
		if runs > maxRuns {
			v.errorf("sweep", "more than %d runs", maxRuns)
			return
		}
	}
}
