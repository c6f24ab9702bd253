package scenarios

import (
	"strings"
	"testing"
)

// TestPresenceErrors checks the bad input of the presence fields: each
// error names file:line:col and the path.
func TestPresenceErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"coverage-loss ends after the run", base + "timeline:\n  - {at: 50m, type: coverage-loss, group: phones, duration: 20m}\n",
			`t.yaml:13:61: timeline[0].duration: the event ends at 1h10m, after the run (1h)`},
		{"device-off ends after the run", base + "timeline:\n  - {at: 50m, type: device-off, group: phones, duration: 11m}\n",
			`t.yaml:13:58: timeline[0].duration: the event ends at 1h1m, after the run (1h)`},
		{"app-suspended needs a duration", base + "timeline:\n  - {at: 5m, type: app-suspended, group: phones}\n",
			`t.yaml:13:5: timeline[0]: missing required field "duration"`},
		{"fraction zero", base + "timeline:\n  - {at: 5m, type: device-off, group: phones, fraction: 0}\n",
			`t.yaml:13:57: timeline[0].fraction: must be in (0,1], got 0`},
		{"fraction above one", base + "timeline:\n  - {at: 5m, type: coverage-loss, group: phones, duration: 1m, fraction: 1.5}\n",
			`t.yaml:13:74: timeline[0].fraction: must be in (0,1], got 1.5`},
		{"presence event on an unknown group", base + "timeline:\n  - {at: 5m, type: device-off, group: tablets}\n",
			`t.yaml:13:39: timeline[0].group: no group named "tablets"`},
		{"network does not apply", base + "timeline:\n  - {at: 5m, type: device-off, group: phones, network: home}\n",
			`t.yaml:13:47: timeline[0]: field "network" does not apply to device-off events`},
		{"will without a keep-alive", base + "    will: {payload: gone}\n",
			`t.yaml:12:11: groups.phones.will: a will needs push_keepalive, server.heartbeat_timeout or transport quic: without a keep-alive or an idle timeout the server never declares a silent device gone (MQTT 3.1.1 §3.1.2.10)`},
		{"will on a quic group whose own tcp app has no keep-alive", base + "    transport: {name: quic}\n    apps: [{name: tg, connection: own, transport: {name: tcp}}]\n    will: {payload: gone}\n",
			`t.yaml:14:11: groups.phones.will: app "tg"'s own connection (on tcp) carries the will too but has no keep-alive or idle timeout: set push_keepalive, its server's heartbeat_timeout or its transport to quic, or its server never declares a silent device gone (MQTT 3.1.1 §3.1.2.10)`},
		{"heartbeat_timeout without heartbeat", base + "server: {heartbeat_timeout: 5s}\n",
			`t.yaml:12:29: server.heartbeat_timeout: needs server.heartbeat (the probe interval)`},
		{"will topic with a wildcard", base + "    push_keepalive: 60s\n    will: {topic: presence/#}\n",
			`t.yaml:13:19: groups.phones.will.topic: "presence/#" is not a topic name (non-empty, no '+' or '#')`},
		{"will QoS 2", base + "    push_keepalive: 60s\n    will: {qos: 2}\n",
			`t.yaml:13:17: groups.phones.will.qos: must be 0 or 1, got 2`},
		{"outage longer than the run", base + "    outages: {rate_per_day: 2, duration: 2h}\n",
			`t.yaml:12:42: groups.phones.outages.duration: must be shorter than the run (1h), got 2h`},
		{"outage rate zero", base + "    outages: {rate_per_day: 0, duration: 5m}\n",
			`t.yaml:12:29: groups.phones.outages.rate_per_day: must be positive, got 0`},
		{"unknown outage kind", base + "    outages: {rate_per_day: 1, duration: 5m, kind: nap}\n",
			`t.yaml:12:52: groups.phones.outages.kind: unknown outage kind "nap" (coverage-loss, device-off or app-suspended)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantLoadError(t, tt.src, tt.want) })
	}
}

// wantLoadError checks that loading src as t.yaml fails with exactly want.
func wantLoadError(t *testing.T, src, want string) {
	t.Helper()
	_, err := Load("t.yaml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	if got := err.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestPresenceDefaults: fraction 1, outages of kind coverage-loss, the
// will's topic, payloads and QoS.
func TestPresenceDefaults(t *testing.T) {
	src := base + "    push_keepalive: 60s\n    outages: {rate_per_day: 2, duration: 5m}\n    will: {}\n" +
		"timeline:\n  - {at: 5m, type: device-off, group: phones}\n"
	s, err := Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	g := s.Groups["phones"]
	if g.Outages.Kind != EventCoverageLoss {
		t.Errorf("outage kind %q", g.Outages.Kind)
	}
	if w := g.Will; w.Topic != DefaultWillTopic || w.Payload != "offline" || w.OnlinePayload != "online" || w.QoS != 1 {
		t.Errorf("will defaults %+v", *w)
	}
	if e := s.Timeline[0]; e.Fraction != 1 || e.Duration != 0 {
		t.Errorf("device-off defaults %+v", e)
	}
	out, err := Render(s)
	if err != nil || !strings.Contains(string(out), "online_payload: online") {
		t.Errorf("render: %v\n%s", err, out)
	}
}

// A tied sweep axis sets every one of its paths to the point's value.
func TestTiedSweepAxis(t *testing.T) {
	src := base + "    push_keepalive: 60s\nsweep:\n  grid:\n    groups.phones.strategy.interval+groups.phones.push_keepalive: [10s, 40s]\n"
	s, err := Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	pts, err := Expand(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 {
		t.Fatalf("%d points, want 2", len(pts))
	}
	for i, want := range []string{"10s", "40s"} {
		g := pts[i].Scenario.Groups["phones"]
		iv := g.Strategy.Params["interval"].String()
		if iv != want || FormatDuration(g.PushKeepAlive) != want {
			t.Errorf("point %d: interval %s, push_keepalive %s; want both %s", i, iv, FormatDuration(g.PushKeepAlive), want)
		}
	}
	bad := base + "sweep:\n  grid:\n    groups.phones.count+: [1]\n"
	if _, err := Load("t.yaml", []byte(bad)); err == nil {
		t.Error("a tied axis with an empty path loaded")
	}
}
