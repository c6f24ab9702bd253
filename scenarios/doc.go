// Package scenarios is the scenario file format of natsim: the Go types that
// are its schema, a strict loader that reports every problem with
// file:line:column and the field path, the documented defaults, `--set`
// overrides, expectation parsing, sweep expansion and sharding, and the JSON
// Schema that editors use. It also holds the library of scenario files
// (quickstart.yaml and the others beside this file) that CI runs.
//
// Names of NAT presets and mixtures, strategies (with their parameters) and
// radio presets are checked through a [Catalog]; by default [Registries],
// which asks the nat, sim/strategy and sim/radio registries themselves, so
// the loader can never drift from what a run accepts. The package does not
// depend on the engine.
//
// The package reads no clock and no global randomness; loading, rendering
// and sweep expansion are deterministic.
package scenarios

//go:generate go test -run TestSchemaUpToDate -update-schema .
