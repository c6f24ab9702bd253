package plots

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Options configures Render.
type Options struct {
	// Format is the output format; "" means PNG.
	Format Format
	// OutDir is where figures go; "" means <dir>/plots.
	OutDir string
	// DPI is the PNG resolution; zero means DefaultDPI.
	DPI int
	// Devices are the devices of the timeline (at most
	// MaxTimelineDevices); empty means, per group (up to
	// MaxTimelineDevices groups), the device with the most reconnects.
	Devices []string
	// LateS is the timeline's late-push threshold; zero means
	// DefaultLateS.
	LateS float64
	// Tolerance is the trade-off knee's tolerance; zero means
	// DefaultKneeTolerance.
	Tolerance float64
	// OperatingS is the trade-off's chosen interval; zero lets
	// OperatingPoint choose.
	OperatingS float64
	// HeatMetric colours the heat map; "" means the survival ratio
	// (on-time ratio, or delivery ratio for results without it).
	HeatMetric string
	// Threshold is the target ratio: the trade-off's operating point is
	// the cheapest interval where every series reaches it, and heat map
	// cells reaching it are outlined; zero means DefaultTarget.
	Threshold float64
	// Figures names the kinds of figure to draw (see Figures); empty
	// draws every one the results support.
	Figures []string
}

// Figures are the kinds of figure Render draws, by the names scenarios'
// outputs.plots and Options.Figures use: the trade-off curve, survival
// heat maps and presence figure of a sweep, and a run's latency CDF,
// energy breakdown, server view, strategy convergence, device timeline
// and, when devices carry apps, the energy of each app's connection.
var Figures = []string{"tradeoff", "heatmap", "latency-cdf", "energy", "server", "convergence", "timeline", "presence", "apps-energy"}

// wants reports whether opts asks for figures of kind.
func (o Options) wants(kind string) bool {
	return len(o.Figures) == 0 || slices.Contains(o.Figures, kind)
}

// maxHeatMaps bounds the heat maps one sweep produces (one per series).
const maxHeatMaps = 12

