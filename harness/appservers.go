package harness

import (
	"fmt"
	"net/netip"
	"reflect"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/scenarios"
	"github.com/natsim/natsim/sim/push"
)

// Own apps' servers. An app with its own connection (Telegram, WeChat, an
// MQTT client) talks to its provider's servers, not to the platform's push
// service: each own app connects to a built-in push server of its own, on
// a host of its own (its own public address), so its NAT mappings have
// their own destination and its sessions, offline store and heartbeats are
// its own. The server is keyed by the app's name: own apps of the same
// name in different groups are one provider and share one server (the
// loader checks that their server settings agree). Its settings are the
// app's server field, each defaulting to the top-level server's.
//
// Addresses: the platform's server is ServerAddr (192.0.2.10); the own
// apps' servers follow it in TEST-NET-1 in app-name order (192.0.2.11,
// .12, ...). Ports: each listens on its settings' TCP port; a group whose
// app runs on QUIC gets a UDP listener of its own on the app's host, at
// that port plus the index of the (group, app) pair among the app's QUIC
// pairs in group order, as QUIC groups do on the platform's server.

// maxAppServers bounds the own apps' servers: the addresses after
// ServerAddr in 192.0.2.0/24, up to .254.
const maxAppServers = 254 - 10

// appServers are the own apps' servers of a run and their transports.
type appServers struct {
	byName map[string]*builtServer
	tcp    map[netip.AddrPort]bool // the servers' TCP listeners
	// transports of each group's own apps, by group name, in app order
	// (nil for a shared app); built with the group's first device.
	transports map[string][]*groupTransport
	quicN      map[string]int // QUIC listeners opened per app server
}

// buildAppServers builds one server per own app name, in name order,
// after the platform's. Without own apps it builds nothing, so scenarios
// without them are unchanged.
func (r *runner) buildAppServers(gnames []string) error {
	type app struct {
		where string
		cfg   *scenarios.Server
		tls   *scenarios.TLSCost
	}
	apps := map[string]*app{}
	for _, gn := range gnames {
		g := r.sc.Groups[gn]
		for i := range g.Apps {
			a := &g.Apps[i]
			if a.Connection != scenarios.AppOwn {
				continue
			}
			where := fmt.Sprintf("groups.%s.apps[%d].server", gn, i)
			cfg := a.Server
			if cfg == nil {
				cfg = &r.sc.Server
			}
			e := apps[a.Name]
			if e == nil {
				e = &app{where: where, cfg: cfg}
				apps[a.Name] = e
			} else if !reflect.DeepEqual(e.cfg, cfg) {
				return fmt.Errorf("%s: app %q's server differs from %s: an app is one provider with one server", where, a.Name, e.where)
			}
			if a.Transport != nil && a.Transport.Name == scenarios.TransportQUIC {
				continue // TLS is inside the QUIC handshake
			}
			t := g.TLS
			if e.tls == nil {
				e.tls = &t
			} else if *e.tls != t {
				return fmt.Errorf("groups.%s.tls: app %q's server speaks one TLS model; every group whose %q runs on TCP must use the same", gn, a.Name, a.Name)
			}
		}
	}
	if len(apps) == 0 {
		return nil
	}
	if len(apps) > maxAppServers {
		return fmt.Errorf("groups: %d apps with their own connection need a server each; at most %d", len(apps), maxAppServers)
	}
	r.appSrv = &appServers{byName: map[string]*builtServer{}, tcp: map[netip.AddrPort]bool{},
		transports: map[string][]*groupTransport{}, quicN: map[string]int{}}
	base := ServerAddr.As4()
	for k, name := range sortedKeys(apps) {
		e := apps[name]
		addr := netip.AddrFrom4([4]byte{base[0], base[1], base[2], base[3] + byte(k+1)})
		bs, err := r.newServer(e.where, "server-"+name, e.cfg, e.tls, addr)
		if err != nil {
			return err
		}
		r.appSrv.byName[name] = bs
		r.appSrv.tcp[bs.ap] = true
	}
	return nil
}

// appTransports returns group g's own apps' transports, in app order
// (nil entries for shared apps), building them on first use.
func (r *runner) appTransports(g *groupState) []*groupTransport {
	if r.appSrv == nil {
		return nil
	}
	return r.appSrv.transports[g.name]
}

// buildAppTransports gives each own app of group g its transport to its
// app's server.
func (r *runner) buildAppTransports(g *groupState) error {
	as := r.appSrv
	if as == nil {
		return nil
	}
	if _, done := as.transports[g.name]; done {
		return nil
	}
	trs := make([]*groupTransport, len(g.cfg.Apps))
	for i := range g.cfg.Apps {
		a := &g.cfg.Apps[i]
		if a.Connection != scenarios.AppOwn {
			continue
		}
		t := g.cfg.Transport
		if a.Transport != nil {
			t = *a.Transport
		}
		bs := as.byName[a.Name]
		gt, err := r.newTransport(fmt.Sprintf("groups.%s.apps[%d].transport", g.name, i), t, bs, as.quicN[a.Name], g.name, a.Name)
		if err != nil {
			return err
		}
		if t.Name == scenarios.TransportQUIC {
			as.quicN[a.Name]++
		}
		trs[i] = gt
	}
	as.transports[g.name] = trs
	return nil
}

// usesQUIC reports whether group g's devices have a QUIC connection: the
// group's, or an own app's.
func (r *runner) usesQUIC(g *groupState) bool {
	for _, gt := range r.appTransports(g) {
		if gt != nil && gt.cfg.Name == scenarios.TransportQUIC {
			return true
		}
	}
	return g.isQUIC()
}

// appServer returns own app name's server.
func (r *runner) appServer(name string) *builtServer {
	if r.appSrv == nil {
		return nil
	}
	return r.appSrv.byName[name]
}

// isPushServer reports whether ap is a built-in server's listener for
// protocol proto: the platform's or an own app's TCP listener, or any QUIC
// group's or app's UDP listener (each at its own port, transport.go).
func (r *runner) isPushServer(proto nat.Protocol, ap netip.AddrPort) bool {
	switch proto {
	case nat.ProtoTCP:
		return ap == r.srvAP || (r.appSrv != nil && r.appSrv.tcp[ap])
	case nat.ProtoUDP:
		return r.quicAPs[ap]
	}
	return false
}

// eachServer applies f to every built-in server: the platform's, then the
// own apps' in name order; of a view, every partition's in turn.
func (r *runner) eachServer(f func(*push.Server)) {
	if r.view {
		for _, p := range r.parts {
			p.eachServer(f)
		}
		return
	}
	if r.srv != nil {
		f(r.srv)
	}
	if r.appSrv == nil {
		return
	}
	for _, name := range sortedKeys(r.appSrv.byName) {
		f(r.appSrv.byName[name].srv)
	}
}

// serverOf returns the server a connection of ds carries: app's own
// server, or the platform's for the device's connection (app nil).
func (r *runner) serverOf(app *appState) *push.Server {
	if app != nil && app.srv != nil {
		return app.srv.srv
	}
	return r.srv
}
