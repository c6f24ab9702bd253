package scenarios

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v4"
)

// Point is one run of a sweep: a grid point, one replicate of it, and the
// fully resolved scenario with the point's values applied and its seed set.
type Point struct {
	// Index is the grid point, 0-based, the last axis varying fastest.
	Index int
	// Replicate is the replicate of the point, 0-based.
	Replicate int
	// Run is the position in the whole sweep:
	// Index*Replicates + Replicate. Shards split on it.
	Run int
	// Assign are the point's values, one per axis, in axis order.
	Assign []Assignment
	// Seed is the run's seed, derived from the base seed, Assign and
	// Replicate.
	Seed uint64
	// Scenario is the resolved scenario of the run (no sweep, Seed set).
	Scenario *Scenario
}

// Assignment is one parameter path set to one value.
type Assignment struct {
	Path  string
	Value string // compact YAML
}

// ID names the run, "p0003-r01", for logs and messages; its results
// directory is harness.PointDir's point-<p>/rep-<r>.
func (p Point) ID() string { return fmt.Sprintf("p%04d-r%02d", p.Index, p.Replicate) }

// Expand returns every run of a scenario's sweep in a fixed order: grid
// points in odometer order (the first axis varies slowest), replicates of a
// point together. A scenario without a sweep gives one run with its own
// seed. Each point is decoded, defaulted and validated like a file; errors
// name the axis path and point at the offending value in the grid.
func Expand(s *Scenario) ([]Point, error) {
	if s.Sweep == nil {
		return []Point{{Seed: s.Seed, Scenario: s}}, nil
	}
	if s.src == nil || s.src.root == nil {
		return nil, fmt.Errorf("scenario %q was not loaded from a file; cannot expand its sweep", s.Name)
	}
	grid, reps := s.Sweep.Grid, s.Sweep.Replicates
	total := 1
	for _, a := range grid {
		total *= len(a.Values)
	}
	var out []Point
	var errs ErrorList
	idx := make([]int, len(grid))
	for pt := range total {
		// Odometer: the last axis varies fastest.
		rem := pt
		for i := len(grid) - 1; i >= 0; i-- {
			idx[i] = rem % len(grid[i].Values)
			rem /= len(grid[i].Values)
		}
		assign := make([]Assignment, len(grid))
		for i, a := range grid {
			assign[i] = Assignment{Path: a.Path, Value: a.Values[idx[i]].String()}
		}
		for rep := range reps {
			root := cloneNode(s.src.root)
			deleteKey(root, "sweep")
			var perr ErrorList
			for i, a := range grid {
				p := "sweep.grid." + a.Path
				kp := s.src.keyAt(p)
				for _, path := range a.Paths() {
					if err := setPath(root, path, cloneNode(a.Values[idx[i]].node), kp.Line, kp.Column); err != nil {
						perr = append(perr, &Error{Pos: s.src.keyAt(p), Path: p, Msg: err.Error()})
					}
				}
			}
			seed := DeriveSeed(s.Seed, assign, rep)
			if err := setPath(root, "seed", scalar("!!int", strconv.FormatUint(seed, 10)), 0, 0); err != nil {
				perr = append(perr, &Error{Pos: s.src.at("seed"), Path: "seed", Msg: err.Error()})
			}
			if perr != nil {
				errs = append(errs, perr...)
				continue
			}
			ps, err := build(s.src.file, root, s.src.cat)
			if err != nil {
				errs = append(errs, err.(ErrorList)...)
				continue
			}
			out = append(out, Point{Index: pt, Replicate: rep, Run: pt*reps + rep, Assign: assign, Seed: seed, Scenario: ps})
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// TiedPaths separates the paths of an axis that sets several parameters
// to the same value ("groups.phones.strategy.interval+groups.phones.push_keepalive":
// a heartbeat interval and the keep-alive the server enforces move together).
const TiedPaths = "+"

// Paths returns the parameter paths the axis sets: one, or several tied
// with TiedPaths.
func (a Axis) Paths() []string { return strings.Split(a.Path, TiedPaths) }

func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

// DeriveSeed is the seed of one sweep run: a hash of the base seed, the
// point's assignments (so a point keeps its seed when other values are
// added to the grid) and the replicate number.
func DeriveSeed(base uint64, assign []Assignment, replicate int) uint64 {
	h := fnv.New64a()
	for _, a := range assign {
		h.Write([]byte(a.Path))
		h.Write([]byte{'='})
		h.Write([]byte(a.Value))
		h.Write([]byte{0})
	}
	x := mix64(base ^ mix64(h.Sum64()))
	return mix64(x ^ mix64(uint64(replicate)+1))
}

// mix64 is the SplitMix64 finaliser.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Shard returns shard i of n (0 <= i < n): the runs whose Run is i modulo
// n, in order. The shards of 0..n-1 are disjoint and together are all the
// points; round-robin keeps slow grid regions spread over shards.
func Shard(points []Point, i, n int) ([]Point, error) {
	if n < 1 || i < 0 || i >= n {
		return nil, fmt.Errorf("shard %d/%d: want 0 <= i < n", i, n)
	}
	var out []Point
	for _, p := range points {
		if p.Run%n == i {
			out = append(out, p)
		}
	}
	return out, nil
}

// ParseShard parses "i/n" as given to --shard (i is 0-based).
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("shard %q: want i/n with 0 <= i < n", s)
	}
	return i, n, nil
}
