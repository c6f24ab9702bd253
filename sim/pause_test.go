package sim

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// pump writes data as fast as the connection takes it.
type pump struct {
	recorder
	conn   Conn
	data   []byte
	off    int
	shorts int
}

func (p *pump) OnConnected(c Conn) { p.recorder.OnConnected(c); p.conn = c; p.fill() }
func (p *pump) OnWritable(Conn)    { p.fill() }

func (p *pump) fill() {
	for p.off < len(p.data) {
		n, err := p.conn.Write(p.data[p.off:])
		p.off += n
		if err != nil || p.off < len(p.data) {
			if p.off < len(p.data) {
				p.shorts++
			}
			return
		}
	}
}

func TestPausedReaderClosesTheWindowAndResumesInOrder(t *testing.T) {
	w, d, h := oneDevice(t, Config{Seed: 8}, Symmetric(LinkDir{Latency: ms(30)}), false)
	srv := &recorder{w: w}
	var sc Conn
	srv.onConn = func(c Conn) {
		sc = c
		c.(ReadPauser).SetReadPaused(true)
	}
	if _, err := h.ListenTCP(5223, func(Conn) ConnHandler { return srv }, nil); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 256<<10)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	cli := &pump{recorder: recorder{w: w}, data: data}
	if _, err := d.DialTCP(netip.AddrPortFrom(serverAddr, 5223), cli, nil); err != nil {
		t.Fatal(err)
	}
	w.Scheduler().RunFor(10 * time.Second)
	// Paused: nothing delivered; the sender stopped at what its send
	// buffer and the server's receive buffer hold (16 KiB each by
	// default, with gVisor's accounting slack), far short of 256 KiB.
	if len(srv.data) != 0 {
		t.Fatalf("%d bytes delivered while paused", len(srv.data))
	}
	if cli.shorts == 0 || cli.off >= len(data) || cli.off > 4*defaultBuffer {
		t.Fatalf("sender took %d of %d bytes (%d short writes): no backpressure", cli.off, len(data), cli.shorts)
	}
	held := cli.off
	t.Logf("sender took %d bytes before the window closed", held)
	// Still stalled later: the window stays closed.
	w.Scheduler().RunFor(time.Minute)
	if cli.off != held || len(srv.data) != 0 || len(cli.closed)+len(srv.closed) != 0 {
		t.Fatalf("while paused: sender %d -> %d bytes, %d delivered, closed %v %v", held, cli.off, len(srv.data), cli.closed, srv.closed)
	}
	sc.(ReadPauser).SetReadPaused(false)
	if len(srv.data) != 0 {
		t.Fatal("OnData ran inside SetReadPaused")
	}
	w.Scheduler().RunFor(time.Minute)
	if cli.off != len(data) || !bytes.Equal(srv.data, data) {
		t.Fatalf("after resuming: sent %d, delivered %d of %d bytes (equal %v)", cli.off, len(srv.data), len(data), bytes.Equal(srv.data, data))
	}
}
