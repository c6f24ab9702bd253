// Package scenarios is the scenario file format of natsim: the Go types that
// are its schema, a strict loader that reports every problem with
// file:line:column and the field path, the documented defaults, `--set`
// overrides, expectation parsing, sweep expansion and sharding, and the JSON
// Schema that editors use. It also holds the library of scenario files
// (quickstart.yaml and the others beside this file) that CI runs.
//
// Loading never consults the simulator's registries directly: names of NAT
// presets, strategies and radio presets are checked through a [Catalog], so
// the harness can plug in the live registries while this package stays
// independent of the engine. [DefaultCatalog] lists the names known when the
// format was written.
//
// The package reads no clock and no global randomness; loading, rendering
// and sweep expansion are deterministic.
package scenarios

//go:generate go test -run TestSchemaUpToDate -update-schema .
