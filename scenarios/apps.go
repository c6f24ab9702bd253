package scenarios

import (
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
}

// AppConnection says which connection an app's pushes use.
type AppConnection string

// The app connections.
const (
	AppShared AppConnection = "shared"
	AppOwn    AppConnection = "own"
)

// AppMetrics are the metrics an expectation may name for one app, written
// "delivery_ratio@group/app". Energy and keep-alives of a shared app are
// the shared connection's, so they are per app only for own connections.
var AppMetrics = []string{"pushes_sent", "pushes_delivered", "delivery_ratio", "ontime_ratio", "latency_s",
	"keepalives_per_device_hour", "reconnects", "energy_j_per_device_day"}

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
		}
	}
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
		case AppOwn:
			if a.Strategy != nil {
				v.strategy(ap+".strategy", a.Strategy)
			}
		default:
			v.errorf(ap+".connection", "unknown connection %q (shared or own)", a.Connection)
		}
		if a.Workload != nil {
			v.workload(ap+".workload", a.Workload, s)
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
