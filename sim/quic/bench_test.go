package quic

import (
	"net/netip"
	"testing"
	"time"

	"github.com/natsim/natsim/sim"
)

// echo answers every byte it receives with one byte, as a push server
// answers a 2-byte PINGREQ with a 2-byte PINGRESP.
type echo struct{ app }

func (e *echo) OnData(c sim.Conn, p []byte) { c.Write(p) }

// BenchmarkKeepAlivePerPacket measures the engine's cost per packet of a
// keep-alive exchange through the NAT, over TCP (a 2-byte request and its
// 2-byte answer, as MQTT PINGREQ/PINGRESP, plus TCP's ACKs) and over QUIC
// (a PING frame and its ACK), in the same run, and reports QUIC's cost per
// packet as a ratio to TCP's (quic/tcp), and per keep-alive
// (quic/tcp-keepalive; QUIC needs half TCP's packets). The TCP path is the
// floor: it is what the engine did before QUIC, and both share the
// scheduler, links, NAT and gVisor stacks; QUIC adds its packet building,
// parsing and timers in Go above gVisor's UDP.
func BenchmarkKeepAlivePerPacket(b *testing.B) {
	bd := newBed(b, time.Hour, time.Hour, Config{}, Config{})
	b.Cleanup(bd.w.Close)
	srvTCP := &echo{app{b: bd}}
	if _, err := bd.host.ListenTCP(80, func(sim.Conn) sim.ConnHandler { return srvTCP }, nil); err != nil {
		b.Fatal(err)
	}
	cliTCP := &app{b: bd}
	tc, err := bd.dev.DialTCP(netip.AddrPortFrom(serverAP.Addr(), 80), cliTCP, nil)
	if err != nil {
		b.Fatal(err)
	}
	cliQ := &app{b: bd}
	qc := bd.dial(cliQ)
	bd.runTo(time.Second)
	if len(cliTCP.connected) != 1 || len(cliQ.connected) != 1 {
		b.Fatal("not connected")
	}
	sched := bd.w.Scheduler()
	step := 10 * time.Second // beyond delayed ACKs: every exchange is alike
	var tcpNS, quicNS, tcpPk, quicPk float64
	ping := []byte{0xc0, 0}
	for b.Loop() {
		p0 := bd.w.Stats().Packets
		t0 := time.Now()
		tc.Write(ping)
		sched.RunFor(step)
		tcpNS += float64(time.Since(t0))
		p1 := bd.w.Stats().Packets
		tcpPk += float64(p1 - p0)
		t1 := time.Now()
		qc.Ping(nil)
		sched.RunFor(step)
		quicNS += float64(time.Since(t1))
		quicPk += float64(bd.w.Stats().Packets - p1)
	}
	if len(cliQ.closed) != 0 || len(cliTCP.closed) != 0 {
		b.Fatal("a connection closed")
	}
	b.ReportMetric(tcpNS/tcpPk, "ns/tcp-packet")
	b.ReportMetric(quicNS/quicPk, "ns/quic-packet")
	b.ReportMetric((quicNS/quicPk)/(tcpNS/tcpPk), "quic/tcp")
	b.ReportMetric(quicNS/tcpNS, "quic/tcp-keepalive")
	b.ReportMetric(tcpPk/float64(b.N), "tcp-packets/op")
	b.ReportMetric(quicPk/float64(b.N), "quic-packets/op")
}
