package scenarios

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// App is one app on every device of a group: its pushes, and whether they
// travel on the device's one shared push connection (iOS apsd to APNs,
// Google Play services to FCM: one connection, apps addressed by device
// token or topic) or on a connection of the app's own (Telegram, WeChat,
// MQTT clients without the platform service: their own keep-alives, NAT
// mapping and reconnects). Research notes: quic-presence-facts.md §4.
type App struct {
	// Name names the app in results ("phones/chat" in expectations). Lower
	// case letters, digits, '_' and '-', unique in the group. Required.
	Name string `yaml:"name" jsonschema:"required"`
	// Connection is "shared" (default: multiplexed on the device's push
	// connection, which the group's strategy keeps alive) or "own" (a push
	// client and connection of the app's own).
	Connection AppConnection `yaml:"connection"`
	// Strategy is an own-connection app's keep-alive strategy. Default: the
	// group's. A shared app takes none: the device's connection has one.
	Strategy *Strategy `yaml:"strategy,omitempty"`
	// Workload is the push traffic sent to the app on every device of the
	// group, as a top-level workload entry. Absent: the app gets no pushes.
	Workload *Workload `yaml:"workload,omitempty"`
	// Transport is an own-connection app's transport, written as a group's
	// (TCP or QUIC). Default: the group's. A shared app takes none: it
	// rides the device's connection.
	Transport *Transport `yaml:"transport,omitempty"`
	// Server is the built-in push server of an own-connection app's
	// provider (the app's own servers, not the platform's): the settings of
	// the top-level server, each field defaulting to the top-level one's.
	// Every own app connects to a server of its own, on a host of its own;
	// own apps of the same name in different groups share it (an app is
	// one provider), so their settings must agree. external is not
	// supported here. A shared app takes none.
	Server *Server `yaml:"server,omitempty"`
}

// AppConnection says which connection an app's pushes use.
type AppConnection string

// The app connections.
const (
	AppShared AppConnection = "shared"
	AppOwn    AppConnection = "own"
)

// AppMetrics are the metrics an expectation may name for one app, written
// "delivery_ratio@group/app". Energy, keep-alives and QUIC events of a
// shared app are the shared connection's, so they are per app only for own
// connections (zero for a shared app).
var AppMetrics = []string{"pushes_sent", "pushes_delivered", "delivery_ratio", "ontime_ratio", "latency_s",
	"keepalives_per_device_hour", "reconnects", "energy_j_per_device_day",
	"quic_migrations", "quic_idle_closes", "quic_stateless_resets"}

// HasApps reports whether any group of s lists apps.
func (s *Scenario) HasApps() bool {
	for _, g := range s.Groups {
		if g != nil && len(g.Apps) > 0 {
			return true
		}
	}
	return false
}

// applyAppDefaults fills every app's connection and workload defaults.
func (s *Scenario) applyAppDefaults() {
	has := s.src.has
	for _, name := range sortedKeys(s.Groups) {
		g := s.Groups[name]
		if g == nil {
			continue
		}
		for i := range g.Apps {
			a := &g.Apps[i]
			p := indexPath("groups."+name+".apps", i)
			if !has(p + ".connection") {
				a.Connection = AppShared
			}
			if a.Workload != nil {
				a.Workload.applyDefaults(has, p+".workload")
			}
			if a.Connection != AppOwn {
				continue
			}
			if a.Transport == nil {
				t := g.Transport
				a.Transport = &t
			} else {
				a.Transport.applyDefaults(has, p+".transport")
			}
			a.Server = s.Server.inherit(a.Server, has, p+".server")
		}
	}
}

