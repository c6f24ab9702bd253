// Package kerneltest drives the Linux kernel's NAT (a network namespace
// with nftables masquerade and connection tracking) with hand-built IPv4
// packets and reports the fate of each one, so that the nat package's
// linux-conntrack preset can be tested against the reference it models.
//
// A Lab is three network namespaces joined by veth pairs: "dev" (the
// inside host), "nat" (the NAT box) and "srv" (the outside host). The
// endpoint namespaces carry no IPv4 address, so their kernels drop the
// crafted traffic silently instead of answering it; the test sends and
// captures frames with AF_PACKET sockets on their veth ends, and the NAT
// box reaches them through static neighbour entries.
//
// With Options.Hosts (New) the lab hosts real programs instead: the
// endpoints get addresses and routes through the NAT box, sockets opened
// in their namespaces (ListenUDP, Do) talk through the masquerade, the
// packet sockets record both directions, and the NAT box's UDP
// connection table can be listed, watched and pruned (Flows, WatchFlows,
// ForgetFlows). harness/internal/quiclab runs quic-go through it.
//
// A Script is a list of steps (send one packet, or wait) run in lockstep
// against any number of Worlds: the kernel lab and a model. Each step
// yields a Fate per world, rendered as text so that fates compare exactly.
package kerneltest
