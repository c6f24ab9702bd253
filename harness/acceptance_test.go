package harness

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/plots"
	"github.com/natsim/natsim/scenarios"
	"github.com/natsim/natsim/sim/strategy"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The end-to-end acceptance of the push connection (issue 4): real gVisor
// TCP, the NAT model, the MQTT server and client and the strategies, run
// by the harness on exact links (no jitter, no loss). Every expected time
// below is derived from the scenario's parameters and the protocols'
// message sequence, not read off a run:
//
//   - one-way delay ow = access 20 ms + core 10 ms;
//   - a (re)connection costs, from the dial: TCP handshake 1 RTT, TLS
//     2 RTT (tls.round_trips), CONNECT/CONNACK 1 RTT, SUBSCRIBE/SUBACK
//     1 RTT; the client reports conn_up at SUBACK, 10 ow after the dial;
//   - the server redelivers a QoS 1 push it wrote into the dead
//     connection right after its CONNACK on the new one (session
//     takeover), so it arrives 8 ow after the dial;
//   - reconnect backoff: initial 1 s, no jitter.
//
// The first connection's time C0 depends on the seeded start offset, so
// it is read from the run; everything after it is derived.
var _ = Describe("push connection through idle-expiring NATs (issue 4 acceptance)", Label("acceptance"), func() {
	const (
		ow       = 30 * time.Millisecond
		connect  = 10 * ow // dial -> conn_up
		redeliv  = 8 * ow  // dial -> redelivered push arrives
		backoff  = time.Second
		slack    = 5 * time.Millisecond // event timestamps vs derivation
		detailed = "every push, keep-alive and reconnect"
	)
	at := func(d time.Duration) float64 { return d.Seconds() }
	near := func(want float64) OmegaMatcher { return BeNumerically("~", want, slack.Seconds()) }

	It("fixed 240 s keeps a 300 s silent-drop mapping; fixed 360 s delays exactly the pushes sent after a 300 s idle gap", func(ctx SpecContext) {
		natTimeout := nat.Preset("carrier-aggressive").TCP.Established
		Expect(natTimeout).To(Equal(300 * time.Second))
		const ackTimeout = 30 * time.Second
		ev := runAcceptance(ctx, "fixed-vs-300s.yaml")

		By("240 s < 300 s: the mapping never expires, every push arrives one way later, no reconnect")
		d := ev["ka240/0"]
		Expect(d.kind("mapping_expired")).To(BeEmpty())
		Expect(d.kind("conn_down")).To(BeEmpty())
		Expect(d.kind("keepalive_failed")).To(BeEmpty())
		Expect(d.latencies()).To(HaveLen(4))
		for id, lat := range d.latencies() {
			Expect(lat).To(near(at(ow)), "push %d", id)
		}

		By("360 s > 300 s: " + detailed + " follows from the schedule")
		d = ev["ka360/0"]
		c0 := d.first("conn_up")
		// Cycle 1: nothing crosses the NAT after c0, so the mapping is gone
		// at c0+300 s; the push at 330 s dies in the NAT; the keep-alive at
		// c0+360 s goes unanswered; after the ack timeout and the backoff
		// the device redials and the server redelivers the push.
		Expect(330.0).To(BeNumerically(">", c0+at(natTimeout)+0.1))
		ka1 := c0 + at(360*time.Second)
		dial1 := ka1 + at(ackTimeout) + at(backoff)
		c1 := dial1 + at(connect)
		// Cycle 2: the push at 425 s arrives at once and its PUBACK
		// refreshes the mapping until about 725 s, before the keep-alive at
		// c1+360 s; the push at 740 s dies and waits for the next dial.
		Expect(425.0).To(BeNumerically(">", c1))
		ka2 := c1 + at(360*time.Second)
		Expect(425.0 + at(natTimeout) + 0.1).To(BeNumerically("<", ka2))
		Expect(740.0).To(BeNumerically(">", 425.0+at(natTimeout)+0.1))
		dial2 := ka2 + at(ackTimeout) + at(backoff)
		c2 := dial2 + at(connect)
		// Cycle 3: the push at 1000 s arrives at once and refreshes the
		// mapping past c2+360 s, so that keep-alive succeeds.
		Expect(1000.0).To(BeNumerically("<", c2+at(natTimeout)))
		Expect(1000.0 + at(natTimeout)).To(BeNumerically(">", c2+360))

		Expect(d.times("keepalive_sent")).To(HaveExactElements(near(ka1), near(ka2), near(c2+360)))
		Expect(d.times("keepalive_failed")).To(HaveExactElements(near(ka1+at(ackTimeout)), near(ka2+at(ackTimeout))))
		Expect(d.times("keepalive_ok")).To(HaveLen(1))
		Expect(d.times("reconnect_attempt")).To(HaveExactElements(near(dial1), near(dial2)))
		Expect(d.times("conn_up")).To(HaveExactElements(near(c0), near(c1), near(c2)))
		lat := d.latencies()
		Expect(lat).To(HaveLen(4), "every push is delivered: QoS 1 and a persistent session")
		Expect(lat).To(HaveKeyWithValue(int64(2), near(dial1+at(redeliv)-330)))
		Expect(lat).To(HaveKeyWithValue(int64(4), near(at(ow))))
		Expect(lat).To(HaveKeyWithValue(int64(6), near(dial2+at(redeliv)-740)))
		Expect(lat).To(HaveKeyWithValue(int64(8), near(at(ow))))
	})

	It("TCP keep-alive with Linux defaults behind a 30-minute NAT learns of the death only at idle + count x interval", func(ctx SpecContext) {
		ka := strategy.DefaultTCP()
		Expect([]any{ka.Idle, ka.Interval, ka.Count}).To(Equal([]any{7200 * time.Second, 75 * time.Second, 9}))
		natTimeout := nat.Preset("carrier-30min").TCP.Established
		Expect(natTimeout).To(Equal(30 * time.Minute))
		ev := runAcceptance(ctx, "detection.yaml")
		d := ev["linux/0"]
		c0 := d.first("conn_up")

		// The connection is idle from c0: the NAT forgets it 30 min later,
		// long before the first probe at 7200 s; the probe and its 8
		// retries (every 75 s) die in the NAT, so TCP gives up 7200 + 9x75
		// = 7875 s after the last ACK (Linux tcp(7); facts 4.6).
		// (The second connection, from the redial on, expires the same way
		// 30 min later; its first probe would fall after the 3 h run.)
		dead := c0 + at(ka.Idle) + float64(ka.Count)*at(ka.Interval)
		c1 := dead + at(backoff) + at(connect)
		Expect(d.times("mapping_expired")).To(HaveExactElements(
			BeNumerically("~", c0+at(natTimeout), 0.1), BeNumerically("~", c1+at(natTimeout), 0.1)))
		Expect(d.times("conn_down")).To(HaveExactElements(near(dead)))
		Expect(d.first("conn_down")).To(BeNumerically(">", d.first("mapping_expired")+6000))
		// The push at 3600 s waits in the dead connection until then.
		Expect(d.latencies()).To(HaveKeyWithValue(int64(2), near(dead+at(backoff)+at(redeliv)-3600)))
	})

	It("gcm-legacy on a 5-minute carrier fails every heartbeat and detects at interval + 60 s", func(ctx SpecContext) {
		g := strategy.DefaultGCM()
		Expect([]any{g.Cellular, g.AckTimeout}).To(Equal([]any{28 * time.Minute, time.Minute}))
		ev := runAcceptance(ctx, "detection.yaml")
		d := ev["gcm/0"]

		// 28 min > 5 min: each heartbeat finds the mapping gone, waits the
		// 60 s ack timeout (Chromium heartbeat_manager.cc; facts 4.2, 6.3)
		// and reconnects, so the cycle is 1680 + 60 + 1 s backoff + connect.
		cycle := at(g.Cellular) + at(g.AckTimeout) + at(backoff) + at(connect)
		c := d.first("conn_up")
		var kas, fails []OmegaMatcher
		for c+at(g.Cellular) < 3*3600 {
			kas = append(kas, near(c+at(g.Cellular)))
			if c+at(g.Cellular)+at(g.AckTimeout) < 3*3600 {
				fails = append(fails, near(c+at(g.Cellular)+at(g.AckTimeout)))
			}
			c += cycle
		}
		Expect(kas).To(HaveLen(6))
		Expect(d.times("keepalive_sent")).To(HaveExactElements(anys(kas)...))
		Expect(d.times("keepalive_failed")).To(HaveExactElements(anys(fails)...))
		Expect(d.kind("keepalive_ok")).To(BeEmpty())
		// Detection delay: from the mapping's death (300 s after the last
		// packet) to the failed heartbeat, 1680 + 60 - 300 = 1440 s.
		expired := d.times("mapping_expired")
		downs := d.times("conn_down")
		Expect(len(downs)).To(BeNumerically(">=", 5))
		for i := range downs {
			Expect(downs[i] - expired[i]).To(BeNumerically("~", 1440, 0.1))
		}
		// The push at 600 s is delivered by the first reconnection.
		dial1 := d.first("conn_up") + at(g.Cellular) + at(g.AckTimeout) + at(backoff)
		Expect(d.latencies()).To(HaveKeyWithValue(int64(1), near(dial1+at(redeliv)-600)))
	})

	It("wechat-smart settles below a 5-minute NAT: 270 s, after three failures at 330 s", func(ctx SpecContext) {
		w := strategy.DefaultWeChat()
		Expect([]any{w.HeartStep, w.MaxFail}).To(Equal([]any{60 * time.Second, 3}))
		ev := runAcceptance(ctx, "detection.yaml")
		d := ev["wechat/0"]
		// Mars: probe up by heart_step from min (270 s) after base_succ
		// successes; 330 s > 300 s fails; after max_fail failures step back
		// to max(min, 330 - 60 - 20) = 270 s and freeze (stable) for the
		// rest of the day (facts 4.3).
		var ivs []float64
		for _, e := range d {
			if e.Kind == "interval_changed" {
				ivs = append(ivs, e.IntervalS)
			}
		}
		Expect(ivs).To(Equal([]float64{270, 330, 270}))
		Expect(d.kind("keepalive_failed")).To(HaveLen(3))
		Expect(d.kind("conn_down")).To(HaveLen(3))
		last := d.times("keepalive_failed")[2]
		for _, t := range d.times("keepalive_ok") {
			if t > last {
				return // a heartbeat at 270 s succeeds after settling
			}
		}
		Fail("no successful heartbeat after the interval settled")
	})
})

