package scenarios

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// appsBase is a valid scenario with apps; cases edit it.
const appsBase = `name: t
duration: 1h
networks:
  lte: {kind: cellular}
groups:
  phones:
    count: 2
    network: lte
    strategy: {name: fixed, interval: 60s}
    apps:
      - {name: chat, connection: own, workload: {poisson: {rate_per_hour: 2}}}
      - {name: mail}
`

// tablets is a second group on appsBase's network, without apps.
const tablets = "  tablets:\n    count: 1\n    network: lte\n    strategy: {name: fixed, interval: 60s}\n"

// Groups whose devices do not reach a server are not held to its TLS
// model: tablets' apps all have their own connection (to another app's
// server), so its tls may differ from the platform groups'.
func TestServerTLSOnlyForItsClients(t *testing.T) {
	src := appsBase + tablets + "    tls: {round_trips: 1}\n    apps: [{name: news, connection: own}]\n"
	s, err := Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if s.Groups["tablets"].ConnectsToPlatform() || !s.Groups["phones"].ConnectsToPlatform() {
		t.Error("ConnectsToPlatform: want phones (a shared app) and not tablets (own apps only)")
	}
}

func TestAppsLoad(t *testing.T) {
	s, err := Load("t.yaml", []byte(appsBase+"expect: [delivery_ratio@phones/chat >= 0.9]\n"))
	if err != nil {
		t.Fatal(err)
	}
	apps := s.Groups["phones"].Apps
	if len(apps) != 2 || apps[0].Connection != AppOwn || apps[1].Connection != AppShared {
		t.Fatalf("apps = %+v, want chat own and mail shared (default)", apps)
	}
	if w := apps[0].Workload; w == nil || w.QoS != 1 || w.TTL != DefaultWorkloadTTL || w.PayloadBytes != DefaultPayloadBytes {
		t.Errorf("chat workload defaults not applied: %+v", w)
	}
	if !s.HasApps() {
		t.Error("HasApps() = false")
	}
	if s.Expect[0].Group != "phones/chat" {
		t.Errorf("expectation group = %q, want phones/chat", s.Expect[0].Group)
	}
}

