package plots

import (
	"strings"
	"testing"
)

// The readers take outside input: they must return errors, never panic.

func FuzzReadSweepSummary(f *testing.F) {
	f.Add("point,x.interval,y.timeout,group,metric,n,mean,ci95_lo,ci95_hi\n0,30,60,g,delivery_ratio,3,1,1,1\n")
	f.Add("point,group,metric,n,mean,ci95_lo,ci95_hi\n0,g,m,1,a,1,1\n")
	f.Fuzz(func(t *testing.T, s string) {
		sum, err := ReadSweepSummary(strings.NewReader(s), "sweep_summary.csv")
		if err == nil {
			TradeOff(sum, TradeOffOptions{})
			HeatGrids(sum, HeatMapOptions{})
		}
	})
}

func FuzzBuildTimelines(f *testing.F) {
	f.Add(synthEvents)
	f.Fuzz(func(t *testing.T, s string) {
		tls, err := BuildTimelines(strings.NewReader(s), "events.jsonl", []string{"phones/1"}, 0, 0)
		if err == nil {
			DeviceTimeline(tls)
		}
	})
}
