package harness

import (
	"context"
	"testing"
)

// ownServersScenario: group a has a shared app and an own app (chat) on
// QUIC with server settings of its own; group b has chat on TCP. Both
// groups' chat connect to one chat server, not to the platform's.
const ownServersScenario = `name: t
duration: 40m
seed: 3
networks:
  lte:
    kind: cellular
    nat: [{preset: cgnat-typical, scope: shared}]
groups:
  a:
    count: 2
    network: lte
    strategy: {name: fixed, interval: 120s}
    apps:
      - {name: mail, workload: {fixed: {every: 5m}}}
      - name: chat
        connection: own
        transport: {name: quic}
        strategy: {name: fixed, interval: 20s}
        server: {keepalive_factor: 2, heartbeat: 10m}
        workload: {fixed: {every: 5m}}
  b:
    count: 2
    network: lte
    strategy: {name: fixed, interval: 120s}
    apps:
      - {name: chat, connection: own, server: {keepalive_factor: 2, heartbeat: 10m}, workload: {fixed: {every: 5m}}}
`

// cgnatGroupG starts a group g on LTE behind cgnat-typical.
const cgnatGroupG = `networks:
  lte: {kind: cellular, nat: [{preset: cgnat-typical, scope: shared}]}
groups:
  g:
    network: lte
`

