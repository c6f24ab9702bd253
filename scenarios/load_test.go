package scenarios

import (
	"errors"
	"strings"
	"testing"
)

// base is a minimal valid scenario; cases append to it or replace it.
const base = `name: t
duration: 1h
networks:
  home:
    kind: wifi
    nat: [{preset: home-router-openwrt}]
groups:
  phones:
    count: 2
    network: home
    strategy: {name: fixed, interval: 60s}
`

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown field in struct", base + "    tcpp: {}\n",
			`t.yaml:12:5: groups.phones: unknown field "tcpp"`},
		{"unknown strategy parameter", strings.Replace(base, "interval: 60s", "intreval: 60s", 1),
			`t.yaml:11:29: groups.phones.strategy: strategy fixed has no parameter "intreval"`},
		{"duplicate key", base + "duration: 2h\n",
			`t.yaml:12:1: duplicate key "duration" (first at line 2)`},
		{"wrong type", strings.Replace(base, "count: 2", "count: two", 1),
			`t.yaml:9:12: groups.phones.count: expected an integer, got string "two"`},
		{"duration without unit", strings.Replace(base, "duration: 1h", "duration: 30", 1),
			`t.yaml:2:11: duration: duration "30" has no unit (write 30s, 30m, 30h or 30d)`},
		{"strategy duration without unit", strings.Replace(base, "interval: 60s", "interval: 60", 1),
			`t.yaml:11:39: groups.phones.strategy.interval: duration "60" has no unit (write 60s, 60m, 60h or 60d)`},
		{"negative count", strings.Replace(base, "count: 2", "count: -3", 1),
			`t.yaml:9:12: groups.phones.count: must be in [1,1000000], got -3`},
		{"negative timeout", base + "    tcp: {user_timeout: -5s}\n",
			`t.yaml:12:25: groups.phones.tcp.user_timeout: must not be negative, got -5s`},
		{"loss outside [0,1]", strings.Replace(base, "kind: wifi", "kind: wifi\n    access: {loss: 1.5}", 1),
			`t.yaml:6:20: networks.home.access.loss: must be in [0,1], got 1.5`},
		{"wall clock too long", base + "clock: wall\n",
			`t.yaml:2:11: duration: a wall-clock scenario may last at most 15m, got 1h`},
		{"unknown NAT preset", strings.Replace(base, "home-router-openwrt", "home-router-openwrtt", 1),
			`t.yaml:6:20: networks.home.nat[0].preset: unknown NAT preset "home-router-openwrtt" (did you mean "home-router-openwrt"?)`},
		{"unknown strategy", strings.Replace(base, "name: fixed", "name: fixd", 1),
			`t.yaml:11:22: groups.phones.strategy.name: unknown strategy "fixd"`},
		{"unknown radio", base + "    radio: lte-2099\n",
			`t.yaml:12:12: groups.phones.radio: unknown radio preset "lte-2099"`},
		{"undefined network", strings.Replace(base, "network: home", "network: office", 1),
			`t.yaml:10:14: groups.phones.network: no network named "office"`},
		{"undefined group in workload", base + "workload:\n  tablets: {poisson: {rate_per_hour: 1}}\n",
			`t.yaml:13:3: workload.tablets: no group named "tablets"`},
		{"undefined group in expectation", base + "expect: [delivery_ratio@tablets >= 0.9]\n",
			`t.yaml:12:10: expect[0]: no group named "tablets"`},
		{"bad expectation", base + "expect: [delivery_ratio => 0.9]\n",
			`t.yaml:12:10: expect[0]: expectation "delivery_ratio => 0.9": invalid operator at "=> 0.9" (one of <, <=, >, >=, ==, !=)`},
		{"unknown metric", base + "expect: [{metric: latency, op: <, value: 5}]\n",
			`t.yaml:12:19: expect[0].metric: unknown metric "latency" (see docs/scenarios.md, Expectations)`},
		{"event field that does not apply", base + "timeline:\n  - {at: 1m, type: nat-reboot, network: home, to: home}\n",
			`t.yaml:13:47: timeline[0]: field "to" does not apply to nat-reboot events`},
		{"event after the end", base + "timeline:\n  - {at: 2h, type: nat-reboot, network: home}\n",
			`t.yaml:13:10: timeline[0].at: must be within the run [0s, 1h], got 2h`},
		{"missing required field", strings.Replace(base, "    count: 2\n", "", 1),
			`t.yaml:9:5: groups.phones: missing required field "count"`},
		{"external server needs wall clock", base + "server: {external: mqtt://127.0.0.1:1883}\n",
			`t.yaml:12:20: server.external: an external server needs clock: wall`},
		{"pcap selector out of range", base + "outputs: {pcap: [phones/2]}\n",
			`t.yaml:12:18: outputs.pcap[0]: "phones/2": group phones has devices 0 to 1`},
		{"syntax error", "name: [t\n",
			`t.yaml:2:1: invalid YAML: did not find expected ',' or ']'`},
		{"two documents", base + "---\nname: u\n",
			`t.yaml:1:1: a scenario file holds exactly one YAML document`},
		{"merge key", base + "x: &a {b: 1}\ny:\n  <<: *a\n",
			`t.yaml:12:1: unknown field "x"` + "\n" + `t.yaml:13:1: unknown field "y"`},
		{"not a mapping", "- a\n", `t.yaml:1:1: expected a mapping, got a list`},
		{"sweep path through a scalar", base + "sweep:\n  grid:\n    groups.phones.count.x: [1]\n",
			`t.yaml:14:5: sweep.grid.groups.phones.count.x: groups.phones.count is integer 2, not a mapping or a list`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load("t.yaml", []byte(tc.src))
			if err == nil && s != nil && s.Sweep != nil {
				_, err = Expand(s)
			}
			if err == nil {
				t.Fatalf("no error; want %s", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestLoadCollectsAllErrors checks that one load reports every problem,
// in position order.
func TestLoadCollectsAllErrors(t *testing.T) {
	src := `name: t
duration: 30
networks:
  home: {kind: wlan}
groups:
  phones:
    count: 0
    network: away
    strategy: {name: fixed, interval: 1m}
    alarm: {model: sloppy}
`
	_, err := Load("t.yaml", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("want ErrorList, got %T %v", err, err)
	}
	want := []string{
		`t.yaml:2:11: duration: duration "30" has no unit (write 30s, 30m, 30h or 30d)`,
		`t.yaml:4:16: networks.home.kind: unknown kind "wlan" (wifi, cellular or ethernet)`,
		`t.yaml:7:12: groups.phones.count: must be in [1,1000000], got 0`,
		`t.yaml:8:14: groups.phones.network: no network named "away"`,
		`t.yaml:10:20: groups.phones.alarm.model: unknown alarm model "sloppy" (window or exact)`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	var e *Error
	if !errors.As(err, &e) || e.Pos.Line != 2 || e.Path != "duration" {
		t.Errorf("errors.As(*Error) = %+v", e)
	}
}

func TestSets(t *testing.T) {
	l := &Loader{Sets: []string{
		"groups.phones.strategy.interval=2m",
		"groups.phones.count=10",
		"networks.home.nat[0].overrides.tcp.established=300s",
		"clock=wall",
		"duration=10m",
	}}
	s, err := l.Load("t.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Groups["phones"].Strategy.Params["interval"].String(); got != "2m" {
		t.Errorf("interval = %s", got)
	}
	if s.Groups["phones"].Count != 10 || s.Clock != ClockWall {
		t.Errorf("count %d clock %s", s.Groups["phones"].Count, s.Clock)
	}
	if got := s.Networks["home"].NAT[0].Overrides.String(); got != "{tcp: {established: 300s}}" {
		t.Errorf("overrides = %s", got)
	}

	for _, tc := range []struct{ set, want string }{
		{"groups.phones.count=-1", `--set: groups.phones.count: must be in [1,1000000], got -1`},
		{"groups.phones.count=x", `--set: groups.phones.count: expected an integer, got string "x"`},
		{"groups.phones.cont=1", `--set: groups.phones: unknown field "cont"`},
		{"networks.home.nat.x=1", `--set: networks.home.nat.x: networks.home.nat is a list: index it with [n], not .x`},
		{"networks.home.nat[3].preset=x", `--set: networks.home.nat[3].preset: networks.home.nat has 1 elements: index 3 is out of range`},
		{"duration", `--set: duration: "duration" is not path=value`},
		{"duration=[1", `--set: duration: value "[1": invalid YAML: did not find expected ',' or ']'`},
	} {
		_, err := (&Loader{Sets: []string{tc.set}}).Load("t.yaml", []byte(base))
		if err == nil || err.Error() != tc.want {
			t.Errorf("--set %s:\ngot  %v\nwant %s", tc.set, err, tc.want)
		}
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]string{
		"30s": "30s", "1d": "1d", "1d12h": "36h0m0s", "4m30s": "4m30s", "250ms": "250ms", "1.5d": "36h0m0s", "-5s": "-5s",
	} {
		d, err := ParseDuration(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if d.String() != want && FormatDuration(d) != want {
			t.Errorf("%s = %s, want %s", in, d, want)
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Errorf("%s: FormatDuration round trip gave %s, %v", in, FormatDuration(d), err)
		}
	}
	for _, bad := range []string{"30", "", "1x", "12h1d", "s", "1e3s"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestDefaultsVisible(t *testing.T) {
	s, err := Load("t.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	g := s.Groups["phones"]
	n := s.Networks["home"]
	checks := []struct {
		what      string
		got, want any
	}{
		{"seed", s.Seed, uint64(1)},
		{"clock", s.Clock, ClockVirtual},
		{"keepalive factor", s.Server.KeepAliveFactor, 1.5},
		{"offline policy", s.Server.Offline.Policy, OfflineKeepLast},
		{"prefix", n.Prefix, "10.1.0.0/16"},
		{"scope", n.NAT[0].Scope, ScopePerDevice},
		{"access latency", FormatDuration(n.Access.Latency), "5ms"},
		{"max retries", g.TCP.MaxRetries, 15},
		{"backoff max", FormatDuration(g.Backoff.Max), "5m"},
		{"radio", g.Radio, "auto"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	// An explicit zero is kept, not replaced by the default.
	s, err = Load("t.yaml", []byte(base+"    tcp: {max_retries: 0}\nseed: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Groups["phones"].TCP.MaxRetries != 0 || s.Seed != 0 {
		t.Errorf("explicit zeros replaced: retries %d seed %d", s.Groups["phones"].TCP.MaxRetries, s.Seed)
	}
}

func TestLinkDirection(t *testing.T) {
	s, err := Load("t.yaml", []byte(strings.Replace(base, "kind: wifi", "kind: wifi\n    access: {latency: 10ms, up: {latency: 30ms, loss: 0.1}}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	a := s.Networks["home"].Access
	if up, down := a.Direction(true), a.Direction(false); FormatDuration(up.Latency) != "30ms" || up.Loss != 0.1 || FormatDuration(down.Latency) != "10ms" || down.Loss != 0 {
		t.Errorf("up %+v down %+v", up, down)
	}
}
