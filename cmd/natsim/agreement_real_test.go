package main

import (
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/natsim/natsim/harness"
	"github.com/natsim/natsim/scenarios"
)

const agreementFile = "../../scenarios/real/agreement.yaml"

// Tolerances for the agreement of the three runs, derived from the
// scenario's timing (docs/real-servers.md, "Agreement"):
//
//   - A wall-clock run differs from the virtual one by timing noise δ:
//     scheduler wake-up, the splice's loopback hop and the server's own
//     processing, together well under 50 ms. An outcome changes only
//     when a gap between a slow device's outbound packets lies within δ
//     of the NAT's 15 s timeout. Gaps are spread over about 20 s, so a
//     gap flips with probability about 2δ/20 s = 0.5 %; a slow device has
//     at most 120 s / 20 s = 6 gaps, 60 over the group: 0.3 flips expected,
//     and a flip shifts a device's later cycles, changing its reconnects by
//     at most the 4 cycles (of at least 25 s) left in the run. So slow
//     reconnects may differ by up to 4 (one flip, worst case) + 2.
//   - Pushes are QoS 1 to persistent sessions: only pushes still waiting
//     for a redelivery at the end are undelivered. A flip moves at most
//     one 30 s push per remaining cycle across the end: delivered counts
//     may differ by up to 4.
//   - The detection delay is client-side timing only (next PINGREQ at most
//     20 s after the last outbound packet, 15 s NAT timeout, then a 5 s
//     ack timeout): between 5 s and 10 s, the median within 0.5 s (10 δ).
//   - Fast devices (10 s pings < 15 s) never lose their mapping: no
//     reconnects and every push delivered, on every server.
const (
	tolReconnects = 6
	tolDelivered  = 4
	tolDetectionS = 0.5
)

type agreementRow struct {
	name                             string
	fastSent, fastDelivered          int
	slowSent, slowDelivered          int
	fastReconnects, slowReconnects   int
	detectionP50, detectionMax       float64
	latencyP50Fast                   float64
	splices, upstreamFails, overflow int
}

func agreementOf(name string, res *harness.Result) agreementRow {
	f, s := res.Group("fast"), res.Group("slow")
	Expect(f).NotTo(BeNil())
	Expect(s).NotTo(BeNil())
	row := agreementRow{name: name,
		fastSent: f.PushesSent, fastDelivered: f.PushesDelivered, slowSent: s.PushesSent, slowDelivered: s.PushesDelivered,
		fastReconnects: f.Reconnects, slowReconnects: s.Reconnects,
		detectionP50: s.DetectionDelayS.P50, detectionMax: s.DetectionDelayS.Max, latencyP50Fast: f.LatencyS.P50}
	if e := res.Summary.External; e != nil {
		row.splices, row.upstreamFails, row.overflow = e.Splices, e.UpstreamFailures, e.Overflows
	}
	return row
}

func (r agreementRow) String() string {
	return fmt.Sprintf("%-10s fast %d/%d rc=%d | slow %d/%d lost=%d rc=%d detect p50=%.2fs max=%.2fs | fast p50 latency %.3fs | splices=%d",
		r.name, r.fastDelivered, r.fastSent, r.fastReconnects, r.slowDelivered, r.slowSent, r.slowSent-r.slowDelivered,
		r.slowReconnects, r.detectionP50, r.detectionMax, r.latencyP50Fast, r.splices)
}

var _ = Describe("agreement of the built-in server, pushd and mosquitto", Label("real-server"), func() {
	BeforeEach(requireReal)

	It("gives the same deliveries, losses and detection on the three servers", func(ctx SpecContext) {
		mosq := startMosquitto()
		pushdAddr, _ := startTestPushd(pushdConfig{offline: "keep-all", quiet: true})

		load := func(sets ...string) *scenarios.Scenario {
			s, err := (&scenarios.Loader{Sets: sets}).LoadFile(agreementFile)
			Expect(err).NotTo(HaveOccurred())
			return s
		}
		virtual, err := harness.Run(ctx, load(), harness.Options{})
		Expect(err).NotTo(HaveOccurred())
		external := func(addr string) *scenarios.Scenario {
			return load("clock=wall", fmt.Sprintf(`server={external: "mqtt://%s"}`, addr))
		}
		// The two wall-clock runs share the machine but not a server:
		// run them side by side to stay within the suite's budget.
		var wg sync.WaitGroup
		results := make([]*harness.Result, 2)
		errs := make([]error, 2)
		for i, addr := range []string{pushdAddr, mosq} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer GinkgoRecover()
				results[i], errs[i] = harness.Run(ctx, external(addr), harness.Options{})
			}()
		}
		wg.Wait()
		Expect(errs[0]).NotTo(HaveOccurred(), "pushd run")
		Expect(errs[1]).NotTo(HaveOccurred(), "mosquitto run")
		rows := []agreementRow{agreementOf("virtual", virtual), agreementOf("pushd", results[0]), agreementOf("mosquitto", results[1])}
		for _, r := range rows {
			AddReportEntry("agreement", r.String())
			fmt.Fprintln(GinkgoWriter, r)
		}
		base := rows[0]
		Expect(base.slowReconnects).To(BeNumerically(">", 0), "the scenario must kill slow connections")
		for _, r := range rows {
			Expect(r.fastReconnects).To(BeZero(), "%s: fast devices reconnected", r.name)
			Expect(r.fastDelivered).To(Equal(r.fastSent), "%s: fast devices lost pushes", r.name)
			Expect(r.fastSent).To(Equal(base.fastSent), "%s: the workload differs", r.name)
			Expect(r.slowSent).To(Equal(base.slowSent), "%s: the workload differs", r.name)
			Expect(r.slowReconnects).To(BeNumerically("~", base.slowReconnects, tolReconnects), "%s", r)
			Expect(r.slowDelivered).To(BeNumerically("~", base.slowDelivered, tolDelivered), "%s", r)
			Expect(r.detectionP50).To(BeNumerically("~", base.detectionP50, tolDetectionS), "%s", r)
			Expect(r.detectionMax).To(BeNumerically("<=", 10+tolDetectionS), "%s", r)
			Expect(r.upstreamFails).To(BeZero(), "%s", r)
			Expect(r.overflow).To(BeZero(), "%s", r)
		}
	}, SpecTimeout(4*time.Minute))
})
