// Package sim is natsim's engine: a discrete-event scheduler that is also
// the clock of every gVisor TCP/IP stack in a world, the world itself
// (device and server hosts on gVisor stacks, a stack's devices on one
// shared NIC, each with its own address, links with latency, jitter, loss
// and bandwidth, chains of middleboxes such as the NATs of package nat),
// an event-driven connection API for
// applications that must not own goroutines, packet capture with virtual
// timestamps, and a typed event stream.
//
// Time is virtual by default: it jumps from event to event, and after
// every event that touched a stack the engine waits until every stack has
// finished processing before time moves on, so a run is a pure function of
// its scenario and seed. The same world can run on the wall clock against
// real servers.
package sim
