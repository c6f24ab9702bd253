package harness

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/scenarios"
	"github.com/natsim/natsim/sim/push"
)

// event is one line of events.jsonl.
type event struct {
	t        time.Duration
	kind     string
	device   string
	reason   string
	id       uint64
	latency  float64
	layer    string
	network  string
	interval float64
	app      string // the app whose own connection it concerns, or whose push it is
}

// seriesRow is one row of timeseries.csv.
type seriesRow struct {
	t      time.Duration
	group  string
	metric string
	value  float64
}

func (r *runner) emit(e event) {
	r.nevents++
	if !r.keepEvents {
		return
	}
	e.t = r.w.Now().Sub(r.start)
	r.events = append(r.events, e)
}

func connDownReason(r push.Reason) string {
	switch r {
	case push.ReasonReset:
		return "rst"
	case push.ReasonPingTimeout:
		return "keepalive_timeout"
	case push.ReasonTimedOut:
		return "tcp_timeout"
	case push.ReasonNetworkChanged, push.ReasonNetworkDown:
		return "network_change"
	case push.ReasonPeerClosed, push.ReasonTakeover, push.ReasonKeepAliveTimeout:
		return "server_close"
	}
	return r.String()
}

func (ds *devState) clientEvent(ev push.ClientEvent) { ds.connEvent(&ds.connState, nil, ev) }

// connEvent records an event of the device's connection cs; app is the
// app that owns cs (nil for the device's connection).
func (ds *devState) connEvent(cs *connState, app *appState, ev push.ClientEvent) {
	r := ds.r
	var an string
	if app != nil {
		an = app.name
	}
	switch ev.Kind {
	case push.ClientConnecting:
		if cs.connects > 0 || ev.Attempt > 1 {
			r.emit(event{kind: "reconnect_attempt", device: ds.name, app: an})
		}
	case push.ClientConnected:
		cs.connects++
		cs.deathAt = time.Time{}
		if cs.connects > 1 {
			if b := r.bucket(); b >= 0 {
				for len(ds.g.reconnectsIn) <= b {
					ds.g.reconnectsIn = append(ds.g.reconnectsIn, 0)
				}
				ds.g.reconnectsIn[b]++
			}
		}
		r.emit(event{kind: "conn_up", device: ds.name, app: an})
		cs.checkInterval(ds, an)
	case push.ClientDisconnected:
		if ev.WasConnected {
			if !cs.deathAt.IsZero() && ev.Reason != push.ReasonNetworkChanged && ev.Reason != push.ReasonNetworkDown {
				cs.detections = append(cs.detections, ev.Time.Sub(cs.deathAt).Seconds())
			}
			cs.deathAt = time.Time{}
			r.emit(event{kind: "conn_down", device: ds.name, reason: ds.downReason(ev.Reason, app), app: an})
		}
	case push.ClientKeepAliveSent:
		cs.keepalives++
		r.emit(event{kind: "keepalive_sent", device: ds.name, app: an})
	case push.ClientKeepAliveOK:
		cs.deathAt = time.Time{}
		r.emit(event{kind: "keepalive_ok", device: ds.name, app: an})
		cs.checkInterval(ds, an)
	case push.ClientKeepAliveFailed:
		r.emit(event{kind: "keepalive_failed", device: ds.name, app: an})
		cs.checkInterval(ds, an)
	case push.ClientPushReceived:
		cs.deathAt = time.Time{}
		ds.delivered++
		ds.latencies.add(ev.Latency)
		if a := ds.pushApp(app, ev.Topic); a != nil {
			a.delivered++
			a.latencies.add(ev.Latency)
			an = a.name
		}
		r.emit(event{kind: "push_delivered", device: ds.name, id: uint64(ev.Msg), latency: ev.Latency.Seconds(), app: an})
	case push.ClientNetworkChanged:
		r.emit(event{kind: "network_change", device: ds.name, network: ds.dev.Network().Name(), app: an})
	}
}

func (cs *connState) checkInterval(ds *devState, app string) {
	iv := cs.strat.Interval()
	if iv != cs.lastInterval {
		cs.lastInterval = iv
		if iv > 0 {
			ds.r.emit(event{kind: "interval_changed", device: ds.name, interval: iv.Seconds(), app: app})
		}
	}
}

func (r *runner) serverEvent(ev push.ServerEvent) {
	switch ev.Kind {
	case push.ServerPublished:
		r.emit(event{kind: "push_sent", device: ev.ClientID, id: uint64(ev.Msg)})
	case push.ServerDropped:
		r.emit(event{kind: "push_lost", device: ev.ClientID, id: uint64(ev.Msg), reason: ev.Drop.String()})
	case push.ServerConnected:
		r.emit(event{kind: "server_conn_open", device: ev.ClientID})
	case push.ServerDisconnected:
		r.emit(event{kind: "server_conn_close", device: ev.ClientID, reason: ev.Reason.String()})
		r.sessionLost(ev)
	}
}

