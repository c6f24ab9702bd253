package harness

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/natsim/natsim/plots"
	"github.com/natsim/natsim/scenarios"
)

// Sweep files (docs/results.md), named as plots reads them.
const (
	SweepFile        = plots.SweepFile
	SweepSummaryFile = plots.SweepSummaryFile
)

// SweepOptions configures Sweep.
type SweepOptions struct {
	// Workers is how many runs go in parallel; zero means GOMAXPROCS.
	Workers int
	// Shard and Shards select shard Shard of Shards (--shard i/n);
	// Shards <= 1 runs everything.
	Shard, Shards int
	// Progress, when not nil, receives a line per finished run.
	Progress io.Writer
	// Run tunes every run.
	Run Options
}

// SweepSummary counts a sweep's runs.
type SweepSummary struct {
	// Runs is the number of runs made, Failed those whose expectations
	// failed.
	Runs, Failed int
}

// sweepMetrics are the metric columns of sweep.csv after group.
var sweepMetrics = []string{"delivery_ratio", "latency_p50_s", "latency_p99_s", "energy_j_per_device_day",
	"keepalives_per_device_hour", "reconnects_per_device_day", "mean_interval_s", "ontime_ratio", "on_time_s"}

// PointDir is the run directory of a sweep point and replicate, relative
// to the sweep directory.
func PointDir(point, replicate int) string {
	return filepath.Join(fmt.Sprintf("point-%d", point), fmt.Sprintf("rep-%d", replicate))
}

