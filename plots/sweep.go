package plots

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"
)

// SweepSummary is a sweep's results as mean and 95% confidence interval
// per point, group and metric: sweep_summary.csv, or sweep.csv summarised
// over replicates by ReadSweep.
type SweepSummary struct {
	// Params are the swept parameter paths, in column order.
	Params []string
	// Rows hold one statistic each.
	Rows []SweepStat
}

// SweepStat is one row of sweep_summary.csv.
type SweepStat struct {
	Point int
	// Params are the point's parameter values, aligned with
	// SweepSummary.Params (durations in seconds).
	Params []string
	Group  string
	Metric string
	N      int
	Mean   float64
	Lo     float64
	Hi     float64
}

// Param returns the row's value of parameter path, or "" when the sweep
// has no such parameter.
func (s *SweepSummary) Param(r SweepStat, path string) string {
	i := slices.Index(s.Params, path)
	if i < 0 || i >= len(r.Params) {
		return ""
	}
	return r.Params[i]
}

// ReadSweepSummary reads a sweep_summary.csv stream: the columns between
// point and group are the swept parameters.
func ReadSweepSummary(r io.Reader, name string) (*SweepSummary, error) {
	t, err := openCSV(r, name, "point", "group", "metric", "n", "mean", "ci95_lo", "ci95_hi")
	if err != nil {
		return nil, err
	}
	pi, gi := t.col["point"], t.col["group"]
	if gi < pi {
		return nil, fmt.Errorf("plots: %s:1: column group comes before point; the swept parameters sit between them", name)
	}
	s := &SweepSummary{Params: slices.Clone(t.header[pi+1 : gi])}
	for {
		ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return s, nil
		}
		var st SweepStat
		p, err := t.int("point")
		if err != nil {
			return nil, err
		}
		n, err := t.int("n")
		if err != nil {
			return nil, err
		}
		st.Point, st.N = int(p), int(n)
		st.Params = cloneStrings(t.row[pi+1 : gi])
		st.Group, st.Metric = strings.Clone(t.str("group")), strings.Clone(t.str("metric"))
		for _, f := range []struct {
			col string
			v   *float64
		}{{"mean", &st.Mean}, {"ci95_lo", &st.Lo}, {"ci95_hi", &st.Hi}} {
			if *f.v, err = t.float(f.col); err != nil {
				return nil, err
			}
		}
		s.Rows = append(s.Rows, st)
	}
}

// ReadSweep reads a sweep.csv stream (one row per point, replicate and
// group: point, replicate, seed, the swept parameters, group, then one
// column per metric) and summarises the replicates of each point into a
// mean and a Student-t 95% confidence interval, as sweep_summary.csv
// would hold them.
func ReadSweep(r io.Reader, name string) (*SweepSummary, error) {
	t, err := openCSV(r, name, "point", "replicate", "seed", "group")
	if err != nil {
		return nil, err
	}
	si, gi := t.col["seed"], t.col["group"]
	if gi < si {
		return nil, fmt.Errorf("plots: %s:1: column group comes before seed; the swept parameters sit between them", name)
	}
	s := &SweepSummary{Params: slices.Clone(t.header[si+1 : gi])}
	metrics := slices.Clone(t.header[gi+1:])
	type key struct {
		point int
		group string
	}
	type acc struct {
		params []string
		vals   [][]float64 // per metric
	}
	var order []key
	accs := map[key]*acc{}
	for {
		ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		p, err := t.int("point")
		if err != nil {
			return nil, err
		}
		k := key{int(p), t.str("group")}
		a := accs[k]
		if a == nil {
			k.group = strings.Clone(k.group)
			a = &acc{params: cloneStrings(t.row[si+1 : gi]), vals: make([][]float64, len(metrics))}
			accs[k] = a
			order = append(order, k)
		}
		for i, m := range metrics {
			v, err := t.float(m)
			if err != nil {
				return nil, err
			}
			if finite(v) {
				a.vals[i] = append(a.vals[i], v)
			}
		}
	}
	for _, k := range order {
		a := accs[k]
		for i, m := range metrics {
			mean, lo, hi := meanCI95(a.vals[i])
			s.Rows = append(s.Rows, SweepStat{Point: k.point, Params: a.params, Group: k.group, Metric: m, N: len(a.vals[i]), Mean: mean, Lo: lo, Hi: hi})
		}
	}
	return s, nil
}

// meanCI95 returns the mean of xs and its Student-t 95% confidence
// interval. With one value the interval is the value itself; with none
// all three are NaN.
func meanCI95(xs []float64) (mean, lo, hi float64) {
	n := len(xs)
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(n)
	if n == 1 {
		return mean, mean, mean
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	se := math.Sqrt(ss/float64(n-1)) / math.Sqrt(float64(n))
	q := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile(0.975)
	return mean, mean - q*se, mean + q*se
}

func cloneStrings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.Clone(s)
	}
	return out
}

// SweepAxes names the roles of a sweep's parameters in the sweep figures.
type SweepAxes struct {
	// X is the keep-alive interval parameter (x of both figures).
	X string
	// Y is the NAT timeout parameter (y of the heat map); "" when the sweep
	// has none.
	Y string
	// Series are the remaining parameters: one line (trade-off curve) or
	// one heat map per combination of their values, and per group.
	Series []string
}

// PickAxes assigns roles to a sweep's parameter paths: X is the first path
// containing "interval", Y the first other path containing "timeout" or
// "established", and the rest are series. It fails when no path contains
// "interval".
func PickAxes(params []string) (SweepAxes, error) {
	var a SweepAxes
	for _, p := range params {
		l := strings.ToLower(p)
		switch {
		case a.X == "" && strings.Contains(l, "interval"):
			a.X = p
		case a.Y == "" && (strings.Contains(l, "timeout") || strings.Contains(l, "established")):
			a.Y = p
		default:
			a.Series = append(a.Series, p)
		}
	}
	if a.X == "" {
		return a, fmt.Errorf("plots: no swept parameter names a keep-alive interval (want a path containing \"interval\"; have %s)", strings.Join(params, ", "))
	}
	return a, nil
}

// parseParam reads a parameter value as a number (seconds for durations).
func parseParam(path, v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "s"), 64)
	if err != nil {
		return 0, fmt.Errorf("plots: parameter %s: value %q is not a number (durations are written in seconds)", path, v)
	}
	return f, nil
}