// inherit returns the settings of an app's server: top's, with the fields
// own (written at path p) sets in its place. A nil own gives a copy of top.
func (top Server) inherit(own *Server, has func(string) bool, p string) *Server {
	r := top
	if top.Offline != nil {
		o := *top.Offline
		r.Offline = &o
	}
	if top.TCP != nil {
		t := *top.TCP
		r.TCP = &t
	}
	if own == nil {
		return &r
	}
	set := func(field string, f func()) {
		if has(p + "." + field) {
			f()
		}
	}
	set("external", func() { r.External = own.External })
	set("port", func() { r.Port = own.Port })
	set("keepalive_factor", func() { r.KeepAliveFactor = own.KeepAliveFactor })
	set("heartbeat", func() { r.Heartbeat = own.Heartbeat })
	set("heartbeat_timeout", func() { r.HeartbeatTimeout = own.HeartbeatTimeout })
	if o := own.Offline; o != nil {
		if r.Offline == nil {
			r.Offline = &OfflineStore{}
		}
		set("offline.policy", func() {
			r.Offline.Policy = o.Policy
			r.Offline.N = 0
			if o.Policy == OfflineKeepN {
				r.Offline.N = DefaultOfflineN
			}
		})
		set("offline.n", func() { r.Offline.N = o.N })
		set("offline.ttl", func() { r.Offline.TTL = o.TTL })
	}
	if t := own.TCP; t != nil {
		if r.TCP == nil {
			r.TCP = &ServerTCP{}
		}
		set("tcp.keepalive_idle", func() { r.TCP.KeepAliveIdle = t.KeepAliveIdle })
		set("tcp.keepalive_interval", func() { r.TCP.KeepAliveInterval = t.KeepAliveInterval })
		set("tcp.keepalive_count", func() { r.TCP.KeepAliveCount = t.KeepAliveCount })
		set("tcp.user_timeout", func() { r.TCP.UserTimeout = t.UserTimeout })
	}
	return &r
}

// apps checks a group's apps.
func (v *validator) apps(p string, g *Group, s *Scenario) {
	if !v.src.has(p + ".apps") {
		return
	}
	if len(g.Apps) == 0 {
		v.errorf(p+".apps", "at least one app is required (remove apps for the device's single connection)")
		return
	}
	if s.Server.External != "" {
		v.errorf(p+".apps", "apps need the built-in server (server.external is set)")
	}
	name := strings.TrimPrefix(p, "groups.")
	if _, ok := s.Workload[name]; ok {
		v.keyErrorf("workload."+name, "group %q lists apps; give each app its workload (groups.%s.apps[].workload)", name, name)
	}
	seen := map[string]int{}
	for i := range g.Apps {
		a := &g.Apps[i]
		ap := indexPath(p+".apps", i)
		switch {
		case !v.src.has(ap + ".name"):
			v.missing(ap, "name")
		case !entryRE.MatchString(a.Name):
			v.errorf(ap+".name", "app name %q: use lower-case letters, digits, '_' and '-', starting with a letter", a.Name)
		default:
			if j, dup := seen[a.Name]; dup {
				v.errorf(ap+".name", "duplicate app name %q (also %s)", a.Name, indexPath(p+".apps", j))
			} else {
				seen[a.Name] = i
			}
		}
		switch a.Connection {
		case AppShared:
			if a.Strategy != nil {
				v.errorf(ap+".strategy", "app %q uses the device's shared connection, kept alive by %s.strategy; remove strategy or set connection: own", a.Name, p)
			}
			if v.src.has(ap + ".transport") {
				v.errorf(ap+".transport", "app %q rides the device's shared connection, which runs on %s.transport; remove transport or set connection: own", a.Name, p)
			}
			if v.src.has(ap + ".server") {
				v.errorf(ap+".server", "app %q rides the device's shared connection to the platform's push server (top-level server); remove server or set connection: own", a.Name)
			}
		case AppOwn:
			if a.Strategy != nil {
				v.strategy(ap+".strategy", a.Strategy)
			}
			v.appTransport(ap, a, p, g, s)
			v.appServer(ap, a, name, s)
		default:
			v.errorf(ap+".connection", "unknown connection %q (shared or own)", a.Connection)
		}
		if a.Workload != nil {
			v.workload(ap+".workload", a.Workload, s)
		}
	}
}

// appTransport checks an own app's transport (its own, or the group's
// with the app's strategy): the same rules and QUIC keep-alive warning as
// a group's, with the app's strategy and transport.
func (v *validator) appTransport(ap string, a *App, gp string, g *Group, s *Scenario) {
	own := v.src.has(ap + ".transport")
	if a.Transport == nil || (!own && a.Strategy == nil) {
		return // the group's transport and strategy: checked with the group
	}
	tp := ap + ".transport"
	if !own {
		tp = gp + ".transport"
	}
	if own && !v.transportSettings(tp, a.Transport, s) {
		return
	}
	if a.Transport.Name != TransportQUIC {
		return
	}
	st, sp := &g.Strategy, gp+".strategy"
	if a.Strategy != nil {
		st, sp = a.Strategy, ap+".strategy"
	}
	if st.Name == tcpKeepAliveStrategy {
		v.errorf(sp+".name", "%s keeps alive with TCP keep-alive, which app %q's quic connection (%s) does not have; use an application strategy (its interval is the PING interval)", tcpKeepAliveStrategy, a.Name, tp)
		return
	}
	v.quicKeepAliveWarning(sp, st, a.Transport.Effective())
}

