package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"golang.org/x/term"

	"github.com/natsim/natsim/harness"
	"github.com/natsim/natsim/plots"
	"github.com/natsim/natsim/scenarios"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // expectations failed
	exitError  = 2 // bad input or runtime error
)

const usage = `natsim simulates phones holding push connections through NATs and CGNATs.

Usage:
  natsim <command> [flags] [arguments]

Commands:
  run FILE       run one scenario and write its results
  sweep FILE     run a scenario's sweep grid (optionally one shard)
  merge          join shard directories of a sweep
  validate FILE  check scenario files without running them
  schema         print the scenario JSON Schema
  presets        list NAT presets, mixtures, strategies and radio presets
  plot DIR...    draw the figures of results directories
  pushd          run the push server on a real port (MQTT 3.1.1, wall clock)
  version        print the version

Run "natsim <command> -h" for a command's flags.
Exit status: 0 pass, 1 expectations failed, 2 bad input or error.
`

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

// run is the whole command line, in-process for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "sweep":
		return cmdSweep(ctx, rest, stdout, stderr)
	case "merge":
		return cmdMerge(rest, stdout, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "schema":
		return cmdSchema(rest, stdout, stderr)
	case "presets":
		return cmdPresets(rest, stdout, stderr)
	case "plot":
		return cmdPlot(rest, stdout, stderr)
	case "version":
		return cmdVersion(stdout)
	case "pushd":
		return cmdPushd(ctx, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "natsim: unknown command %q\n\n%s", cmd, usage)
	return exitError
}

func newFlags(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: natsim %s %s\n\nFlags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseExit is a command's exit status when parse fails: 0 after the help
// a -h or --help asked for, 2 for bad flags.
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitError
}

// parse parses flags that may follow positional arguments
// ("run FILE --out DIR").
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func progressWriter(stderr io.Writer) io.Writer {
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return stderr
	}
	return nil
}

// load loads a scenario and prints its warnings (file:line:col: path:
// warning: ...) to stderr.
func load(file string, sets []string, stderr io.Writer) (*scenarios.Scenario, error) {
	s, err := (&scenarios.Loader{Sets: sets}).LoadFile(file)
	if err == nil {
		for _, w := range s.Warnings() {
			fmt.Fprintln(stderr, w)
		}
	}
	return s, err
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	fs := newFlags("run", "FILE [flags]", stderr)
	out := fs.String("out", "", "results directory (default out/<scenario-name>)")
	seed := fs.Uint64("seed", 0, "seed (overrides the scenario's; 0 keeps it)")
	var sets multi
	fs.Var(&sets, "set", "override a scenario value, path=value (repeatable)")
	printCfg := fs.Bool("print-config", false, "print the resolved scenario and exit")
	pcap := fs.Bool("pcap", false, "capture packets (outputs.pcap's devices, else the first device of each group)")
	wall := fs.Bool("record-wall-time", false, "write the wall-clock duration into summary.json (breaks byte-identical results)")
	// A world's scheduler goroutine and gVisor's TCP processors hand work
	// to each other strictly in turn, so a second processor adds
	// cross-core wake-ups and no parallelism: one is about 20% faster
	// (docs/engine.md). A partitioned scenario steps its partitions in
	// parallel and, without --procs, gets every core.
	procs := fs.Int("procs", 1, "processors for the run (GOMAXPROCS); 0 keeps Go's default, as does a scenario with partitions > 1 when --procs is not given")
	prof := profileFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "natsim run: want exactly one scenario file")
		fs.Usage()
		return exitError
	}
	if err := prof.start(); err != nil {
		fmt.Fprintln(stderr, "natsim run:", err)
		return exitError
	}
	defer prof.stopInto(stderr, "natsim run", &code)
	s, err := load(pos[0], sets, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	if *procs > 0 && (s.Partitions <= 1 || flagSet(fs, "procs")) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(*procs))
	}
	if *seed != 0 {
		s.Seed = *seed
	}
	if *printCfg {
		b, err := scenarios.Render(s)
		if err != nil {
			fmt.Fprintln(stderr, "natsim run:", err)
			return exitError
		}
		stdout.Write(b)
		return exitOK
	}
	if s.Sweep != nil {
		fmt.Fprintf(stderr, "natsim run: %s has a sweep; running its base values once (use natsim sweep for the grid)\n", pos[0])
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("out", s.Name)
	}
	// Said before a long run as well as in its summary table.
	if warns, err := harness.Warnings(s); err == nil {
		for _, w := range warns {
			fmt.Fprintln(stderr, "natsim run: warning:", w)
		}
	}
	res, err := harness.Run(ctx, s, harness.Options{Pcap: *pcap, Progress: progressWriter(stderr), RecordWallTime: *wall})
	if err != nil {
		fmt.Fprintln(stderr, "natsim run:", err)
		return exitError
	}
	if err := res.Write(dir); err != nil {
		fmt.Fprintln(stderr, "natsim run:", err)
		return exitError
	}
	if err := drawPlots(dir, s); err != nil {
		fmt.Fprintln(stderr, "natsim run: plots:", err)
		return exitError
	}
	harness.PrintSummary(stdout, res)
	fmt.Fprintf(stdout, "results in %s (%.1fs wall)\n", dir, res.WallTime.Seconds())
	if !res.Summary.Pass {
		return exitFailed
	}
	return exitOK
}

