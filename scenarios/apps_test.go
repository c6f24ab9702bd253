package scenarios

import (
	"strings"
	"testing"
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