// runRunner builds and runs src, returning the runner for inspection.
func runRunner(t *testing.T, src string) *runner {
	t.Helper()
	r, err := build(loadString(t, src), Options{}, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.w.Close)
	if err := r.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOwnAppsConnectToTheirOwnServer(t *testing.T) {
	r := runRunner(t, ownServersScenario)
	chat := r.appServer("chat")
	if chat == nil || chat.ap.String() != "192.0.2.11:5223" {
		t.Fatalf("chat's server: %+v, want one at 192.0.2.11:5223", chat)
	}
	if f := chat.srv.Config().KeepAliveFactor; f != 2 {
		t.Errorf("chat server keepalive_factor = %g, want the app's 2", f)
	}
	if f := r.srv.Config().KeepAliveFactor; f != 1.5 {
		t.Errorf("platform server keepalive_factor = %g, want the default 1.5", f)
	}
	// Sessions: each on its own provider's server, both groups' chat on
	// the one chat server.
	for _, id := range []string{"a/0/chat", "a/1/chat", "b/0/chat", "b/1/chat"} {
		if _, ok := r.srv.Session(id); ok {
			t.Errorf("platform server holds %s's session", id)
		}
		if info, ok := chat.srv.Session(id); !ok || !info.Online {
			t.Errorf("chat server: session %s = %+v, %v; want online", id, info, ok)
		}
	}
	if _, ok := r.srv.Session("a/0"); !ok {
		t.Error("platform server lacks a/0's shared session")
	}
	if _, ok := chat.srv.Session("a/0"); ok {
		t.Error("chat server holds the shared session a/0")
	}
	// The TCP chat flows are the push flows whose NAT mappings are tracked.
	mapped := 0
	for _, e := range r.events {
		if e.kind == "mapping_created" && e.device == "b/0" {
			mapped++
		}
	}
	if mapped == 0 {
		t.Error("no mapping_created event for b/0's TCP flow to the chat server")
	}

	res, err := r.result()
	if err != nil {
		t.Fatal(err)
	}
	a, b := res.Group("a"), res.Group("b")
	ac, bc := a.Apps[0], b.Apps[0]
	if ac.Name != "chat" {
		ac = a.Apps[1]
	}
	if ac.Server != "192.0.2.11:5223" || bc.Server != ac.Server || ac.Transport != "quic" || bc.Transport != "tcp" {
		t.Errorf("chat apps: a %s over %s, b %s over %s; want one server, quic and tcp", ac.Server, ac.Transport, bc.Server, bc.Transport)
	}
	if ac.QUICMigrations == nil || bc.QUICMigrations != nil {
		t.Errorf("QUIC counters: a %v, b %v; want them on the QUIC app only", ac.QUICMigrations, bc.QUICMigrations)
	}
	for _, as := range []AppSummary{ac, bc} {
		if as.PushesSent == 0 || as.PushesDelivered != as.PushesSent {
			t.Errorf("%s: %d of %d pushes delivered", as.Name, as.PushesDelivered, as.PushesSent)
		}
	}
	// QUIC PINGs every 20 s, 180 an hour, from the app's launch in the
	// first 10 of the 40 minutes: between 3/4 and all of 180 (the group's
	// 120 s strategy would give at most 30).
	if k := ac.KeepalivesPerDeviceHour; k < 130 || k > 185 {
		t.Errorf("a/chat keep-alives per device-hour = %.1f, want 135 to 180 (20 s PINGs)", k)
	}
	if _, ok := res.Metric("quic_idle_closes", "a/chat"); !ok {
		t.Error("no quic_idle_closes@a/chat metric")
	}
}

// A device whose apps all have their own connection is tracked by its
// apps' servers: switched off, each chat server declares it gone after its
// keep-alive deadline (1.5 x 60 s at most) and publishes each
// connection's will.
func TestPresenceOfOwnAppsIsTheirServers(t *testing.T) {
	res := runString(t, "name: t\nduration: 30m\nseed: 4\n"+cgnatGroupG+`    count: 3
    strategy: {name: fixed, interval: 60s}
    push_keepalive: 60s
    will: {topic: "presence/{device}", payload: offline, qos: 1}
    apps:
      - {name: chat, connection: own}
      - {name: tg, connection: own}
timeline:
  - {at: 15m, type: device-off, group: g}
`)
	g := res.Group("g")
	ps := g.PresenceSummary
	if ps == nil {
		t.Fatal("no presence summary")
	}
	if ps.Outages != 3 || ps.UndetectedOutages != 0 {
		t.Errorf("outages %d, undetected %d; want 3 tracked by the apps' servers, none undetected", ps.Outages, ps.UndetectedOutages)
	}
	if ps.ServerDetectionS.Max > 90.1 || ps.ServerDetectionS.P50 < 29.9 {
		t.Errorf("server_detection_s %+v, want within (1.5 x 60 s) after the last PINGREQ", ps.ServerDetectionS)
	}
	if ps.PresenceLost != 6 {
		t.Errorf("presence_lost = %d, want 6 (two apps' wills per device)", ps.PresenceLost)
	}
}

// chatRestart: two devices of a TCP group with a shared app (mail) and an
// own app on QUIC (chat), whose listener restarts at 20 minutes.
const chatRestart = "name: t\nduration: 30m\nseed: 6\n" + cgnatGroupG + `    count: 2
    strategy: {name: fixed, interval: 120s}
    apps:
      - {name: mail}
      - {name: chat, connection: own, transport: {name: quic}, strategy: {name: fixed, interval: 20s}}
timeline:
  - {at: 20m, type: quic-server-restart, group: g}
`

// quic-server-restart on a TCP group with an own app on QUIC restarts the
// app's listener on its server: every device's chat connection learns of
// it (from a stateless reset to its next packet, or, when that packet is
// too small to be answered with one, RFC 9000 §10.3, from its idle
// timeout) and reconnects; the shared TCP connection is untouched.
func TestQUICServerRestartReachesOwnApps(t *testing.T) {
	res := runString(t, chatRestart)
	g := res.Group("g")
	chat, shared := g.Apps[1], g.Connections[0]
	if chat.QUICStatelessResets == nil || chat.QUICIdleCloses == nil || *chat.QUICStatelessResets < 1 || *chat.QUICStatelessResets+*chat.QUICIdleCloses != 2 || chat.Reconnects != 2 {
		t.Errorf("chat: %+v; want a stateless reset or idle close and a reconnect per device, at least one reset", chat)
	}
	if shared.Reconnects != 0 {
		t.Errorf("shared connection reconnects = %d, want 0 (TCP to the platform's server)", shared.Reconnects)
	}
	for _, m := range []string{"quic_stateless_resets", "quic_idle_closes"} {
		app, _ := res.Metric(m, "g/chat")
		grp, _ := res.Metric(m, "g")
		if app != grp {
			t.Errorf("%s: g/chat %g, g %g; the group counts its apps' QUIC connections", m, app, grp)
		}
	}
}

// An own app on QUIC reports the UDP listener its connections go to: the
// second group's chat listens at the app server's port plus one.
func TestOwnQUICAppReportsItsListener(t *testing.T) {
	app := `    apps:
      - {name: chat, connection: own, transport: {name: quic}, strategy: {name: fixed, interval: 20s}, workload: {fixed: {every: 5m}}}
`
	r := runRunner(t, `name: t
duration: 30m
networks:
  lte: {kind: cellular, nat: [{preset: cgnat-typical, scope: shared}]}
groups:
  a:
    count: 1
    network: lte
    strategy: {name: fixed, interval: 120s}
`+app+`  b:
    count: 1
    network: lte
    strategy: {name: fixed, interval: 120s}
`+app)
	res, err := r.result()
	if err != nil {
		t.Fatal(err)
	}
	a, b := res.Group("a").Apps[0], res.Group("b").Apps[0]
	if a.Server != "192.0.2.11:5223" || b.Server != "192.0.2.11:5224" {
		t.Errorf("chat servers: a %s, b %s; want 192.0.2.11:5223 and :5224 (each group's QUIC listener)", a.Server, b.Server)
	}
	if a.PushesSent == 0 || b.PushesSent == 0 || b.PushesDelivered != b.PushesSent {
		t.Errorf("chat pushes delivered: a %d of %d, b %d of %d", a.PushesDelivered, a.PushesSent, b.PushesDelivered, b.PushesSent)
	}
}

// A device with apps keeps one port entry per connection however often its
// connections reconnect: chat reconnects after its server's restart and
// its earlier port is forgotten.
func TestAppPortsFollowReconnects(t *testing.T) {
	r := runRunner(t, chatRestart)
	for _, ds := range r.devs {
		chat := ds.apps.list[1].conn
		if chat.connects < 2 {
			t.Fatalf("%s: chat connected %d times, want a reconnect", ds.name, chat.connects)
		}
		if len(ds.apps.byPort) != len(ds.conns) {
			t.Errorf("%s: %d port entries for %d connections", ds.name, len(ds.apps.byPort), len(ds.conns))
		}
	}
}