// appServer checks an own app's server: built in, valid, and the same as
// the server of the same app in any group before this one (an app's
// server is one provider's, keyed by the app's name).
func (v *validator) appServer(ap string, a *App, group string, s *Scenario) {
	sp := ap + ".server"
	if v.src.has(sp + ".external") {
		v.errorf(sp+".external", "an app's server is built in; external applies to the top-level server only")
		return
	}
	if v.src.has(sp) && a.Server != nil {
		v.builtinServer(sp, a.Server)
	}
	for _, gn := range sortedKeys(s.Groups) {
		if gn >= group {
			return
		}
		og := s.Groups[gn]
		if og == nil {
			continue
		}
		for j := range og.Apps {
			o := &og.Apps[j]
			if o.Name == a.Name && o.Connection == AppOwn && !reflect.DeepEqual(o.Server, a.Server) {
				at := sp
				if !v.src.has(sp) {
					at = ap
				}
				v.errorf(at, "app %q's server differs from groups.%s.apps[%d]'s: an app is one provider with one server, shared by every group (give both the same server settings)", a.Name, gn, j)
				return
			}
		}
	}
}

// expectGroup checks an expectation's group: a group name, or
// "group/app" for an app's metric.
func (v *validator) expectGroup(p string, e Expectation, s *Scenario) {
	gname, app, isApp := strings.Cut(e.Group, "/")
	g, ok := s.Groups[gname]
	if !ok {
		v.errorf(p, "no group named %q", gname)
		return
	}
	if !isApp {
		return
	}
	if g == nil || !slices.ContainsFunc(g.Apps, func(a App) bool { return a.Name == app }) {
		v.errorf(p, "group %q has no app named %q", gname, app)
		return
	}
	base, _, _ := strings.Cut(e.Metric, ".")
	if !slices.Contains(AppMetrics, base) {
		v.errorf(p, "metric %q is not measured per app (per app: %s)", base, strings.Join(AppMetrics, ", "))
	}
}

// ConnectsToPlatform reports whether the group's devices hold a connection
// to the top-level server: they do without apps and with a shared app; a
// group whose apps all have their own connection talks only to its apps'
// servers.
func (g *Group) ConnectsToPlatform() bool {
	if len(g.Apps) == 0 {
		return true
	}
	for i := range g.Apps {
		if g.Apps[i].Connection != AppOwn {
			return true
		}
	}
	return false
}

// serverTLS checks that each built-in server speaks one TLS model: the
// groups that reach the top-level server over TCP agree on tls, and so do
// the groups whose own app of one name (one provider, one server) runs on
// TCP. QUIC connections carry TLS inside their handshake and are not held
// to it.
func (v *validator) serverTLS(s *Scenario) {
	type first struct {
		group string
		tls   TLSCost
	}
	var platform *first
	apps := map[string]*first{}
	check := func(f **first, gn string, g *Group, what string) {
		if *f == nil {
			*f = &first{gn, g.TLS}
			return
		}
		if (*f).tls == g.TLS {
			return
		}
		at := "groups." + gn + ".tls"
		if !v.src.has(at) {
			at = "groups." + gn
		}
		v.errorf(at, "%s speaks one TLS model: this group's tls differs from groups.%s's (every group reaching it over TCP must use the same)", what, (*f).group)
	}
	for _, gn := range sortedKeys(s.Groups) {
		g := s.Groups[gn]
		if g == nil {
			continue
		}
		if g.Transport.Name != TransportQUIC && g.ConnectsToPlatform() {
			check(&platform, gn, g, "the built-in server")
		}
		for i := range g.Apps {
			a := &g.Apps[i]
			if a.Connection != AppOwn {
				continue
			}
			t := g.Transport
			if a.Transport != nil {
				t = *a.Transport
			}
			if t.Name == TransportQUIC {
				continue
			}
			f := apps[a.Name]
			check(&f, gn, g, fmt.Sprintf("app %q's server", a.Name))
			apps[a.Name] = f
		}
	}
}