// drawPlots draws the figures when the scenario asks for any, in
// outputs.plot_format (the loader has filled in its default).
func drawPlots(dir string, s *scenarios.Scenario) error {
	if len(s.Outputs.Plots) == 0 {
		return nil
	}
	_, err := plots.Render(dir, plots.Options{Format: plots.Format(s.Outputs.PlotFormat), Figures: s.Outputs.Plots})
	return err
}

func cmdSweep(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	fs := newFlags("sweep", "FILE [flags]", stderr)
	out := fs.String("out", "", "sweep directory (default out/<scenario-name>)")
	shard := fs.String("shard", "", "run only shard i/n of the runs (0-based i)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "runs in parallel")
	var sets multi
	fs.Var(&sets, "set", "override a scenario value, path=value (repeatable)")
	prof := profileFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "natsim sweep: want exactly one scenario file")
		fs.Usage()
		return exitError
	}
	if err := prof.start(); err != nil {
		fmt.Fprintln(stderr, "natsim sweep:", err)
		return exitError
	}
	defer prof.stopInto(stderr, "natsim sweep", &code)
	s, err := load(pos[0], sets, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("out", s.Name)
	}
	if points, err := scenarios.Expand(s); err == nil {
		if warns, err := pointWarnings(points); err == nil {
			for _, w := range warns {
				fmt.Fprintln(stderr, "natsim sweep: warning:", w)
			}
		}
	}
	opts := harness.SweepOptions{Workers: *workers, Progress: progressWriter(stderr)}
	if *shard != "" {
		i, n, err := scenarios.ParseShard(*shard)
		if err != nil {
			fmt.Fprintln(stderr, "natsim sweep: --shard:", err)
			return exitError
		}
		opts.Shard, opts.Shards = i, n
	}
	sum, err := harness.Sweep(ctx, s, dir, opts)
	if err != nil {
		fmt.Fprintln(stderr, "natsim sweep:", err)
		return exitError
	}
	if opts.Shards <= 1 {
		if err := drawPlots(dir, s); err != nil {
			fmt.Fprintln(stderr, "natsim sweep: plots:", err)
			return exitError
		}
	}
	fmt.Fprintf(stdout, "%d runs, %d passed, %d failed; results in %s\n", sum.Runs, sum.Runs-sum.Failed, sum.Failed, dir)
	if sum.Failed > 0 {
		return exitFailed
	}
	return exitOK
}

func cmdMerge(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("merge", "--out DIR SHARD_DIR...", stderr)
	out := fs.String("out", "", "merged sweep directory (required)")
	pos, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if *out == "" || len(pos) == 0 {
		fmt.Fprintln(stderr, "natsim merge: want --out DIR and at least one shard directory")
		fs.Usage()
		return exitError
	}
	if err := harness.Merge(*out, pos...); err != nil {
		fmt.Fprintln(stderr, "natsim merge:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "merged %d shard directories into %s\n", len(pos), *out)
	return exitOK
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "FILE...", stderr)
	var sets multi
	fs.Var(&sets, "set", "override a scenario value, path=value (repeatable)")
	pos, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) == 0 {
		fmt.Fprintln(stderr, "natsim validate: want at least one scenario file")
		return exitError
	}
	code := exitOK
	for _, f := range pos {
		s, err := load(f, sets, stderr)
		var points []scenarios.Point
		if err == nil {
			points, err = scenarios.Expand(s)
		}
		var warns []string
		if err == nil {
			warns, err = pointWarnings(points)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = exitError
			continue
		}
		for _, w := range warns {
			fmt.Fprintf(stderr, "%s: warning: %s\n", f, w)
		}
		fmt.Fprintf(stdout, "%s: ok\n", f)
	}
	return code
}

func cmdSchema(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("schema", "", stderr)
	if _, err := parse(fs, args); err != nil {
		return parseExit(err)
	}
	b, err := scenarios.GenerateSchema("")
	if err != nil {
		fmt.Fprintln(stderr, "natsim schema:", err)
		return exitError
	}
	stdout.Write(b)
	return exitOK
}

func cmdPlot(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("plot", "RESULTS... --out DIR [--format png|svg|pdf]", stderr)
	out := fs.String("out", "", "figure directory (default <results>/plots)")
	format := fs.String("format", "png", "png, svg or pdf")
	pos, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) == 0 {
		fmt.Fprintln(stderr, "natsim plot: want at least one results directory")
		return exitError
	}
	switch *format {
	case "png", "svg", "pdf":
	default:
		fmt.Fprintf(stderr, "natsim plot: --format %q: want png, svg or pdf\n", *format)
		return exitError
	}
	for _, d := range pos {
		o := *out
		if o != "" && len(pos) > 1 {
			o = filepath.Join(o, filepath.Base(filepath.Clean(d)))
		}
		files, err := plots.Render(d, plots.Options{Format: plots.Format(*format), OutDir: o})
		if err != nil {
			fmt.Fprintln(stderr, "natsim plot:", err)
			return exitError
		}
		for _, f := range files {
			fmt.Fprintln(stdout, f)
		}
	}
	return exitOK
}

func cmdVersion(stdout io.Writer) int {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v += " " + s.Value
			}
		}
	}
	fmt.Fprintf(stdout, "natsim %s %s\n", v, runtime.Version())
	return exitOK
}

// flagSet reports whether the command line set the named flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
