// Package quiclab runs real QUIC connections (quic-go, on the wall clock)
// through the Linux kernel's NAT in the kernel lab (internal/kerneltest:
// network namespaces, masquerade, connection tracking with shortened UDP
// timeouts) and reports what happened to them as a timeline: keep-alive
// PINGs, pushes delivered or dropped, conntrack mappings created and
// destroyed, ICMP errors from the NAT box, path validation and migration,
// idle-timeout closes.
//
// A Story is one client and one server with scheduled actions (a client
// message, a server push, forgetting the client's NAT mapping). Run plays
// several stories at once in one lab, each on its own ports, and builds
// each story's timeline from three observers: quic-go's own event trace
// (qlog events received as Go values), conntrack events from the NAT box,
// and packet captures on both endpoints' links. The tests beside it
// assert the measured stories and compare them with natsim's simulated
// QUIC transport on the same timers.
package quiclab