// Sweep runs the grid of s (or one shard of it) with a pool of workers,
// each run its own deterministic world, and writes dir/sweep.csv, the run
// directories point-<p>/rep-<r>/ and, for a whole sweep, sweep_summary.csv.
// A scenario without a sweep is a one-point grid.
func Sweep(ctx context.Context, s *scenarios.Scenario, dir string, opts SweepOptions) (SweepSummary, error) {
	points, err := scenarios.Expand(s)
	if err != nil {
		return SweepSummary{}, err
	}
	var paths []string
	if s.Sweep != nil {
		for _, a := range s.Sweep.Grid {
			paths = append(paths, a.Path)
		}
	}
	if opts.Shards > 1 {
		if points, err = scenarios.Shard(points, opts.Shard, opts.Shards); err != nil {
			return SweepSummary{}, err
		}
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	presence := scenarioTracksPresence(s)
	rows := make([][][]string, len(points))
	fails := make([]bool, len(points))
	errs := make([]error, len(points))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				p := points[i]
				res, err := Run(ctx, p.Scenario, opts.Run)
				if err == nil {
					err = res.Write(filepath.Join(dir, PointDir(p.Index, p.Replicate)))
				}
				if err != nil {
					errs[i] = fmt.Errorf("point %d replicate %d: %w", p.Index, p.Replicate, err)
					cancel()
					continue
				}
				fails[i] = !res.Summary.Pass
				rows[i] = sweepRows(p, res)
				if presence {
					addPresenceCells(rows[i], res)
				}
				if opts.Progress != nil {
					mu.Lock()
					done++
					fmt.Fprintf(opts.Progress, "%s: run %d/%d (point %d rep %d) %.1fs\n", s.Name, done, len(points), p.Index, p.Replicate, res.WallTime.Seconds())
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range points {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return SweepSummary{}, err
	}
	if err := ctx.Err(); err != nil {
		return SweepSummary{}, err
	}
	header := sweepHeader(paths)
	if presence {
		header = append(header, presenceSweepMetrics...)
	}
	var all [][]string
	sum := SweepSummary{Runs: len(points)}
	for i := range points {
		all = append(all, rows[i]...)
		if fails[i] {
			sum.Failed++
		}
	}
	if err := writeCSV(filepath.Join(dir, SweepFile), header, all); err != nil {
		return sum, err
	}
	if opts.Shards <= 1 {
		if err := writeSweepSummary(dir, header, all); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

func sweepHeader(paths []string) []string {
	h := append([]string{"point", "replicate", "seed"}, paths...)
	h = append(h, "group")
	return append(h, sweepMetrics...)
}

// paramCell writes a swept value: durations in seconds, other values as
// written in the scenario.
func paramCell(v string) string {
	if d, err := scenarios.ParseDuration(v); err == nil {
		return num(d.Seconds())
	}
	return v
}

func sweepRows(p scenarios.Point, res *Result) [][]string {
	var out [][]string
	for _, g := range res.Summary.Groups {
		row := []string{strconv.Itoa(p.Index), strconv.Itoa(p.Replicate), strconv.FormatUint(p.Seed, 10)}
		for _, a := range p.Assign {
			row = append(row, paramCell(a.Value))
		}
		p50, p99, iv := math.NaN(), math.NaN(), math.NaN()
		if g.PushesDelivered > 0 {
			p50, p99 = g.LatencyS.P50, g.LatencyS.P99
		}
		if g.FinalIntervalS != nil {
			iv = g.FinalIntervalS.Mean
		}
		row = append(row, g.Name, num(g.DeliveryRatio), num(p50), num(p99), num(g.EnergyJPerDeviceDay),
			num(g.KeepalivesPerDeviceHour), num(g.ReconnectsPerDeviceDay), num(iv), num(*g.OnTimeRatio), num(g.OnTimeS))
		out = append(out, row)
	}
	return out
}

func writeCSV(path string, header []string, rows [][]string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	w := csv.NewWriter(f)
	w.Write(header)
	w.WriteAll(rows)
	err = w.Error()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("harness: %s: %w", filepath.Base(path), err)
	}
	return nil
}

// writeSweepSummary computes sweep_summary.csv from sweep.csv's cells, so
// that a merged sweep summarises exactly as the unsharded one.
func writeSweepSummary(dir string, header []string, rows [][]string) error {
	gi := slices.Index(header, "group")
	if gi < 0 {
		return fmt.Errorf("harness: sweep.csv has no group column")
	}
	params := header[3:gi]
	out := [][]string{}
	type key struct{ point, group string }
	var order []key
	vals := map[key][][]float64{}
	lead := map[key][]string{}
	for _, r := range rows {
		k := key{r[0], r[gi]}
		if _, ok := vals[k]; !ok {
			order = append(order, k)
			vals[k] = make([][]float64, len(header)-gi-1)
			lead[k] = append([]string{r[0]}, r[3:gi]...)
		}
		for m := range vals[k] {
			if c := r[gi+1+m]; c != "" {
				if v, err := strconv.ParseFloat(c, 64); err == nil && !math.IsNaN(v) {
					vals[k][m] = append(vals[k][m], v)
				}
			}
		}
	}
	for _, k := range order {
		for m, xs := range vals[k] {
			row := append(slices.Clone(lead[k]), k.group, header[gi+1+m], strconv.Itoa(len(xs)))
			mu, lo, hi := ci95(xs)
			row = append(row, num(mu), num(lo), num(hi))
			out = append(out, row)
		}
	}
	h := append(append([]string{"point"}, params...), "group", "metric", "n", "mean", "ci95_lo", "ci95_hi")
	return writeCSV(filepath.Join(dir, SweepSummaryFile), h, out)
}

// ci95 returns the mean and the Student-t 95% confidence interval of the
// mean; with one value both bounds equal it, with none all are NaN.
func ci95(xs []float64) (mu, lo, hi float64) {
	n := len(xs)
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	mu = mean(xs)
	if n == 1 {
		return mu, mu, mu
	}
	ss := 0.0
	for _, x := range xs {
		ss += (x - mu) * (x - mu)
	}
	sd := math.Sqrt(ss / float64(n-1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile(0.975)
	h := t * sd / math.Sqrt(float64(n))
	return mu, mu - h, mu + h
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	return r.ReadAll()
}

// Merge joins shard directories written by Sweep with --shard into out:
// sweep.csv with every row in run order, sweep_summary.csv, and the run
// directories, byte for byte what the unsharded sweep writes.
func Merge(out string, shards ...string) error {
	if len(shards) == 0 {
		return errors.New("harness: merge: no shard directories")
	}
	var header []string
	var rows [][]string
	seen := map[[2]int]string{}
	for _, d := range shards {
		recs, err := readCSV(filepath.Join(d, SweepFile))
		if err != nil {
			return fmt.Errorf("harness: merge: %w", err)
		}
		if len(recs) == 0 {
			return fmt.Errorf("harness: merge: %s: empty %s", d, SweepFile)
		}
		if header == nil {
			header = recs[0]
		} else if !slices.Equal(header, recs[0]) {
			return fmt.Errorf("harness: merge: %s: columns differ from %s's (shards of different sweeps?)", d, shards[0])
		}
		for li, r := range recs[1:] {
			if len(r) != len(header) {
				return fmt.Errorf("harness: merge: %s:%d: %d cells, want %d", filepath.Join(d, SweepFile), li+2, len(r), len(header))
			}
			p, err1 := strconv.Atoi(r[0])
			rep, err2 := strconv.Atoi(r[1])
			if err1 != nil || err2 != nil {
				return fmt.Errorf("harness: merge: %s:%d: bad point or replicate", filepath.Join(d, SweepFile), li+2)
			}
			k := [2]int{p, rep}
			if o, dup := seen[k]; dup && o != d {
				return fmt.Errorf("harness: merge: point %d replicate %d is in both %s and %s", p, rep, o, d)
			}
			seen[k] = d
			rows = append(rows, r)
		}
	}
	slices.SortStableFunc(rows, func(a, b []string) int {
		pa, _ := strconv.Atoi(a[0])
		pb, _ := strconv.Atoi(b[0])
		if pa != pb {
			return pa - pb
		}
		ra, _ := strconv.Atoi(a[1])
		rb, _ := strconv.Atoi(b[1])
		return ra - rb
	})
	if err := writeCSV(filepath.Join(out, SweepFile), header, rows); err != nil {
		return err
	}
	if err := writeSweepSummary(out, header, rows); err != nil {
		return err
	}
	keys := make([][2]int, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	})
	for _, k := range keys {
		rel := PointDir(k[0], k[1])
		if err := copyDir(filepath.Join(seen[k], rel), filepath.Join(out, rel)); err != nil {
			return fmt.Errorf("harness: merge: %w", err)
		}
	}
	return nil
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(t, b, 0o644)
	})
}
