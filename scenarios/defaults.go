package scenarios

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Defaults, each documented at its field and in docs/scenarios.md.
const (
	DefaultSeed            = 1
	DefaultServerPort      = 5223 // APNs device port
	DefaultKeepAliveFactor = 1.5  // MQTT 3.1.1 section 3.1.2.10
	DefaultOfflineN        = 100  // FCM per-device non-collapsible limit
	DefaultOfflineTTL      = 28 * Day
	DefaultWorkloadTTL     = Day
	DefaultPayloadBytes    = 256
)

// linkDefaults are the default access-link parameters per network kind.
var linkDefaults = map[NetworkKind][2]time.Duration{
	KindWiFi:     {5 * time.Millisecond, 2 * time.Millisecond},
	KindCellular: {40 * time.Millisecond, 10 * time.Millisecond},
	KindEthernet: {1 * time.Millisecond, 0},
}

// applyDefaults fills every field the source did not write with its
// default. An explicit zero is kept (and validated).
func (s *Scenario) applyDefaults() {
	src := s.src
	has := src.has
	if !has("seed") {
		s.Seed = DefaultSeed
	}
	if !has("clock") {
		s.Clock = ClockVirtual
	}
	if !has("partitions") {
		s.Partitions = 1
	}
	s.Server.applyDefaults(has)

	names := sortedKeys(s.Networks)
	for _, name := range names {
		n := s.Networks[name]
		if n == nil {
			continue
		}
		p := "networks." + name
		ad := linkDefaults[n.Kind]
		n.Access.applyDefaults(has, p+".access", ad[0], ad[1])
		n.Core.applyDefaults(has, p+".core", 20*time.Millisecond, 2*time.Millisecond)
		for i := range n.NAT {
			l := &n.NAT[i]
			if !has(indexPath(p+".nat", i) + ".scope") {
				l.Scope = ScopeShared
				if i == 0 && (n.Kind == KindWiFi || n.Kind == KindEthernet) {
					l.Scope = ScopePerDevice
				}
			}
		}
	}
	assignPrefixes(s.Networks, names)

	for _, name := range sortedKeys(s.Groups) {
		g := s.Groups[name]
		if g == nil {
			continue
		}
		p := "groups." + name
		if g.Schedule != nil && !has(p+".schedule.period") {
			g.Schedule.Period = Day
		}
		if !has(p + ".radio") {
			g.Radio = "auto"
		}
		def := func(field string, set func()) {
			if !has(p + "." + field) {
				set()
			}
		}
		def("tcp.min_rto", func() { g.TCP.MinRTO = 200 * time.Millisecond })
		def("tcp.max_rto", func() { g.TCP.MaxRTO = 120 * time.Second })
		def("tcp.max_retries", func() { g.TCP.MaxRetries = 15 })
		def("tcp.syn_retries", func() { g.TCP.SYNRetries = 6 })
		def("alarm.model", func() { g.Alarm.Model = AlarmWindow })
		// QUIC has its own handshake; a QUIC group's own app on TCP has TLS.
		if g.Transport.Name != TransportQUIC || g.hasOwnTCPApp() {
			def("tls.round_trips", func() { g.TLS.RoundTrips = 2 })
			def("tls.client_bytes", func() { g.TLS.ClientBytes = 600 })
			def("tls.server_bytes", func() { g.TLS.ServerBytes = 4500 })
		}
		def("backoff.preset", func() { g.Backoff.Preset = BackoffExponential })
		g.Transport.applyDefaults(has, p+".transport")
		if g.Backoff.Preset == BackoffExponential {
			def("backoff.initial", func() { g.Backoff.Initial = time.Second })
			def("backoff.multiplier", func() { g.Backoff.Multiplier = 2 })
			def("backoff.max", func() { g.Backoff.Max = 5 * time.Minute })
			def("backoff.jitter", func() { g.Backoff.Jitter = 0.5 })
		}
	}

	for _, name := range sortedKeys(s.Workload) {
		w := s.Workload[name]
		if w == nil {
			continue
		}
		w.applyDefaults(has, "workload."+name)
	}
	presenceDefaults(s, has)
	s.applyAppDefaults()

	for i := range s.Timeline {
		e := &s.Timeline[i]
		p := indexPath("timeline", i)
		if e.Type == EventLinkOutage && !has(p+".link") {
			e.Link = LinkAccess
		}
		switch e.Type {
		case EventHandover, EventAddressChange, EventNATReboot:
			if !has(p + ".fraction") {
				e.Fraction = 1
			}
		}
		if (e.Type == EventNATReboot || e.Type == EventPublicAddressChange) && e.Layer == nil && !has(p+".layer") {
			if n := s.Networks[e.Network]; n != nil && len(n.NAT) > 0 {
				l := len(n.NAT) - 1
				e.Layer = &l
			}
		}
	}

	if !has("outputs.formats") {
		s.Outputs.Formats = slices.Clone(Formats)
	}
	if !has("outputs.plot_format") {
		s.Outputs.PlotFormat = "svg"
	}
	if !has("outputs.on_time") {
		s.Outputs.OnTime = DefaultOnTime
	}
	if s.Sweep != nil && !has("sweep.replicates") {
		s.Sweep.Replicates = 1
	}
}

