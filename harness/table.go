package harness

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

func cell(x float64, prec int) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

// PrintSummary writes the human summary of a run: one line per group
// (devices, delivery ratio, p50/p99 latency, keep-alives per device-hour,
// reconnects, energy per device-day) and the expectations with verdicts.
func PrintSummary(w io.Writer, r *Result) {
	s := r.Summary
	parts := ""
	if s.Partitions > 1 {
		parts = fmt.Sprintf("  %d partitions", s.Partitions)
	}
	fmt.Fprintf(w, "%s  seed %d  %s virtual  %d devices%s  %d events\n\n", s.Scenario, s.Seed, fmtSeconds(s.VirtualS), s.Devices, parts, s.Events)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "group\tdevices\tdelivery\tp50 s\tp99 s\tka/dev-h\treconnects\tJ/dev-day\t")
	for _, g := range s.Groups {
		p50, p99 := math.NaN(), math.NaN()
		if g.PushesDelivered > 0 {
			p50, p99 = g.LatencyS.P50, g.LatencyS.P99
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t\n", g.Name, g.Devices, cell(g.DeliveryRatio, 4),
			cell(p50, 3), cell(p99, 3), cell(g.KeepalivesPerDeviceHour, 2), g.Reconnects, cell(g.EnergyJPerDeviceDay, 1))
	}
	tw.Flush()
	if len(s.Warnings) > 0 {
		fmt.Fprintln(w)
	}
	for _, msg := range s.Warnings {
		fmt.Fprintln(w, "warning:", msg)
	}
	if len(s.Expectations) == 0 {
		return
	}
	fmt.Fprintln(w, "\nexpectations")
	for _, e := range s.Expectations {
		verdict := "FAIL"
		if e.Pass {
			verdict = "pass"
		}
		v := "no value"
		if e.Value != nil {
			v = fmt.Sprintf("%.6g", *e.Value)
		}
		fmt.Fprintf(w, "  %s  %-40s  measured %s\n", verdict, e.Expr, v)
	}
	if s.Pass {
		fmt.Fprintln(w, "\nPASS")
	} else {
		fmt.Fprintln(w, "\nFAIL")
	}
}

func fmtSeconds(s float64) string {
	switch {
	case s >= 86400 && math.Mod(s, 86400) == 0:
		return fmt.Sprintf("%gd", s/86400)
	case s >= 3600 && math.Mod(s, 3600) == 0:
		return fmt.Sprintf("%gh", s/3600)
	}
	return fmt.Sprintf("%gs", s)
}
