package harness

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/natsim/natsim/sim"
	"github.com/natsim/natsim/sim/hostnet"
	"github.com/natsim/natsim/sim/push"
)

// spliceBuffer bounds the device bytes a splice holds beyond what the
// sockets buffer. The splice pauses reading the device connection while
// the real socket will not take more, so it holds at most one read; the
// bound only guards against a bug.
const spliceBuffer = 256 << 10

// external is the state of a run against a real server.
type external struct {
	addr     string // host:port of the real server
	provider mqtt.Client
	nextMsg  push.MsgID
	open     int
	splices  []*splice
	sum      ExternalSummary
	pending  atomic.Int64 // provider publishes not yet acknowledged
	failed   atomic.Int64
}

// parseExternal checks server.external: only loopback hosts can be
// reached unless allowRemote.
func parseExternal(raw string, allowRemote bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("server.external %q: %w", raw, err)
	}
	if u.Scheme == "mqtts" {
		return "", fmt.Errorf("server.external %q: mqtts is not supported (the splice carries plain MQTT)", raw)
	}
	host := u.Hostname()
	if !allowRemote {
		ip, err := netip.ParseAddr(host)
		if host != "localhost" && (err != nil || !ip.IsLoopback()) {
			return "", fmt.Errorf("server.external %q: only loopback servers can be reached (set Options.AllowRemoteServer to allow %s)", raw, host)
		}
	}
	return net.JoinHostPort(host, u.Port()), nil
}

// buildExternal puts the splice host in the simulated Internet and
// connects the provider to the real server.
func (r *runner) buildExternal() error {
	addr, err := parseExternal(r.sc.Server.External, r.opts.AllowRemoteServer)
	if err != nil {
		return err
	}
	for _, gn := range sortedKeys(r.sc.Groups) {
		if r.sc.Groups[gn].TLS.RoundTrips > 0 {
			return fmt.Errorf("groups.%s.tls: a real MQTT server does not speak natsim's TLS emulation; set tls: {round_trips: 0} for server.external runs", gn)
		}
	}
	r.ext = &external{addr: addr, sum: ExternalSummary{Address: addr}}
	port := r.sc.Server.Port
	if port == 0 {
		port = 5223
	}
	h, err := r.w.AddHost(sim.HostConfig{Name: "server", Addr: ServerAddr})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if _, err := h.ListenTCP(uint16(port), r.acceptSplice, nil); err != nil {
		return fmt.Errorf("server: listen on %d: %w", port, err)
	}
	r.srvAP = netip.AddrPortFrom(ServerAddr, uint16(port))
	r.w.Subscribe(func(e sim.Event) {
		if e.Kind == sim.EventDrop && e.Drop == sim.DropNoRoute {
			r.ext.sum.EgressRefused++
		}
	})
	opts := mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(fmt.Sprintf("natsim-provider-%d-%d", r.sc.Seed, time.Now().UnixNano())).
		SetCleanSession(true).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetAutoReconnect(true).
		SetOrderMatters(false)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		err := tok.Error()
		if err == nil {
			err = errors.New("timed out")
		}
		return fmt.Errorf("server.external: provider connection to %s: %w", addr, err)
	}
	r.ext.provider = c
	return nil
}

// publishExternal publishes one push through the real server: QoS 1 from
// the provider, the payload in the push envelope so the device reports the
// id and the end-to-end latency. It does not wait for the PUBACK.
func (r *runner) publishExternal(ds *devState, payload []byte, qos byte) {
	e := r.ext
	e.nextMsg++
	id := e.nextMsg
	body := push.EncodeEnvelope(id, r.w.Now(), payload)
	e.pending.Add(1)
	tok := e.provider.Publish("devices/"+ds.name, 1, false, body)
	go func() {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			e.failed.Add(1)
		}
		e.pending.Add(-1)
	}()
	_ = qos // the devices' subscription QoS decides the delivery QoS
	ds.sent++
	r.emit(event{kind: "push_sent", device: ds.name, id: uint64(id)})
}

// closeExternal closes the real side of every splice still open (a FIN:
// the real server sees the devices leave) and disconnects the provider
// after its publishes settled.
func (r *runner) closeExternal() {
	e := r.ext
	if e == nil || e.provider == nil {
		return
	}
	for _, s := range e.splices {
		if s.up != nil && !s.upDone {
			s.devDone = true // the world is ending: leave the device side alone
			s.up.Close()
		}
	}
	e.splices = nil
	deadline := time.Now().Add(5 * time.Second)
	for e.pending.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	e.sum.ProviderErrors = int(e.failed.Load() + e.pending.Load())
	e.provider.Disconnect(100)
	e.provider = nil
}

