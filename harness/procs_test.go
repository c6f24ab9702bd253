package harness

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
)

// TestSameBytesForAnyProcs runs library scenarios (scaled down, with
// events and a capture) with one and with two Go processors and compares
// every output file byte for byte. With two, gVisor's processors and the
// scheduler goroutine run truly in parallel, so any ordering the engine
// leaves to goroutine timing shows up here as a difference.
func TestSameBytesForAnyProcs(t *testing.T) {
	cases := []struct {
		file string
		sets []string
	}{
		{"apns-cgnat.yaml", []string{"groups.iphones.count=60", "duration=6h"}},
		{"nat-reboot-storm.yaml", []string{"groups.phones.count=60"}},
		{"nat444-handover.yaml", []string{"groups.commuters.count=20", "duration=1d"}},
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			tmp := t.TempDir()
			for _, procs := range []int{1, 2} {
				runtime.GOMAXPROCS(procs)
				runTo(t, small(t, c.file, c.sets...), filepath.Join(tmp, fmt.Sprint(procs)))
			}
			sameFiles(t, filepath.Join(tmp, "1"), filepath.Join(tmp, "2"))
		})
	}
}