func TestAppsErrors(t *testing.T) {
	own := func(fields string) string {
		return strings.Replace(appsBase, "{name: mail}", "{name: tg, connection: own, "+fields+"}", 1)
	}
	tests := []struct {
		name, src, want string
	}{
		{"duplicate app name", strings.Replace(appsBase, "{name: mail}", "{name: chat}", 1),
			`t.yaml:12:16: groups.phones.apps[1].name: duplicate app name "chat" (also groups.phones.apps[0])`},
		{"shared app with a strategy", strings.Replace(appsBase, "{name: mail}", "{name: mail, strategy: {name: fixed, interval: 30s}}", 1),
			`t.yaml:12:32: groups.phones.apps[1].strategy: app "mail" uses the device's shared connection, kept alive by groups.phones.strategy; remove strategy or set connection: own`},
		{"zero apps", appsBase[:strings.Index(appsBase, "    apps:")] + "    apps: []\n",
			`t.yaml:10:11: groups.phones.apps: at least one app is required (remove apps for the device's single connection)`},
		{"unknown connection", strings.Replace(appsBase, "connection: own", "connection: private", 1),
			`t.yaml:11:34: groups.phones.apps[0].connection: unknown connection "private" (shared or own)`},
		{"missing name", strings.Replace(appsBase, "{name: mail}", "{connection: own}", 1),
			`t.yaml:12:9: groups.phones.apps[1]: missing required field "name"`},
		{"bad app name", strings.Replace(appsBase, "{name: mail}", "{name: Mail}", 1),
			`t.yaml:12:16: groups.phones.apps[1].name: app name "Mail": use lower-case letters, digits, '_' and '-', starting with a letter`},
		{"group workload beside apps", appsBase + "workload:\n  phones: {poisson: {rate_per_hour: 1}}\n",
			`t.yaml:14:3: workload.phones: group "phones" lists apps; give each app its workload (groups.phones.apps[].workload)`},
		{"bad app workload", strings.Replace(appsBase, "rate_per_hour: 2", "rate_per_hour: 0", 1),
			`t.yaml:11:75: groups.phones.apps[0].workload.poisson.rate_per_hour: must be positive, got 0`},
		{"own app strategy checked", strings.Replace(appsBase, "connection: own,", "connection: own, strategy: {name: fixd},", 1),
			`t.yaml:11:56: groups.phones.apps[0].strategy.name: unknown strategy "fixd"`},
		{"apps with an external server", strings.Replace(appsBase, "duration: 1h", "duration: 1m", 1) + "clock: wall\nserver: {external: mqtt://127.0.0.1:1883}\n",
			`t.yaml:11:7: groups.phones.apps: apps need the built-in server (server.external is set)`},
		{"unknown app in expectation", appsBase + "expect: [delivery_ratio@phones/news >= 0.9]\n",
			`t.yaml:13:10: expect[0]: group "phones" has no app named "news"`},
		{"metric not per app", appsBase + "expect: [dead_detection_s.p99@phones/chat < 9]\n",
			`t.yaml:13:10: expect[0]: metric "dead_detection_s" is not measured per app (per app: pushes_sent, pushes_delivered, delivery_ratio, ontime_ratio, latency_s, keepalives_per_device_hour, reconnects, energy_j_per_device_day, quic_migrations, quic_idle_closes, quic_stateless_resets)`},
		{"shared app with a transport", strings.Replace(appsBase, "{name: mail}", "{name: mail, transport: {name: quic}}", 1),
			`t.yaml:12:33: groups.phones.apps[1].transport: app "mail" rides the device's shared connection, which runs on groups.phones.transport; remove transport or set connection: own`},
		{"shared app with a server", strings.Replace(appsBase, "{name: mail}", "{name: mail, server: {port: 443}}", 1),
			`t.yaml:12:30: groups.phones.apps[1].server: app "mail" rides the device's shared connection to the platform's push server (top-level server); remove server or set connection: own`},
		{"app transport unknown", own("transport: {name: sctp}"),
			`t.yaml:12:55: groups.phones.apps[1].transport.name: unknown transport "sctp" (tcp or quic)`},
		{"app transport quic field on tcp", own("transport: {idle_timeout: 10s}"),
			`t.yaml:12:63: groups.phones.apps[1].transport.idle_timeout: is a QUIC parameter; this transport is tcp (set name: quic)`},
		{"app quic with tcp-keepalive", own("strategy: {name: tcp-keepalive}, transport: {name: quic}"),
			`t.yaml:12:54: groups.phones.apps[1].strategy.name: tcp-keepalive keeps alive with TCP keep-alive, which app "tg"'s quic connection (groups.phones.apps[1].transport) does not have; use an application strategy (its interval is the PING interval)`},
		{"app server external", own("server: {external: mqtt://127.0.0.1:1883}"),
			`t.yaml:12:56: groups.phones.apps[1].server.external: an app's server is built in; external applies to the top-level server only`},
		{"app server bad factor", own("server: {keepalive_factor: 0.5}"),
			`t.yaml:12:64: groups.phones.apps[1].server.keepalive_factor: must be at least 1, got 0.5`},
		{"app server probe without heartbeat", own("server: {heartbeat_timeout: 10s}"),
			`t.yaml:12:65: groups.phones.apps[1].server.heartbeat_timeout: needs groups.phones.apps[1].server.heartbeat (the probe interval)`},
		{"one app, two servers", appsBase + "  tablets:\n    count: 1\n    network: lte\n    strategy: {name: fixed, interval: 60s}\n    apps: [{name: chat, connection: own, server: {port: 443}}]\n",
			`t.yaml:17:50: groups.tablets.apps[0].server: app "chat"'s server differs from groups.phones.apps[0]'s: an app is one provider with one server, shared by every group (give both the same server settings)`},
		{"platform server, two TLS models", appsBase + tablets + "    tls: {round_trips: 1}\n",
			`t.yaml:17:10: groups.tablets.tls: the built-in server speaks one TLS model: this group's tls differs from groups.phones's (every group reaching it over TCP must use the same)`},
		{"app server, two TLS models", appsBase + tablets + "    tls: {round_trips: 1}\n    apps: [{name: chat, connection: own}]\n",
			`t.yaml:17:10: groups.tablets.tls: app "chat"'s server speaks one TLS model: this group's tls differs from groups.phones's (every group reaching it over TCP must use the same)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("t.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error; want %s", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestAppTransportAndServerDefaults(t *testing.T) {
	src := strings.Replace(appsBase, "duration: 1h", "duration: 1h\nserver: {keepalive_factor: 3, offline: {policy: keep-all}}", 1)
	src = strings.Replace(src, "    strategy: {name: fixed, interval: 60s}\n", "    strategy: {name: fixed, interval: 60s}\n    transport: {name: quic, idle_timeout: 90s, server_idle_timeout: 90s}\n    tls: {round_trips: 0, client_bytes: 0, server_bytes: 0}\n", 1)
	src = strings.Replace(src, "{name: mail}", "{name: tg, connection: own, transport: {name: tcp}, server: {port: 443, offline: {policy: keep-n}}}", 1)
	s, err := Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	chat, tg := s.Groups["phones"].Apps[0], s.Groups["phones"].Apps[1]
	if chat.Transport == nil || chat.Transport.Name != TransportQUIC || chat.Transport.IdleTimeout != 90*time.Second {
		t.Errorf("chat transport = %+v, want the group's quic", chat.Transport)
	}
	if tg.Transport == nil || tg.Transport.Name != TransportTCP {
		t.Errorf("tg transport = %+v, want its own tcp", tg.Transport)
	}
	if c := chat.Server; c == nil || c.Port != DefaultServerPort || c.KeepAliveFactor != 3 || c.Offline.Policy != OfflineKeepAll {
		t.Errorf("chat server = %+v, want the top-level server's settings", c)
	}
	if c := tg.Server; c == nil || c.Port != 443 || c.KeepAliveFactor != 3 || c.Offline.Policy != OfflineKeepN || c.Offline.N != DefaultOfflineN || c.Offline.TTL != DefaultOfflineTTL {
		t.Errorf("tg server = %+v %+v, want port 443, keep-n 100 and the rest the top-level's", c, c.Offline)
	}
	// Rendered and loaded again, the resolved settings are the same.
	out, err := Render(s)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Load("r.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if a := s2.Groups["phones"].Apps[1]; !reflect.DeepEqual(a.Server, tg.Server) || !reflect.DeepEqual(a.Transport, tg.Transport) {
		t.Errorf("after render: %+v %+v, want %+v %+v", a.Server, a.Transport, tg.Server, tg.Transport)
	}
}

// The QUIC keep-alive warning applies to an own app with its strategy and
// transport: the group's 60 s PINGs are fine under a 90 s idle timeout,
// the app's 120 s are not.
func TestAppQUICKeepAliveWarning(t *testing.T) {
	src := strings.Replace(appsBase, "{name: mail}", "{name: tg, connection: own, strategy: {name: fixed, interval: 120s}, transport: {name: quic, idle_timeout: 90s, server_idle_timeout: 90s}}", 1)
	src = strings.Replace(src, "connection: own, workload", "connection: own, transport: {name: quic, idle_timeout: 90s, server_idle_timeout: 90s}, workload", 1)
	s, err := Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	w := s.Warnings()
	if len(w) != 1 || w[0].Path != "groups.phones.apps[1].strategy.interval" {
		t.Fatalf("warnings %v, want one at groups.phones.apps[1].strategy.interval", w)
	}
}

// A QUIC group's own app on TCP has a TLS handshake: the group's tls
// defaults as on a TCP group and may be set; without such an app it is
// QUIC's and tls is an error.
func TestQUICGroupTLSForItsTCPApp(t *testing.T) {
	quicGroup := strings.Replace(appsBase, "    apps:\n", "    transport: {name: quic}\n    apps:\n", 1)
	tcpApp := strings.Replace(quicGroup, "{name: mail}", "{name: tg, connection: own, transport: {name: tcp}}", 1)
	s, err := Load("t.yaml", []byte(tcpApp))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Groups["phones"].TLS; got.RoundTrips != 2 {
		t.Errorf("tls = %+v, want the TCP default (2 round trips) for tg's connection", got)
	}
	set := strings.Replace(tcpApp, "    transport: {name: quic}\n", "    transport: {name: quic}\n    tls: {round_trips: 1}\n", 1)
	if s, err := Load("t.yaml", []byte(set)); err != nil || s.Groups["phones"].TLS.RoundTrips != 1 {
		t.Errorf("tls set on a quic group with a tcp app: %v", err)
	}
	s, err = Load("t.yaml", []byte(quicGroup))
	if err != nil || s.Groups["phones"].TLS != (TLSCost{}) {
		t.Errorf("a quic group without a tcp app: tls %+v, %v; want none", s.Groups["phones"].TLS, err)
	}
}