// Render draws every figure that dir's results support and returns the
// files written, in a fixed order. A sweep directory (sweep_summary.csv or
// sweep.csv) gives the trade-off curve and, when a timeout is swept, a
// heat map per series; a run directory (summary.json) gives the latency
// CDF and energy breakdown, the server view and convergence when
// timeseries.csv has their metrics, and the device timeline when
// events.jsonl exists.
func Render(dir string, opts Options) ([]string, error) {
	if opts.Format == "" {
		opts.Format = PNG
	}
	if _, err := ParseFormat(string(opts.Format)); err != nil {
		return nil, err
	}
	if opts.OutDir == "" {
		opts.OutDir = filepath.Join(dir, "plots")
	}
	for _, k := range opts.Figures {
		if !slices.Contains(Figures, k) {
			return nil, fmt.Errorf("plots: unknown figure %q (want one of %s)", k, strings.Join(Figures, ", "))
		}
	}
	var figs []*Figure
	sweep, err := loadSweep(dir)
	if err != nil {
		return nil, err
	}
	if sweep == nil && !exists(filepath.Join(dir, SummaryFile)) {
		return nil, fmt.Errorf("plots: %s holds no results (want %s, %s or %s)", dir, SummaryFile, SweepSummaryFile, SweepFile)
	}
	if sweep != nil && opts.wants("tradeoff") {
		f, err := TradeOff(sweep, TradeOffOptions{Tolerance: opts.Tolerance, Target: opts.Threshold, OperatingS: opts.OperatingS})
		if err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	if sweep != nil && opts.wants("heatmap") {
		if axes, _ := PickAxes(sweep.Params); axes.Y != "" {
			ho := HeatMapOptions{Axes: axes, Metric: opts.HeatMetric, Threshold: opts.Threshold}
			grids, err := HeatGrids(sweep, ho)
			if err != nil {
				return nil, err
			}
			if len(grids) > maxHeatMaps {
				grids = grids[:maxHeatMaps]
			}
			for _, g := range grids {
				f, err := HeatMap(g, ho)
				if err != nil {
					return nil, err
				}
				figs = append(figs, f)
			}
		}
	}
	// The presence figure needs a sweep of a scenario that tracks presence;
	// asked for by name, its absence is an error.
	if sweep != nil && opts.wants("presence") && (HasPresence(sweep) || slices.Contains(opts.Figures, "presence")) {
		f, err := Presence(sweep)
		if err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	run, err := runFigures(dir, opts)
	if err != nil {
		return nil, err
	}
	figs = append(figs, run...)
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("plots: %w", err)
	}
	var out []string
	for _, f := range figs {
		p := filepath.Join(opts.OutDir, f.Name+"."+string(opts.Format))
		if err := f.Save(p, opts.DPI); err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func loadSweep(dir string) (*SweepSummary, error) {
	for _, c := range []struct {
		name string
		read func(*os.File, string) (*SweepSummary, error)
	}{
		{SweepSummaryFile, func(f *os.File, n string) (*SweepSummary, error) { return ReadSweepSummary(f, n) }},
		{SweepFile, func(f *os.File, n string) (*SweepSummary, error) { return ReadSweep(f, n) }},
	} {
		p := filepath.Join(dir, c.name)
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("plots: %w", err)
		}
		s, err := c.read(f, p)
		f.Close()
		return s, err
	}
	return nil, nil
}

func runFigures(dir string, opts Options) ([]*Figure, error) {
	sp := filepath.Join(dir, SummaryFile)
	if !exists(sp) {
		return nil, nil
	}
	sum, err := ReadSummary(sp)
	if err != nil {
		return nil, err
	}
	var figs []*Figure
	if opts.wants("latency-cdf") {
		if f, err := LatencyCDF(sum.Groups); err == nil {
			figs = append(figs, f)
		}
	}
	if len(sum.Groups) > 0 && opts.wants("energy") {
		f, err := EnergyBreakdown(sum.Groups)
		if err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	if opts.wants("apps-energy") && (hasApps(sum.Groups) || slices.Contains(opts.Figures, "apps-energy")) {
		f, err := AppsEnergy(sum.Groups)
		if err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	if tp := filepath.Join(dir, TimeseriesFile); exists(tp) && (opts.wants("server") || opts.wants("convergence")) {
		f, err := os.Open(tp)
		if err != nil {
			return nil, fmt.Errorf("plots: %w", err)
		}
		samples, err := ReadTimeseries(f, tp, MetricServerOpen, MetricServerHalfOpen, MetricConnected, MetricReconnects, MetricMeanInterval)
		f.Close()
		if err != nil {
			return nil, err
		}
		if opts.wants("server") {
			if fig, err := ServerView(samples); err == nil {
				figs = append(figs, fig)
			}
		}
		if opts.wants("convergence") {
			if fig, err := Convergence(samples, sum.NATs); err == nil {
				figs = append(figs, fig)
			}
		}
	}
	if ep := filepath.Join(dir, EventsFile); exists(ep) && opts.wants("timeline") {
		devs := opts.Devices
		if len(devs) == 0 {
			if devs, err = pickDevices(filepath.Join(dir, DevicesFile)); err != nil {
				return nil, err
			}
		}
		if len(devs) > 0 {
			f, err := os.Open(ep)
			if err != nil {
				return nil, fmt.Errorf("plots: %w", err)
			}
			tls, err := BuildTimelines(f, ep, devs, sum.VirtualS, opts.LateS)
			f.Close()
			if err != nil {
				return nil, err
			}
			fig, err := DeviceTimeline(tls)
			if err != nil {
				return nil, err
			}
			figs = append(figs, fig)
		}
	}
	return figs, nil
}

// pickDevices chooses the default timeline devices from devices.csv: per
// group, in order of first appearance, the device with the most
// reconnects (the first such on ties), for at most MaxTimelineDevices
// groups. No devices.csv means no default.
func pickDevices(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plots: %w", err)
	}
	defer f.Close()
	var groups []string
	best := map[string]DeviceRow{}
	err = ScanDevices(f, path, func(d DeviceRow) error {
		b, ok := best[d.Group]
		if !ok {
			if len(groups) >= MaxTimelineDevices {
				return nil
			}
			groups = append(groups, d.Group)
		}
		if !ok || d.Reconnects > b.Reconnects {
			best[d.Group] = d
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	devs := make([]string, 0, len(groups))
	for _, g := range groups {
		devs = append(devs, best[g].Device)
	}
	return slices.Clip(devs), nil
}
