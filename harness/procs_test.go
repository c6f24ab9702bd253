package harness

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestSameBytesForAnyProcs runs library scenarios (scaled down, with
// events and a capture) with one and with two Go processors, and
// partitioned ones (scenarios.Scenario.Partitions) with one, two and four,
// and compares every output file byte for byte. With two, gVisor's
// processors and the scheduler goroutine run truly in parallel, and
// partitions run at the same time on different cores, so any ordering the
// engine or the merge of partitions leaves to goroutine timing shows up
// here as a difference.
func TestSameBytesForAnyProcs(t *testing.T) {
	cases := []struct {
		file string
		sets []string
	}{
		{"apns-cgnat.yaml", []string{"groups.iphones.count=60", "duration=6h"}},
		{"nat-reboot-storm.yaml", []string{"groups.phones.count=60"}},
		{"nat444-handover.yaml", []string{"groups.commuters.count=20", "duration=1d"}},
		{"nat-reboot-storm.yaml", []string{"groups.phones.count=61", "partitions=4"}},
		{"apps-shared-vs-own.yaml", []string{"partitions=3"}},
		{"watch-presence.yaml", []string{"partitions=3"}},
		{"cgnat-port-exhaustion.yaml", []string{"groups.phones.count=150", "partitions=4", "duration=2h"}},
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range cases {
		t.Run(strings.Join(append([]string{c.file}, c.sets...), ","), func(t *testing.T) {
			tmp := t.TempDir()
			procs := []int{1, 2}
			if slices.ContainsFunc(c.sets, func(s string) bool { return strings.HasPrefix(s, "partitions=") }) {
				procs = append(procs, 4)
			}
			for _, p := range procs {
				runtime.GOMAXPROCS(p)
				runTo(t, small(t, c.file, c.sets...), filepath.Join(tmp, fmt.Sprint(p)))
			}
			for _, p := range procs[1:] {
				sameFiles(t, filepath.Join(tmp, "1"), filepath.Join(tmp, fmt.Sprint(p)))
			}
		})
	}
}
