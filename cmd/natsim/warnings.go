package main

import (
	"slices"

	"github.com/natsim/natsim/harness"
	"github.com/natsim/natsim/scenarios"
)

// pointWarnings returns the harness warnings of every run of a sweep, each
// once, in the order the runs first give them.
func pointWarnings(points []scenarios.Point) ([]string, error) {
	var out []string
	for _, p := range points {
		ws, err := harness.Warnings(p.Scenario)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	return out, nil
}
