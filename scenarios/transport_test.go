package scenarios

import (
	"strings"
	"testing"
	"time"
)

const transportBase = `name: t
duration: 1h
networks:
  carrier: {kind: cellular, nat: [{preset: linux-conntrack}]}
groups:
  g:
    count: 1
    network: carrier
    strategy: {name: fixed, interval: %s}
`

func loadTransport(t *testing.T, interval, extra string) (*Scenario, error) {
	t.Helper()
	return Load("t.yaml", []byte(strings.Replace(transportBase, "%s", interval, 1)+extra))
}

func TestTransportDefaults(t *testing.T) {
	s, err := loadTransport(t, "25s", "")
	if err != nil {
		t.Fatal(err)
	}
	if tr := s.Groups["g"].Transport; tr.Name != TransportTCP || tr.IdleTimeout != 0 || tr.ZeroRTT != nil {
		t.Errorf("tcp defaults %+v", tr)
	}
	s, err = loadTransport(t, "25s", "    transport: {name: quic}\n")
	if err != nil {
		t.Fatal(err)
	}
	tr := s.Groups["g"].Transport
	if tr.Name != TransportQUIC || tr.IdleTimeout != 30*time.Second || tr.ServerIdleTimeout != 30*time.Second || !*tr.ZeroRTT || !*tr.Migration || tr.Effective() != 30*time.Second {
		t.Errorf("quic defaults %+v", tr)
	}
	if len(s.Warnings()) != 0 {
		t.Errorf("warnings %v", s.Warnings())
	}
	out, err := Render(s)
	if err != nil || !strings.Contains(string(out), "name: quic") {
		t.Errorf("render: %v\n%s", err, out)
	}
}

func TestTransportErrors(t *testing.T) {
	for _, c := range []struct{ extra, want string }{
		{"    transport: {name: quik}\n", `t.yaml:10:23: groups.g.transport.name: unknown transport "quik" (tcp or quic)`},
		{"    transport: {name: quic, idle_timeout: 2h}\n", "t.yaml:10:43: groups.g.transport.idle_timeout: must be in [1s,1h], got 2h"},
		{"    transport: {name: quic, server_idle_timeout: 0s}\n", "t.yaml:10:50: groups.g.transport.server_idle_timeout: must be in [1s,1h], got 0s"},
		{"    transport: {idle_timeout: 10s}\n", "t.yaml:10:31: groups.g.transport.idle_timeout: is a QUIC parameter; this transport is tcp (set name: quic)"},
		{"    transport: {name: tcp, migration: false}\n", "t.yaml:10:39: groups.g.transport.migration: is a QUIC parameter"},
		{"    transport: {name: quic}\n    tls: {round_trips: 1}\n", "t.yaml:11:10: groups.g.tls: a quic group's TLS handshake is part of QUIC's"},
		{"    transport: {name: quic, zero_rtt: maybe}\n", "t.yaml:10:39: groups.g.transport.zero_rtt: expected true or false"},
	} {
		_, err := loadTransport(t, "25s", c.extra)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.extra, err, c.want)
		}
	}
}

func TestTransportQUICNeedsAnApplicationStrategy(t *testing.T) {
	src := strings.Replace(transportBase, "{name: fixed, interval: %s}", "{name: tcp-keepalive}", 1) + "    transport: {name: quic}\n"
	_, err := Load("t.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "t.yaml:9:22: groups.g.strategy.name: tcp-keepalive keeps alive with TCP keep-alive") {
		t.Fatalf("got %v", err)
	}
}

func TestTransportKeepAliveWarning(t *testing.T) {
	s, err := loadTransport(t, "40s", "    transport: {name: quic, idle_timeout: 60s, server_idle_timeout: 40s}\n")
	if err != nil {
		t.Fatal(err)
	}
	w := s.Warnings()
	if len(w) != 1 || !strings.Contains(w[0].Error(), "t.yaml:9:39: groups.g.strategy.interval: warning: keep-alive interval 40s is at or above the effective QUIC idle timeout 40s") {
		t.Fatalf("warnings %v", w)
	}
	s, err = loadTransport(t, "39s", "    transport: {name: quic, idle_timeout: 60s, server_idle_timeout: 40s}\n")
	if err != nil || len(s.Warnings()) != 0 {
		t.Fatalf("39s: %v %v", err, s.Warnings())
	}
}

func TestQUICServerRestartNeedsAQUICGroup(t *testing.T) {
	_, err := loadTransport(t, "25s", "timeline:\n  - {at: 1m, type: quic-server-restart, group: g}\n")
	if err == nil || !strings.Contains(err.Error(), `t.yaml:11:48: timeline[0].group: group "g" runs on tcp and has no own app on quic; quic-server-restart needs a QUIC connection`) {
		t.Fatalf("got %v", err)
	}
	if _, err := loadTransport(t, "25s", "    transport: {name: quic}\ntimeline:\n  - {at: 1m, type: quic-server-restart, group: g}\n"); err != nil {
		t.Fatal(err)
	}
}
