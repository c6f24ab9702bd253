package harness

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	soak        = flag.Bool("soak", false, "run TestSoak (make soak); off in CI")
	soakDevices = flag.Int("soak.devices", 100000, "TestSoak: devices")
	soakDays    = flag.Int("soak.days", 7, "TestSoak: virtual days")
	soakParts   = flag.Int("soak.partitions", 1, "TestSoak: the scenario's partitions (cgnat-100k's 16 by default is set to this; the measured soak ran one world)")
	soakHeap    = flag.String("soak.heapprofiles", "", "TestSoak: write a heap profile at the end of every day to this directory (day-N.heap)")
)

// soakSample is the process at the end of one virtual day.
type soakSample struct {
	day int
	// rss is VmRSS as found, at whatever point of its cycle the collector
	// was: up to the live heap again above what the last collection kept
	// (GOGC=100), less what the scavenger has returned since.
	rss int64
	// settled is VmRSS after a collection and debug.FreeOSMemory: what the
	// process holds, without the collector's headroom. The test compares
	// this one, so that a day is not judged by where its sample fell in
	// the collector's cycle.
	settled    int64
	heap       int64 // live heap after a collection, bytes
	goroutines int
	wall       time.Duration
}

// vmRSS reads the resident set size from /proc/self/status (Linux).
func vmRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}

// TestSoak runs cgnat-100k for -soak.days virtual days (-soak.devices
// phones, the pool scaled to keep the scenario's 63 subscribers per
// address) and samples the process at the end of every day through
// Options.Step: memory must be flat (RSS on the last day within 5% of the
// first, both read after a collection that returned its free pages to the
// OS) and no goroutine may leak. make soak runs it; it is not part of
// CI (docs/engine.md, "Soak").
func TestSoak(t *testing.T) {
	if !*soak {
		t.Skip("soak test: run with -soak (make soak)")
	}
	n, days := *soakDevices, *soakDays
	if days < 2 {
		t.Fatal("-soak.days must be at least 2")
	}
	s := small(t, "bench/cgnat-100k.yaml", fmt.Sprintf("groups.iphones.count=%d", n), fmt.Sprintf("duration=%dd", days),
		fmt.Sprintf("networks.lte.nat[0].public_addresses=%d", max((n+62)/63, *soakParts)), fmt.Sprintf("partitions=%d", *soakParts), "expect=[]")
	if *soakHeap != "" {
		if err := os.MkdirAll(*soakHeap, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var samples []soakSample
	var serr error
	start := time.Now()
	last := time.Duration(days)*24*time.Hour - time.Minute // the loop's last step; the day ends a minute later
	opts := Options{Step: func(el time.Duration) {
		if el == 0 || (el%(24*time.Hour) != 0 && el != last) {
			return
		}
		rss, err := vmRSS()
		if err != nil {
			serr = err
		}
		debug.FreeOSMemory() // collects, then returns every free page
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		settled, err := vmRSS()
		if err != nil {
			serr = err
		}
		day := int((el + time.Minute) / (24 * time.Hour))
		if *soakHeap != "" {
			if err := writeHeapProfile(filepath.Join(*soakHeap, fmt.Sprintf("day-%d.heap", day))); err != nil {
				serr = err
			}
		}
		samples = append(samples, soakSample{day, rss, settled, int64(ms.HeapAlloc), runtime.NumGoroutine(), time.Since(start)})
		// What the settled RSS holds besides the live heap: the free
		// room in spans that hold live objects, and the runtime's own
		// structures (stacks, span records, collector metadata).
		frag := int64(ms.HeapInuse - ms.HeapAlloc)
		rt := int64(ms.StackSys + ms.MSpanSys + ms.MCacheSys + ms.GCSys + ms.BuckHashSys + ms.OtherSys)
		t.Logf("day %d: RSS %.1f MiB as found, %.1f MiB settled; live heap %.1f MiB, free in its spans %.1f MiB, "+
			"runtime %.1f MiB; %d goroutines; %.0fs wall", day, mib(rss), mib(settled), mib(int64(ms.HeapAlloc)),
			mib(frag), mib(rt), runtime.NumGoroutine(), time.Since(start).Seconds())
	}}
	res, err := Run(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	if len(samples) != days {
		t.Fatalf("%d daily samples, want %d", len(samples), days)
	}
	first, end := samples[0], samples[len(samples)-1]
	growth := float64(end.settled-first.settled) / float64(first.settled)
	t.Logf("%d devices x %d days: %.0fs wall; settled RSS day 1 %.1f MiB, day %d %.1f MiB (%+.1f%%); "+
		"as found %.1f -> %.1f MiB (%+.1f%%); live heap %.1f -> %.1f MiB; goroutines %d -> %d; delivery %.4f",
		n, days, res.WallTime.Seconds(), mib(first.settled), end.day, mib(end.settled), 100*growth,
		mib(first.rss), mib(end.rss), 100*float64(end.rss-first.rss)/float64(first.rss), mib(first.heap), mib(end.heap),
		first.goroutines, end.goroutines, res.Summary.Groups[0].DeliveryRatio)
	if growth > 0.05 {
		t.Errorf("settled RSS grew %.1f%% from day 1 to day %d, more than 5%%", 100*growth, end.day)
	}
	if end.goroutines > first.goroutines {
		t.Errorf("goroutines grew from %d on day 1 to %d on day %d", first.goroutines, end.goroutines, end.day)
	}
}

// mib is n bytes in MiB.
func mib(n int64) float64 { return float64(n) / (1 << 20) }

// writeHeapProfile writes the heap profile as of the last collection to
// path: compare two days with go tool pprof -base.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TestStepHook checks that Options.Step sees every virtual minute, in
// order, and that watching does not change the results.
func TestStepHook(t *testing.T) {
	s := small(t, "quickstart.yaml", "groups.phones.count=3", "duration=20m", "outputs.formats=[json]", "outputs.pcap=[]")
	var seen []time.Duration
	with, err := Run(context.Background(), s, Options{Step: func(el time.Duration) { seen = append(seen, el) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 20 || seen[0] != 0 || seen[19] != 19*time.Minute {
		t.Errorf("Step saw %v, want 0s, 1m, ..., 19m", seen)
	}
	without, err := Run(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := t.TempDir(), t.TempDir()
	if err := with.Write(a); err != nil {
		t.Fatal(err)
	}
	if err := without.Write(b); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(a + "/summary.json")
	y, _ := os.ReadFile(b + "/summary.json")
	if len(x) == 0 || !bytes.Equal(x, y) {
		t.Error("summary.json differs with and without Step")
	}
}