// natObserver reports the lifecycle of the push flow's mappings: a
// mapping gone while the connection is up marks the connection's death
// (for the detection delay).
func (r *runner) natObserver(ls *layerState, owner *devState) nat.Observer {
	outer := r.outermost(ls)
	return func(e nat.Event) {
		ds := owner
		if ds == nil {
			ds = r.byAddr[e.Inside.Addr()]
		}
		if ds != nil && outer {
			ds.countMapping(e.Kind == nat.MappingCreated)
		}
		if !r.isPushServer(e.Protocol, e.Remote) || ds == nil {
			return
		}
		cs := ds.connFor(e.Inside.Port())
		switch e.Kind {
		case nat.MappingCreated:
			if e.Reason == "loose_pickup" && cs != nil {
				cs.deathAt = time.Time{}
			}
			r.emit(event{kind: "mapping_created", device: ds.name, layer: ls.name, network: ls.network, reason: e.Reason})
		default:
			if cs != nil && cs.client.Connected() && cs.deathAt.IsZero() && cs.carries(e.Inside) {
				cs.deathAt = e.Time
			}
			r.emit(event{kind: "mapping_expired", device: ds.name, layer: ls.name, network: ls.network, reason: e.Kind.String() + ":" + e.Reason})
		}
	}
}

// carries reports whether a push-flow mapping whose private side is inside
// can be cs's current connection's. At a layer facing the device (inside
// is the connection's own address) the ports must match: the expiry of an
// earlier connection's mapping (a QUIC connection's probes after its
// server stopped answering, a TCP connection's after a reset) is not the
// current one's death. Behind another NAT the port is that NAT's, so any
// mapping of the device's push flow counts.
func (cs *connState) carries(inside netip.AddrPort) bool {
	ap, ok := cs.client.LocalAddr()
	if !ok {
		return false
	}
	return inside.Addr() != ap.Addr() || inside.Port() == ap.Port()
}

func (r *runner) bucketSize() time.Duration {
	return time.Minute
}

func (r *runner) bucket() int {
	return int(r.w.Now().Sub(r.start) / r.bucketSize())
}

// counts is what the timeseries records at a bucket start: per group
// the connected devices and the sum of their strategies' intervals, and
// the server's open connections against the devices' connected ones.
type counts struct {
	t               time.Duration
	groups          []groupCounts
	open, connected int
}

type groupCounts struct {
	connected int
	interval  time.Duration
}

// count reads the counts of the runner's devices and servers now.
func (r *runner) count() counts {
	c := counts{t: r.w.Now().Sub(r.start), groups: make([]groupCounts, len(r.groups))}
	if r.srv != nil {
		r.eachServer(func(srv *push.Server) { c.open += srv.Stats().ConnectionsOpen })
	} else if r.ext != nil {
		c.open = r.ext.open
	}
	for i, g := range r.groups {
		gc := &c.groups[i]
		for _, ds := range g.devs {
			if ds.connected() {
				gc.connected++
			}
			if ds.strat != nil {
				gc.interval += ds.strat.Interval()
			}
			c.connected += ds.connectedConns()
		}
	}
	return c
}

// add adds o's counts (another partition's at the same instant) to c's.
func (c *counts) add(o counts) {
	for i, g := range o.groups {
		c.groups[i].connected += g.connected
		c.groups[i].interval += g.interval
	}
	c.open += o.open
	c.connected += o.connected
}

// record appends the timeseries rows of c, the counts of every device of
// the run (every partition's).
func (r *runner) record(c counts) {
	for i, g := range r.groups {
		gc := c.groups[i]
		r.series = append(r.series, seriesRow{c.t, g.name, "connected_devices", float64(gc.connected)})
		if gc.interval > 0 {
			r.series = append(r.series, seriesRow{c.t, g.name, "mean_interval_s", gc.interval.Seconds() / float64(len(g.devs))})
		}
	}
	r.series = append(r.series, seriesRow{c.t, "all", "server_open_conns", float64(c.open)})
	r.series = append(r.series, seriesRow{c.t, "all", "server_half_open_conns", float64(max(c.open-c.connected, 0))})
}

// advance runs a partition's clock to t, a bucket start, and keeps its
// counts there for the view (a partition of one run samples itself).
func (r *runner) advance(t time.Time) {
	r.sched.RunUntil(t)
	if r.nparts > 1 {
		r.samples = append(r.samples, r.count())
	}
	r.at.Store(int64(t.Sub(r.start)))
	r.ran.Store(int64(r.sched.Events()))
}

