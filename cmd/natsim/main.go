// Command natsim runs NAT/CGNAT keep-alive scenarios: single runs, sweeps
// (sharded across machines and merged), validation, the scenario JSON
// Schema, the preset listings and plots. docs/cli.md documents every
// command and flag.
//
// Exit codes: 0 success (every expectation passed), 1 an expectation
// failed, 2 bad input or a runtime error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
