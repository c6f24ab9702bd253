// Package harness runs natsim scenarios: it assembles a sim.World from a
// loaded scenarios.Scenario (push server, networks with their NAT chains,
// device groups with strategy, radio model and push client, the provider
// workload and the timeline of network events), runs it to the scenario's
// duration, collects per-group and per-NAT metrics, evaluates the
// scenario's expectations and writes the results files of docs/results.md.
//
// It also runs sweeps (a worker pool over the grid points, each point its
// own deterministic world), shards them (--shard i/n) and merges shard
// directories into exactly what the unsharded sweep writes, and offers
// Gomega matchers (DeliverAtLeast, HaveLatencyBelow, UseEnergyAtMost,
// PassExpectations) for Go tests. docs/harness.md describes how a run is
// assembled and how every summary field is computed.
package harness
