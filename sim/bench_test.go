package sim

import (
	"flag"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"
)

var (
	benchBig   = flag.Bool("sim.big", false, "also run the 10k and 50k device benchmarks")
	benchHours = flag.Int("sim.hours", 24, "virtual hours the engine benchmarks simulate")
)

// pingClient sends a 1-byte ping every period; the server answers each
// with a 1-byte pong.
type pingClient struct {
	w      *World
	period time.Duration
	c      Conn
	pongs  int
}

func (p *pingClient) OnConnected(c Conn) {
	p.c = c
	p.tick()
}
func (p *pingClient) tick() {
	p.w.Scheduler().AfterFunc(p.period, func() {
		if p.c != nil {
			p.c.Write([]byte{'p'})
			p.tick()
		}
	})
}
func (p *pingClient) OnData(c Conn, b []byte) { p.pongs += len(b) }
func (p *pingClient) OnWritable(Conn)         {}
func (p *pingClient) OnClosed(Conn, error)    { p.c = nil }

type pongServer struct{}

func (pongServer) OnConnected(Conn)        {}
func (pongServer) OnData(c Conn, b []byte) { c.Write(b[:1]) }
func (pongServer) OnWritable(Conn)         {}
func (pongServer) OnClosed(Conn, error)    {}

// pingWorld builds n devices, each dialling the server at a seeded random
// phase within the first period.
func pingWorld(tb testing.TB, n int, seed uint64) (*World, []*pingClient) {
	return pingWorldCfg(tb, n, Config{Seed: seed})
}

func pingWorldCfg(tb testing.TB, n int, cfg Config) (*World, []*pingClient) {
	w := NewWorld(cfg)
	h, err := w.AddHost(HostConfig{Name: "server", Addr: serverAddr})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := h.ListenTCP(5223, func(Conn) ConnHandler { return pongServer{} }, nil); err != nil {
		tb.Fatal(err)
	}
	net, err := w.AddNetwork(NetworkConfig{Name: "lan", Prefix: netip.MustParsePrefix("10.0.0.0/8"),
		Access: Symmetric(LinkDir{Latency: ms(30)})})
	if err != nil {
		tb.Fatal(err)
	}
	const period = 5 * time.Minute
	cs := make([]*pingClient, n)
	for i := range n {
		d, err := w.AddDevice(DeviceConfig{Network: net})
		if err != nil {
			tb.Fatal(err)
		}
		pc := &pingClient{w: w, period: period}
		cs[i] = pc
		phase := time.Duration(w.Rand().Int64N(int64(period)))
		w.Scheduler().AfterFunc(phase, func() {
			if _, err := d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), pc, nil); err != nil {
				tb.Error(err)
			}
		})
	}
	return w, cs
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// benchEngine runs the ping workload for -sim.hours virtual hours (24
// by default) and, in the
// same run, the floor (floor_test.go): gVisor alone exchanging as many
// pings and pongs over as many connections. The two are interleaved, a
// slice of virtual time of the engine then the floor's share of
// exchanges, so that a load change on a shared machine hits both alike;
// ratio is engine ns/packet over floor ns/packet.
func benchEngine(b *testing.B, n int, cfg Config) {
	const slice = 15 * time.Minute
	parts := int(time.Duration(*benchHours) * time.Hour / slice)
	for b.Loop() {
		perStack := cfg.DevicesPerStack
		if perStack <= 0 {
			perStack = 1024
		}
		fl := newFloor(b, n, perStack, cfg.Seed)
		before := heapInUse()
		w, cs := pingWorldCfg(b, n, cfg)
		var wall time.Duration
		var cpu time.Duration
		pongs := 0
		for range parts {
			start := time.Now()
			c0 := cpuTime()
			w.Scheduler().RunFor(slice)
			wall += time.Since(start)
			cpu += cpuTime() - c0
			p := 0
			for _, c := range cs {
				p += c.pongs
			}
			fl.run(p - pongs)
			pongs = p
		}
		after := heapInUse()
		st := w.Stats()
		ev := w.Scheduler().Events()
		engNs := float64(wall.Nanoseconds()) / float64(st.Packets)
		b.ReportMetric(float64(n)*float64(*benchHours)/wall.Seconds(), "device-h/s")
		b.ReportMetric(float64(wall.Nanoseconds())/float64(ev), "ns/event")
		b.ReportMetric(engNs, "ns/packet")
		b.ReportMetric(float64(after-before)/float64(n), "heapB/device")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(cpu.Seconds(), "cpu-s")
		b.ReportMetric(float64(pongs)/float64(n), "pongs/device")
		b.ReportMetric(float64(st.Drains)/float64(ev), "drains/event")
		b.ReportMetric(fl.nsPerPacket(), "floor-ns/packet")
		b.ReportMetric(engNs/fl.nsPerPacket(), "ratio")
		w.Close()
		fl.close()
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkEngine(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			if n > 1000 && !*benchBig {
				b.Skip("pass -sim.big for the large populations")
			}
			benchEngine(b, n, Config{Seed: 1})
		})
	}
}

// BenchmarkEngineProcessors measures the alternative to one TCP
// processor per stack: gVisor's default of GOMAXPROCS processors.
func BenchmarkEngineProcessors(b *testing.B) {
	benchEngine(b, 1000, Config{Seed: 1, Processors: -1})
}
