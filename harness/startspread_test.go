package harness

import (
	"context"
	"testing"
	"time"
)

// TestStartSpreadSpreadsTheFirstConnects: with start_spread the devices'
// first connections come over the spread, not in the first second.
func TestStartSpreadSpreadsTheFirstConnects(t *testing.T) {
	first := func(sets ...string) (lo, hi time.Duration) {
		s := small(t, "quickstart.yaml", append([]string{"groups.phones.count=40", "duration=30m", "outputs.pcap=[]"}, sets...)...)
		res, err := Run(context.Background(), s, Options{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		lo = time.Hour
		for _, e := range res.events {
			if e.kind != "conn_up" || seen[e.device] {
				continue
			}
			seen[e.device] = true
			lo, hi = min(lo, e.t), max(hi, e.t)
		}
		if len(seen) != 40 {
			t.Fatalf("%d devices connected, want 40", len(seen))
		}
		return lo, hi
	}
	if lo, hi := first(); hi > 2*time.Second {
		t.Errorf("default: first connects from %v to %v, want all within about a second", lo, hi)
	}
	lo, hi := first("groups.phones.start_spread=20m")
	if hi < 15*time.Minute || hi > 21*time.Minute || lo > 5*time.Minute {
		t.Errorf("start_spread 20m: first connects from %v to %v, want spread over the 20 minutes", lo, hi)
	}
}
