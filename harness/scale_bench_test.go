//go:build unix

package harness

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natsim/natsim/scenarios"
)

var (
	benchDevices  = flag.Int("harness.devices", 1000, "devices in BenchmarkFullStack")
	benchDuration = flag.String("harness.duration", "24h", "virtual duration of BenchmarkFullStack")
	benchProcs    = flag.String("harness.procs", "1,2", "GOMAXPROCS values BenchmarkFullStack interleaves")
	benchScenario = flag.String("harness.scenario", "testdata/fullstack.yaml", "scenario of BenchmarkFullStack (its phones are groups.iphones)")
	benchSets     = flag.String("harness.set", "", "comma-separated path=value overrides of BenchmarkFullStack's scenario (e.g. partitions=16)")
)

// BenchmarkFullStack runs testdata/fullstack.yaml (APNs model, LTE, a
// CGNAT with port blocks, pushes), or -harness.scenario with the
// overrides of -harness.set, at -harness.devices phones for
// -harness.duration, once per iteration for each GOMAXPROCS value of
// -harness.procs, interleaved so that load from other processes hits
// them alike. With a partitioned scenario and a first procs value of 1,
// it also reports model-speedup-Ncores: the speed-up on N cores that the
// partitions' times on one core predict (partitionModel). A
// partitioned scenario (partitions > 1) steps its
// partitions on that many cores; otherwise one world runs and the
// procs value only lets gVisor's goroutines and the collector run on
// other cores. It reports, per procs value, device-hours per wall second
// and per CPU second, and the wall-time ratio of each value to the first
// (speedup-procsN); and from the first value's runs the live heap and the
// peak resident set per device (after the world is built and run and its
// results collected, before it is closed; both net of the process's
// before the run).
//
//	go test ./harness -run XXX -bench FullStack -benchtime 1x -harness.devices 10000
//	go test ./harness -run XXX -bench FullStack -benchtime 1x -harness.devices 100000 \
//	    -harness.scenario ../scenarios/bench/cgnat-100k.yaml -harness.duration 2h
func BenchmarkFullStack(b *testing.B) {
	var procs []int
	for _, f := range bytes.Split([]byte(*benchProcs), []byte(",")) {
		n, err := strconv.Atoi(string(f))
		if err != nil || n < 1 {
			b.Fatalf("-harness.procs: %q is not a list of positive integers", *benchProcs)
		}
		procs = append(procs, n)
	}
	d, err := scenarios.ParseDuration(*benchDuration)
	if err != nil {
		b.Fatalf("-harness.duration: %v", err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	n := *benchDevices
	wall := make([]time.Duration, len(procs))
	cpu := make([]time.Duration, len(procs))
	var heap, rss uint64
	var model map[int]float64
	for i := 0; i < b.N; i++ {
		for k, p := range procs {
			runtime.GOMAXPROCS(p)
			sets := []string{fmt.Sprintf("groups.iphones.count=%d", n)}
			if *benchSets != "" {
				sets = append(sets, strings.Split(*benchSets, ",")...)
			}
			s, err := (&scenarios.Loader{Sets: sets}).LoadFile(*benchScenario)
			if err != nil {
				b.Fatal(err)
			}
			s.Duration = d
			m := fullStackRun(b, s, k == 0)
			wall[k] += m.wall
			cpu[k] += m.cpu
			if k == 0 {
				heap, rss = max(heap, m.heap), max(rss, m.rss)
				model = m.model
			}
		}
	}
	devh := float64(n) * d.Hours() * float64(b.N)
	for k, p := range procs {
		b.ReportMetric(devh/wall[k].Seconds(), fmt.Sprintf("devh/s-procs%d", p))
		b.ReportMetric(devh/cpu[k].Seconds(), fmt.Sprintf("devh/cpu-s-procs%d", p))
		if k > 0 {
			b.ReportMetric(wall[0].Seconds()/wall[k].Seconds(), fmt.Sprintf("speedup-procs%d", p))
		}
	}
	for _, w := range modelCores {
		if x, ok := model[w]; ok {
			b.ReportMetric(x, fmt.Sprintf("model-speedup-%dcores", w))
		}
	}
	b.ReportMetric(float64(heap)/float64(n), "heapB/device")
	if rss > 0 {
		b.ReportMetric(float64(rss)/float64(n), "rssB/device")
	}
}

type fullStackFigures struct {
	wall, cpu time.Duration
	heap, rss uint64
	// model is the speed-up on W cores (modelCores) that the partitions'
	// times predict (partitionModel); nil for one partition.
	model map[int]float64
}

// modelCores are the core counts partitionModel predicts for.
var modelCores = []int{2, 4, 8, 16}

// partitionModel predicts, from the wall time each partition took on one
// core (steps[i][k]: partition k in stretch i; a run without a barrier
// is one stretch) and the run's whole wall time on one core, the speed-up
// on w cores: each stretch hands partitions in order to the first free
// core, as a run does, and ends when the last finishes; what the run
// spent outside the partitions (building the view's results, the
// collector between them) stays serial. It assumes a partition takes as
// long beside others as alone: memory bandwidth and the collector's share
// are not in it.
func partitionModel(steps [][]time.Duration, total time.Duration, w int) float64 {
	var inside, wall time.Duration
	free := make([]time.Duration, w)
	for _, took := range steps {
		clear(free)
		for _, d := range took {
			inside += d
			i := 0
			for j := range free {
				if free[j] < free[i] {
					i = j
				}
			}
			free[i] += d
		}
		wall += slices.Max(free)
	}
	serial := max(total-inside, 0)
	return total.Seconds() / (serial + wall).Seconds()
}

// fullStackRun builds and runs s and, when mem is set, measures the live
// heap and peak resident set it added before the world is closed.
func fullStackRun(b *testing.B, s *scenarios.Scenario, mem bool) fullStackFigures {
	var f fullStackFigures
	var before runtime.MemStats
	var rssBefore uint64
	if mem {
		runtime.GC()
		debug.FreeOSMemory()
		runtime.ReadMemStats(&before)
		rssBefore = procStatusKB("VmRSS") << 10
		resetPeakRSS()
	}
	cpu0, t0 := cpuTime(), time.Now()
	r, err := buildRun(s, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var steps [][]time.Duration
	if mem && len(r.parts) > 1 && runtime.GOMAXPROCS(0) == 1 {
		r.stepTimes = func(took []time.Duration) { steps = append(steps, took) }
	}
	t1 := time.Now()
	if err := r.run(context.Background()); err != nil {
		b.Fatal(err)
	}
	f.wall, f.cpu = time.Since(t0), cpuTime()-cpu0
	if steps != nil {
		ran := time.Since(t1)
		f.model = map[int]float64{}
		for _, w := range modelCores {
			f.model[w] = partitionModel(steps, ran, w)
		}
	}
	if _, err := r.result(); err != nil {
		b.Fatal(err)
	}
	if mem {
		if peak := procStatusKB("VmHWM") << 10; peak > rssBefore {
			f.rss = peak - rssBefore
		}
		runtime.GC()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if after.HeapAlloc > before.HeapAlloc {
			f.heap = after.HeapAlloc - before.HeapAlloc
		}
	}
	r.close()
	return f
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// procStatusKB reads a kB field of /proc/self/status (Linux); 0 when it
// cannot.
func procStatusKB(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(k) != field {
			continue
		}
		v = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))
		n, _ := strconv.ParseUint(string(v), 10, 64)
		return n
	}
	return 0
}

// resetPeakRSS resets VmHWM to the current resident set (Linux 4.0+,
// proc(5) clear_refs "5"); elsewhere the peak stays the process's.
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
