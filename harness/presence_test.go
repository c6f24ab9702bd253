package harness

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

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

// quietLTE starts a 30-minute scenario with one LTE network without
// jitter (40 ms access, 10 ms core) and a group "phones", whose fields
// follow.
const quietLTE = `name: t
duration: 30m
networks:
  lte: {kind: cellular, access: {latency: 40ms, jitter: 0s}, core: {latency: 10ms, jitter: 0s}}
groups:
  phones:
`

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
	res := runString(t, quietLTE+`    count: 3
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
	// A group without presence whose NAT resets connections writes no
	// presence events either (its events.jsonl is as before).
	rst := runTo(t, small(t, "rst-vs-silent-drop.yaml", "duration=20m", "groups.rst.count=5", "groups.silent.count=1", "expect=[]"), t.TempDir())
	for _, e := range rst.events {
		if e.kind == "false_offline" || e.kind == "server_detected" {
			t.Fatalf("untracked group wrote a %s event", e.kind)
		}
	}
	if v, _ := rst.Metric("false_offline_per_device_day", "rst"); !(v > 0) {
		t.Errorf("false_offline_per_device_day@rst = %v, want > 0 (the metric exists for every group)", v)
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

// Server probes against device heartbeats, same period T = 60 s, same
// random coverage losses (watch-presence's phones). A probe answered
// within 10 s or the device is declared gone: detection is uniform in
// [10 s, T + 10 s] (p50 near 40 s, max 70 s), against [0.5 T, 1.5 T] (p50
// near 60 s) for the MQTT keep-alive. A probe wakes the radio like a
// heartbeat does, but the device, which no longer pings, does not learn
// that its connection died while it was out of coverage: it stays offline
// until its own (hourly) check, and pushes wait.
func TestServerProbesVersusDeviceHeartbeats(t *testing.T) {
	common := []string{"duration=3h", "groups.phones.count=20", "groups.watches.count=1", "timeline=[]", "expect=[]"}
	dev := runTo(t, small(t, "watch-presence.yaml", common...), t.TempDir())
	srv := runTo(t, small(t, "watch-presence.yaml", append(common, "groups.phones.strategy.interval=1h",
		"groups.phones.push_keepalive=0s", "server.heartbeat=60s", "server.heartbeat_timeout=10s")...), t.TempDir())
	d, s := dev.Group("phones"), srv.Group("phones")
	if d.Outages < 20 || s.Outages < 20 {
		t.Fatalf("outages %d and %d, want at least 20 each", d.Outages, s.Outages)
	}
	if d.ServerDetectionByCause["keepalive_timeout"] != d.Outages || s.ServerDetectionByCause["heartbeat_timeout"] != s.Outages {
		t.Fatalf("causes %v and %v", d.ServerDetectionByCause, s.ServerDetectionByCause)
	}
	if p := d.ServerDetectionS.P50; p < 45 || p > 75 {
		t.Errorf("device heartbeats: detection p50 %.1f s, want near 60 s", p)
	}
	if p, m := s.ServerDetectionS.P50, s.ServerDetectionS.Max; p < 25 || p > 55 || m > 70.1 {
		t.Errorf("server probes: detection p50 %.1f s, max %.1f s; want near 40 s, at most 70.1 s", p, m)
	}
	if s.EnergyJPerDeviceDay < 0.4*d.EnergyJPerDeviceDay {
		t.Errorf("server probes cost %.0f J/device-day against %.0f: a probe wakes the radio too", s.EnergyJPerDeviceDay, d.EnergyJPerDeviceDay)
	}
	if s.DeliveryRatio >= d.DeliveryRatio {
		t.Errorf("delivery %.3f with probes, %.3f with device heartbeats: devices that do not ping stay offline after an outage", s.DeliveryRatio, d.DeliveryRatio)
	}
	t.Logf("device heartbeats: p50 %.1f s, %.0f J/device-day, delivery %.3f; server probes: p50 %.1f s, %.0f J/device-day, delivery %.3f",
		d.ServerDetectionS.P50, d.EnergyJPerDeviceDay, d.DeliveryRatio, s.ServerDetectionS.P50, s.EnergyJPerDeviceDay, s.DeliveryRatio)
}

// A QUIC server needs no MQTT keep-alive to learn that a device is gone:
// its idle timer (RFC 9000 §10.1; 30 s, the minimum of both sides'
// default max_idle_timeout) restarts on every packet it receives and
// closes the connection 30 s after the last one. Devices that PING every
// 25 s and are switched off at 10 min are therefore declared gone 30 s
// after their last PING reached the server (one-way 50 ms here): between
// 5 and 30 s after they vanished, each with its will published.
func TestQUICServerDetectsByIdleTimeout(t *testing.T) {
	res := runString(t, quietLTE+`    count: 4
    network: lte
    strategy: {name: fixed, interval: 25s}
    alarm: {model: exact}
    transport: {name: quic}
    will: {}
timeline:
  - {at: 10m, type: device-off, group: phones}
`)
	g := res.Group("phones")
	if g.PresenceSummary == nil {
		t.Fatal("no presence summary")
	}
	if g.Outages != 4 || g.ServerDetectionByCause["quic_idle_timeout"] != 4 || g.UndetectedOutages != 0 || g.PresenceLost != 4 {
		t.Fatalf("presence %+v, want 4 outages detected by the idle timeout, 4 wills", *g.PresenceSummary)
	}
	if d := g.ServerDetectionS; d.P50 < 5 || d.Max > 30 {
		t.Errorf("server detection %+v, want within (5 s, 30 s]", d)
	}
	off := 10 * time.Minute
	lastPing, detected := map[string]time.Duration{}, map[string]time.Duration{}
	for _, e := range res.events {
		switch {
		case e.kind == "keepalive_sent" && e.t < off:
			lastPing[e.device] = e.t
		case e.kind == "server_detected":
			detected[e.device] = e.t
		}
	}
	if len(detected) != 4 {
		t.Fatalf("server_detected for %d devices, want 4", len(detected))
	}
	for dev, at := range detected {
		want := lastPing[dev] + 50*time.Millisecond + 30*time.Second
		if d := at - want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("%s declared gone at %v, want the last PING (%v) + 50 ms + 30 s = %v", dev, at, lastPing[dev], want)
		}
	}
}

// Only a device with something to record has a presence record: the
// others' stays unallocated (devState.presState), also through the
// results, which read every device's.
func TestPresenceRecordOnlyWhenUsed(t *testing.T) {
	r := runRunner(t, quietLTE+`    count: 4
    network: lte
    strategy: {name: fixed, interval: 5m}
    tls: {round_trips: 0}
timeline:
  - {at: 10m, type: device-off, group: phones, fraction: 0.5, duration: 5m}
`)
	res, err := r.result()
	if err != nil {
		t.Fatal(err)
	}
	var with int
	for _, ds := range r.devs {
		if ds.pres != nil {
			with++
		}
	}
	if g := res.Group("phones"); with != 2 || g.PresenceSummary == nil || g.Outages != 2 {
		t.Errorf("%d of 4 devices have a presence record, summary %+v; want the 2 that vanished, 2 outages", with, g.PresenceSummary)
	}
}

// A run holds one devState per device: its size is the harness's share of
// the per-device budget (docs/engine.md, "Memory of a full-stack run").
func TestDevStateSize(t *testing.T) {
	if s := unsafe.Sizeof(devState{}); s > 320 {
		t.Errorf("devState is %d bytes, want <= 320: allocate what only some devices use when first needed, as presState does", s)
	}
}