// deviceEvents are one device's events in time order.
type deviceEvents []plots.Event

func (d deviceEvents) kind(k string) deviceEvents {
	var out deviceEvents
	for _, e := range d {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func (d deviceEvents) times(k string) []float64 {
	var out []float64
	for _, e := range d.kind(k) {
		out = append(out, e.TS)
	}
	return out
}

func (d deviceEvents) first(k string) float64 {
	ts := d.times(k)
	Expect(ts).NotTo(BeEmpty(), "no %s event", k)
	return ts[0]
}

// latencies maps each delivered push's id to its latency in seconds.
func (d deviceEvents) latencies() map[int64]float64 {
	out := map[int64]float64{}
	for _, e := range d.kind("push_delivered") {
		out[e.ID] = e.LatencyS
	}
	return out
}

func anys(ms []OmegaMatcher) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}

// runAcceptance runs testdata/acceptance/file, writes its results as the
// results contract says and reads events.jsonl back with the plots
// package's reader, grouped by device.
func runAcceptance(ctx context.Context, file string) map[string]deviceEvents {
	GinkgoHelper()
	s, err := (&scenarios.Loader{}).LoadFile(filepath.Join("testdata", "acceptance", file))
	Expect(err).NotTo(HaveOccurred())
	r, err := Run(ctx, s, Options{})
	Expect(err).NotTo(HaveOccurred())
	dir := GinkgoT().TempDir()
	Expect(r.Write(dir)).To(Succeed())
	f, err := os.Open(filepath.Join(dir, EventsFile))
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	out := map[string]deviceEvents{}
	Expect(plots.ScanEvents(f, EventsFile, nil, func(e plots.Event) error {
		out[e.Device] = append(out[e.Device], e)
		return nil
	})).To(Succeed())
	return out
}
