// Package hostnet implements sim.Conn over real sockets of the host
// network, so the event-driven applications of natsim (the push server of
// sim/push, the harness's splice to an external broker) can run on the
// wall clock against real peers.
//
// Each connection has one reader goroutine and one writer goroutine.
// Neither runs application code: the reader posts received bytes and the
// close reason to the scheduler (Poster, normally a wall-clock
// *sim.Scheduler), so every ConnHandler callback runs on the scheduler
// goroutine, as it does for simulated connections. Writes never block:
// they queue into a bounded per-connection buffer drained by the writer,
// a short count is backpressure, and OnWritable follows once the buffer
// has drained. The reader waits until the scheduler has consumed each
// chunk before it reads again, so a slow application slows the peer down
// through TCP flow control instead of growing memory. Memory per
// connection is therefore bounded by Options.ReadBuffer plus
// Options.MaxBuffered.
//
// Errors from the socket are mapped to the reasons of package sim
// (sim.ErrPeerClosed, sim.ErrReset, sim.ErrTimedOut, sim.ErrRefused,
// sim.ErrUnreachable, sim.ErrNetworkDown); Abort sends a RST
// (SO_LINGER 0).
package hostnet
