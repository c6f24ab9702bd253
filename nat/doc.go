// Package nat models NATs, carrier-grade NATs and stateful firewalls as
// pure packet translators: IPv4 packet bytes and the current time go in,
// translated packets, verdicts and generated packets (RST, ICMP) come out.
// It knows nothing of gVisor stacks or the simulation scheduler, and it
// never reads a clock.
//
// The vocabulary is that of RFC 4787, 5382, 5508, 6888 and 7857: mapping
// behaviour (EIM, ADM, APDM), filtering behaviour (EIF, ADF, APDF),
// hairpinning, paired address pooling, port preservation and port block
// allocation, per-protocol and per-TCP-state idle timeouts, refresh
// direction, and what happens on expiry. Presets reproduce measured
// devices and vendor defaults, each with its source.
package nat