// splice joins one accepted device connection to a new real socket to the
// external server: bytes are copied both ways with backpressure, and the
// end of either side ends the other (a FIN as a close, anything else as
// a RST). TCP-level events do not cross: each side has its own TCP.
type splice struct {
	r        *runner
	dev      sim.Conn
	up       *hostnet.Conn
	upReady  bool
	toUp     []byte // device bytes the real socket has not taken yet
	toDev    []byte // server bytes the device connection has not taken yet
	devDone  bool
	upDone   bool
	upClosed bool
}

type spliceDev struct{ *splice }
type spliceUp struct{ *splice }

func (r *runner) acceptSplice(sim.Conn) sim.ConnHandler {
	s := &splice{r: r}
	r.ext.splices = append(r.ext.splices, s)
	return spliceDev{s}
}

// OnConnected dials the real server for the new device connection.
func (s spliceDev) OnConnected(c sim.Conn) {
	s.dev = c
	s.r.ext.open++
	s.r.ext.sum.Splices++
	up, err := hostnet.Dial(s.r.sched, s.r.ext.addr, spliceUp{s.splice}, hostnet.Options{})
	if err != nil {
		s.r.ext.sum.UpstreamFailures++
		s.upDone = true
		c.Abort()
		return
	}
	s.up = up
}

func (s spliceDev) OnData(c sim.Conn, p []byte) {
	if s.upDone {
		return
	}
	if !s.upReady || len(s.toUp) > 0 {
		s.queueUp(p)
		return
	}
	n, err := s.up.Write(p)
	if err != nil {
		return // OnClosed follows
	}
	if n < len(p) {
		s.queueUp(p[n:])
	}
}

// queueUp holds device bytes the real socket has not taken and stops
// reading the device connection until flushUp has written them: the
// simulated server host's receive window closes and the device's writes
// go short, as against a slow real server.
func (s *splice) queueUp(p []byte) {
	if len(s.toUp)+len(p) > spliceBuffer {
		s.r.ext.sum.Overflows++
		s.dev.Abort()
		return
	}
	s.toUp = append(s.toUp, p...)
	s.pauseDev(true)
}

func (s *splice) pauseDev(paused bool) {
	if rp, ok := s.dev.(sim.ReadPauser); ok {
		rp.SetReadPaused(paused)
	}
}

// flushUp writes queued device bytes to the real socket.
func (s *splice) flushUp() {
	if len(s.toUp) == 0 || s.upDone || !s.upReady {
		return
	}
	n, err := s.up.Write(s.toUp)
	if err != nil {
		return
	}
	s.toUp = append(s.toUp[:0], s.toUp[n:]...)
	if len(s.toUp) == 0 && !s.devDone {
		s.pauseDev(false)
	}
}

// flushDev writes held server bytes to the device and resumes reading
// the real socket once they are all taken.
func (s *splice) flushDev() {
	if s.devDone {
		return
	}
	if len(s.toDev) > 0 {
		n, err := s.dev.Write(s.toDev)
		if err != nil {
			return
		}
		s.toDev = append(s.toDev[:0], s.toDev[n:]...)
	}
	if len(s.toDev) == 0 && s.up != nil && !s.upDone {
		s.up.SetReadPaused(false)
	}
}

func (s spliceDev) OnWritable(sim.Conn) { s.flushDev() }

// OnClosed ends the real side: a FIN from the device closes it (after the
// queued bytes), anything else aborts it (RST).
func (s spliceDev) OnClosed(c sim.Conn, err error) {
	if s.devDone {
		return
	}
	s.devDone = true
	if s.dev != nil {
		s.r.ext.open--
	}
	if s.up == nil || s.upDone {
		return
	}
	if errors.Is(err, sim.ErrPeerClosed) && s.upReady {
		s.flushUp()
		s.up.Close()
		return
	}
	s.up.Abort()
}

func (s spliceUp) OnConnected(sim.Conn) {
	s.upReady = true
	s.flushUp()
}

func (s spliceUp) OnData(c sim.Conn, p []byte) {
	if s.devDone {
		return
	}
	if len(s.toDev) > 0 {
		s.toDev = append(s.toDev, p...)
		s.up.SetReadPaused(true)
		return
	}
	n, err := s.dev.Write(p)
	if err != nil {
		return
	}
	if n < len(p) {
		// Hold the rest (at most one read) and stop reading the real
		// socket until the device side drains: real backpressure.
		s.toDev = append(s.toDev, p[n:]...)
		s.up.SetReadPaused(true)
	}
}

func (s spliceUp) OnWritable(sim.Conn) { s.flushUp() }

// OnClosed ends the device side: the real server's FIN becomes a FIN to
// the device, anything else (RST, refused, timeout) a RST.
func (s spliceUp) OnClosed(c sim.Conn, err error) {
	if s.upDone {
		return
	}
	s.upDone = true
	if !s.upReady {
		s.r.ext.sum.UpstreamFailures++
	}
	if s.devDone || s.dev == nil {
		return
	}
	if errors.Is(err, sim.ErrPeerClosed) {
		s.flushDev()
		s.dev.Close()
		return
	}
	s.dev.Abort()
}
