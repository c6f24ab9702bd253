package harness

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsim/natsim/plots"
	"github.com/natsim/natsim/scenarios"
)

func loadString(t testing.TB, src string) *scenarios.Scenario {
	t.Helper()
	s, err := scenarios.Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runString(t testing.TB, src string) *Result {
	t.Helper()
	res, err := Run(context.Background(), loadString(t, src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A server that only pushes (no MQTT keep-alive) learns that a switched
// off device is gone when TCP gives up on the push it wrote: 60 s after
// the device vanished the push is written, and gVisor's 15 retries
// (sim's TestServerGivesUpOnAVanishedDeviceAfterGVisorRetries: 804.92 s
// with a 200 ms first RTO) end it.
func TestPushOnlyServerDetectsByTCPGiveUp(t *testing.T) {
	res := runString(t, `name: t
duration: 30m
networks:
  lte: {kind: cellular, access: {latency: 40ms, jitter: 0s}, core: {latency: 10ms, jitter: 0s}}
groups:
  phones:
    count: 3
    network: lte
    strategy: {name: fixed, interval: 1h}
    tls: {round_trips: 0}
workload:
  phones: {broadcast: {at: [11m]}}
timeline:
  - {at: 10m, type: device-off, group: phones}
`)
	g := res.Group("phones")
	if g.PresenceSummary == nil {
		t.Fatal("no presence summary")
	}
	if g.Outages != 3 || g.ServerDetectionByCause["timed_out"] != 3 || g.UndetectedOutages != 0 {
		t.Fatalf("presence %+v, want 3 outages detected by timed_out", *g.PresenceSummary)
	}
	// The first RTO is the estimator's (above the 200 ms floor on this
	// path), so the sum of ten doublings is a little over 204.6 s.
	if d := g.ServerDetectionS; d.P50 < 60+804.92 || d.Max > 60+804.92+15 {
		t.Errorf("server detection %+v, want 60 s + about 805 s", d)
	}
}

// A NAT that resets both ends when it expires a mapping makes the server
// declare reachable devices gone: false offlines, each publishing a will.
func TestNATExpiryRSTIsAFalseOffline(t *testing.T) {
	res := runString(t, `name: t
duration: 2h
networks:
  rst: {kind: cellular, nat: [{preset: carrier-aggressive-rst}]}
groups:
  phones:
    count: 5
    network: rst
    strategy: {name: fixed, interval: 10m, ack_timeout: 30s}
    push_keepalive: 900s
    will: {}
`)
	g := res.Group("phones")
	if g.PresenceSummary == nil || g.FalseOffline == 0 || g.Outages != 0 {
		t.Fatalf("presence %+v, want false offlines and no outages", g.PresenceSummary)
	}
	if g.PresenceLost != g.FalseOffline {
		t.Errorf("%d wills for %d false offlines", g.PresenceLost, g.FalseOffline)
	}
	if v, ok := res.Metric("false_offline_per_device_day", "phones"); !ok || math.Abs(v-float64(g.FalseOffline)/5/(2.0/24)) > 1e-9 {
		t.Errorf("false_offline_per_device_day = %v", v)
	}
}

// Groups that neither vanish nor register a will keep their summary
// entries as before (no presence fields), and the run is deterministic.
func TestPresenceFieldsOnlyWhereTracked(t *testing.T) {
	s := small(t, "watch-presence.yaml", "duration=1h", "groups.phones.count=5", "groups.watches.count=3", "timeline=[]", "expect=[]")
	a, b := t.TempDir(), t.TempDir()
	runTo(t, s, filepath.Join(a, "r"))
	res := runTo(t, s, filepath.Join(b, "r"))
	sameFiles(t, a, b)
	if res.Group("phones").PresenceSummary == nil || res.Group("watches").PresenceSummary == nil {
		t.Fatal("groups with a will lack the presence summary")
	}
	q := runTo(t, small(t, "quickstart.yaml", "duration=10m"), t.TempDir())
	if q.Group("phones").PresenceSummary != nil {
		t.Error("quickstart has presence fields")
	}
}

// A sweep of a scenario that tracks presence writes the presence columns
// that the presence figure draws.
func TestPresenceSweepColumns(t *testing.T) {
	s := small(t, "watch-presence-sweep.yaml", "duration=1h", "groups.phones.count=4",
		"sweep.grid={groups.phones.strategy.interval+groups.phones.push_keepalive: [20s, 60s]}", "expect=[]")
	dir := t.TempDir()
	if _, err := Sweep(context.Background(), s, dir, SweepOptions{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "sweep.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.SplitN(string(b), "\n", 2)[0], ",server_detection_p50_s,server_detection_p99_s,nat_timeout_s") {
		t.Fatalf("sweep.csv header lacks the presence columns:\n%s", b)
	}
	files, err := plots.Render(dir, plots.Options{Figures: []string{"presence"}})
	if err != nil || len(files) != 1 {
		t.Fatalf("presence figure: %v %v", files, err)
	}
}