func (w *Workload) applyDefaults(has func(string) bool, p string) {
	if !has(p + ".qos") {
		w.QoS = 1
	}
	if !has(p + ".ttl") {
		w.TTL = DefaultWorkloadTTL
	}
	if !has(p + ".payload_bytes") {
		w.PayloadBytes = DefaultPayloadBytes
	}
	if w.Bursts != nil && !has(p+".bursts.spread") {
		w.Bursts.Spread = time.Second
	}
}

func (srv *Server) applyDefaults(has func(string) bool) {
	if srv.External != "" {
		return
	}
	if !has("server.port") {
		srv.Port = DefaultServerPort
	}
	if !has("server.keepalive_factor") {
		srv.KeepAliveFactor = DefaultKeepAliveFactor
	}
	if srv.Offline == nil {
		srv.Offline = &OfflineStore{}
	}
	if !has("server.offline.policy") {
		srv.Offline.Policy = OfflineKeepLast
	}
	if !has("server.offline.n") {
		if srv.Offline.Policy == OfflineKeepN {
			srv.Offline.N = DefaultOfflineN
		}
	}
	if !has("server.offline.ttl") {
		srv.Offline.TTL = DefaultOfflineTTL
	}
	if srv.TCP == nil {
		srv.TCP = &ServerTCP{}
	}
	if !has("server.tcp.keepalive_interval") {
		srv.TCP.KeepAliveInterval = 75 * time.Second
	}
	if !has("server.tcp.keepalive_count") {
		srv.TCP.KeepAliveCount = 9
	}
}

func (l *Link) applyDefaults(has func(string) bool, p string, latency, jitter time.Duration) {
	if !has(p + ".latency") {
		l.Latency = latency
	}
	if !has(p + ".jitter") {
		l.Jitter = jitter
	}
}

// assignPrefixes gives every network without a prefix the next free
// 10.N.0.0/16 (N from 1), in name order, avoiding explicit prefixes.
func assignPrefixes(nets map[string]*Network, names []string) {
	var taken []netip.Prefix
	for _, name := range names {
		if n := nets[name]; n != nil && n.Prefix != "" {
			if p, err := netip.ParsePrefix(n.Prefix); err == nil {
				taken = append(taken, p)
			}
		}
	}
	next := 1
	for _, name := range names {
		n := nets[name]
		if n == nil || n.Prefix != "" {
			continue
		}
		for ; next < 256; next++ {
			p := netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", next))
			if !slices.ContainsFunc(taken, p.Overlaps) {
				n.Prefix = p.String()
				taken = append(taken, p)
				next++
				break
			}
		}
	}
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