func (r *runner) run(ctx context.Context) error {
	wall := time.Now()
	// A cancelled context (Ctrl-C, SIGTERM) stops the schedulers after the
	// event in progress, not at the end of the sampling step: a step of a
	// large world can take minutes of wall time.
	defer context.AfterFunc(ctx, func() {
		for _, p := range r.parts {
			p.sched.Stop()
		}
	})()
	progress := r.progress(wall)
	var err error
	if r.view && r.opts.Step == nil {
		err = r.runApart(ctx, progress)
	} else {
		err = r.runTogether(ctx, progress)
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("run cancelled at %v virtual: %w", r.sched.Now().Sub(r.start).Truncate(time.Millisecond), cerr)
	}
	if err != nil {
		return err
	}
	if r.opts.Progress != nil {
		fmt.Fprintf(r.opts.Progress, "\r%s: done in %.1fs wall%20s\n", r.sc.Name, time.Since(wall).Seconds(), "")
	}
	r.gather()
	return errors.Join(r.errs...)
}

// runTogether steps every partition (the one of an unpartitioned run)
// to each bucket start, where the run samples, calls Options.Step and
// reports progress, then to the end, and finishes them.
func (r *runner) runTogether(ctx context.Context, progress func()) error {
	for t := r.start; t.Before(r.end); t = t.Add(r.bucketSize()) {
		if ctx.Err() != nil {
			return nil
		}
		r.stepAll(t)
		if ctx.Err() != nil {
			return nil
		}
		if !r.view {
			r.sample()
		}
		if r.opts.Step != nil {
			r.opts.Step(t.Sub(r.start))
		}
		progress()
	}
	each(len(r.parts), func(k int) { r.parts[k].sched.RunUntil(r.end) })
	if ctx.Err() != nil {
		return nil
	}
	for _, p := range r.parts {
		if err := p.finish(); err != nil {
			return err
		}
	}
	return nil
}

// runApart runs each partition's whole course, sampling itself at every
// bucket start, on up to GOMAXPROCS goroutines, while progress is
// reported: nothing needs the partitions at the same instant. A partition
// that has run is finished and its world closed at once: what the
// results read stays, its stacks' memory goes, so the run holds the
// connections of the partitions running, not of all of them.
func (r *runner) runApart(ctx context.Context, progress func()) error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if r.opts.Progress != nil {
		wg.Go(func() {
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					progress()
				}
			}
		})
	}
	took := make([]time.Duration, len(r.parts))
	errs := make([]error, len(r.parts))
	each(len(r.parts), func(k int) {
		p, t0 := r.parts[k], time.Now()
		for t := p.start; t.Before(p.end); t = t.Add(r.bucketSize()) {
			if ctx.Err() != nil {
				return
			}
			p.advance(t)
		}
		p.sched.RunUntil(p.end)
		if ctx.Err() != nil {
			return
		}
		errs[k] = p.finish()
		p.w.Close()
		took[k] = time.Since(t0)
	})
	close(stop)
	wg.Wait()
	if err := errors.Join(errs...); err != nil || ctx.Err() != nil {
		return err
	}
	if r.stepTimes != nil {
		r.stepTimes(took)
	}
	return nil
}

// sample records the timeseries of an unpartitioned run at a bucket
// start.
func (r *runner) sample() { r.record(r.count()) }

// progress returns what reports progress (virtual time, events per
// second) to Options.Progress at most twice a second; it does nothing
// without a writer. It reads only what the partitions publish (advance),
// so it may run while they do: the virtual time it gives is the mean of
// theirs.
func (r *runner) progress(wall time.Time) func() {
	if r.opts.Progress == nil {
		return func() {}
	}
	last, lastEvents := wall, int64(0)
	return func() {
		now := time.Now()
		if now.Sub(last) < 500*time.Millisecond {
			return
		}
		var at time.Duration
		var ev int64
		for _, p := range r.parts {
			at += time.Duration(p.at.Load())
			ev += p.ran.Load()
		}
		at /= time.Duration(len(r.parts))
		rate := float64(ev-lastEvents) / now.Sub(last).Seconds()
		fmt.Fprintf(r.opts.Progress, "\r%s: %s / %s virtual, %.0f events/s   ", r.sc.Name,
			scenarios.FormatDuration(at.Truncate(time.Second)), scenarios.FormatDuration(r.sc.Duration), rate)
		last, lastEvents = now, ev
	}
}

// finish ends a partition's run: servers expire what they still hold,
// the capture is flushed, the world's counters are read.
func (r *runner) finish() error {
	r.eachServer((*push.Server).Expire)
	r.closeExternal()
	if r.pcap != nil {
		if err := r.w.FlushCapture(); err != nil {
			return fmt.Errorf("pcap: %w", err)
		}
	}
	r.stats = r.w.Stats()
	return nil
}
