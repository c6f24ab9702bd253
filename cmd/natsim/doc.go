// Command natsim runs NAT/CGNAT keep-alive scenarios: single runs, sweeps
// (sharded across machines and merged), validation, the scenario JSON
// Schema, the preset listings, plots, and pushd, the built-in push server
// on a real port. docs/cli.md documents every command and flag.
//
// Exit codes: 0 success (every expectation passed), 1 an expectation
// failed, 2 bad input or a runtime error.
package main
