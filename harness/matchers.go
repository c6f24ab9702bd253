package harness

import (
	"fmt"
	"strings"
	"time"

	"github.com/onsi/gomega/types"
)

// resultMatcher is a Gomega matcher over a *Result.
type resultMatcher struct {
	desc  string
	check func(r *Result) (ok bool, got string)
	got   string
}

func (m *resultMatcher) Match(actual any) (bool, error) {
	r, ok := actual.(*Result)
	if !ok || r == nil {
		return false, fmt.Errorf("harness matcher: want a non-nil *harness.Result, got %T", actual)
	}
	var pass bool
	pass, m.got = m.check(r)
	return pass, nil
}

func (m *resultMatcher) FailureMessage(any) string {
	return fmt.Sprintf("expected the run to %s, but %s", m.desc, m.got)
}

func (m *resultMatcher) NegatedFailureMessage(any) string {
	return fmt.Sprintf("expected the run not to %s, but %s", m.desc, m.got)
}

// perGroup checks every group and reports the ones that fail.
func perGroup(r *Result, ok func(g *GroupSummary) (bool, string)) (bool, string) {
	var bad, all []string
	for i := range r.Summary.Groups {
		g := &r.Summary.Groups[i]
		pass, s := ok(g)
		all = append(all, g.Name+": "+s)
		if !pass {
			bad = append(bad, g.Name+": "+s)
		}
	}
	if len(bad) > 0 {
		return false, strings.Join(bad, "; ")
	}
	return true, strings.Join(all, "; ")
}

// DeliverAtLeast succeeds when every device group's delivery ratio is at
// least ratio: Expect(result).To(harness.DeliverAtLeast(0.999)).
func DeliverAtLeast(ratio float64) types.GomegaMatcher {
	return &resultMatcher{desc: fmt.Sprintf("deliver at least %.4g of pushes in every group", ratio), check: func(r *Result) (bool, string) {
		return perGroup(r, func(g *GroupSummary) (bool, string) {
			return g.DeliveryRatio >= ratio, fmt.Sprintf("delivered %d of %d (%.6g)", g.PushesDelivered, g.PushesSent, g.DeliveryRatio)
		})
	}}
}

// HaveLatencyBelow succeeds when the latency statistic stat ("mean",
// "p50", "p90", "p99", "p999", "max") of every group's delivered pushes is
// below d. A group that received nothing fails it.
func HaveLatencyBelow(stat string, d time.Duration) types.GomegaMatcher {
	return &resultMatcher{desc: fmt.Sprintf("have push latency %s below %v in every group", stat, d), check: func(r *Result) (bool, string) {
		return perGroup(r, func(g *GroupSummary) (bool, string) {
			if g.PushesDelivered == 0 {
				return false, "no push was delivered"
			}
			var v float64
			switch stat {
			case "mean":
				v = g.LatencyS.Mean
			case "p50":
				v = g.LatencyS.P50
			case "p90":
				v = g.LatencyS.P90
			case "p99":
				v = g.LatencyS.P99
			case "p999":
				v = g.LatencyS.P999
			case "max":
				v = g.LatencyS.Max
			default:
				return false, fmt.Sprintf("unknown statistic %q (want mean, p50, p90, p99, p999 or max)", stat)
			}
			return v < d.Seconds(), fmt.Sprintf("latency %s %.6gs", stat, v)
		})
	}}
}

// UseEnergyAtMost succeeds when every group's radio energy per device-day
// is at most joulesPerDeviceDay.
func UseEnergyAtMost(joulesPerDeviceDay float64) types.GomegaMatcher {
	return &resultMatcher{desc: fmt.Sprintf("use at most %.6g J per device-day in every group", joulesPerDeviceDay), check: func(r *Result) (bool, string) {
		return perGroup(r, func(g *GroupSummary) (bool, string) {
			return g.EnergyJPerDeviceDay <= joulesPerDeviceDay, fmt.Sprintf("%.6g J/device-day", g.EnergyJPerDeviceDay)
		})
	}}
}

// PassExpectations succeeds when every expectation of the scenario holds;
// the failure message lists the ones that did not, with their values.
func PassExpectations() types.GomegaMatcher {
	return &resultMatcher{desc: "pass its expectations", check: func(r *Result) (bool, string) {
		var bad []string
		for _, e := range r.Summary.Expectations {
			if !e.Pass {
				v := "no value"
				if e.Value != nil {
					v = fmt.Sprintf("%.6g", *e.Value)
				}
				bad = append(bad, fmt.Sprintf("%q measured %s", e.Expr, v))
			}
		}
		if len(bad) > 0 {
			return false, "failed: " + strings.Join(bad, ", ")
		}
		return true, fmt.Sprintf("all %d passed", len(r.Summary.Expectations))
	}}
}
