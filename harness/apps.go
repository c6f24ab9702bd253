package harness

import (
	"fmt"
	"slices"
	"time"

	"github.com/natsim/natsim/plots"
	"github.com/natsim/natsim/scenarios"
	"github.com/natsim/natsim/sim"
	"github.com/natsim/natsim/sim/push"
	"github.com/natsim/natsim/sim/radio"
	"github.com/natsim/natsim/sim/strategy"
)

// Apps on a device (scenario groups.X.apps). The device keeps one shared
// push connection for the apps that share it (as apsd and Google Play
// services do: one connection, every app addressed by its own topic,
// "devices/<device>/<app>") and one push client and connection per app
// that has its own. All of them share the device's one radio (radio.Device
// charges a wake-up and its tail once, to the connection whose packet
// caused it) and its one alarm model (strategy.AlarmModel: with the window
// model the apps' keep-alive alarms coalesce into one wake-up, with the
// exact model each fires on its own).

// summary.json's app types (plots', like the rest of the file).
type (
	// AppSummary is one app of a group in summary.json.
	AppSummary = plots.AppSummary
	// ConnectionSummary is one push connection of a group's devices.
	ConnectionSummary = plots.ConnectionSummary
)

// appLaunchSpread is the window after boot in which own-connection apps
// start, each at a seeded instant: our choice, longer than a keep-alive
// interval so that their keep-alive phases are independent.
const appLaunchSpread = 10 * time.Minute

// deviceApps is a device's apps and the connections that carry them.
type deviceApps struct {
	list    []*appState
	byTopic map[string]*appState  // shared apps by topic
	byPort  map[uint16]*connState // connections by the device's TCP port
	dialing *connState            // the connection being dialled now
}

// appState is one app on one device.
type appState struct {
	name      string
	cfg       *scenarios.App
	conn      *connState // its own connection; nil for a shared app
	clientID  string     // the push client its pushes go to
	topic     string
	strategy  string
	tr        *groupTransport // an own app's transport, to srv
	srv       *builtServer    // an own app's server (appservers.go)
	quic      quicCounts      // an own app's connection's QUIC events
	sent      int
	delivered int
	latencies latencyLog
}

// clientConfig is a device client's configuration from its group.
func (r *runner) clientConfig(g *groupState, ns *netState, bo push.Backoff, id string) push.ClientConfig {
	gc := g.cfg
	return push.ClientConfig{
		ClientID:     id,
		KeepAlive:    gc.PushKeepAlive,
		TLS:          g.clientTLS(),
		Backoff:      bo,
		UserTimeout:  gc.TCP.UserTimeout,
		Network:      strategy.Network{Kind: string(ns.kind), Label: ns.name},
		DedupeWindow: r.dedupeWindow(),
	}
}

// buildApps gives device ds its apps' clients: the shared connection when
// any app shares it, and each own-connection app its own client and
// strategy. All of them use the device's alarm model and radio.
func (r *runner) buildApps(g *groupState, ds *devState, ns *netState, bo push.Backoff) error {
	gc := g.cfg
	p := "groups." + g.name + ".apps"
	if r.ext != nil {
		return fmt.Errorf("%s: apps need the built-in server (server.external is set)", p)
	}
	if err := r.buildAppTransports(g); err != nil {
		return err
	}
	trs := r.appTransports(g)
	da := &deviceApps{byTopic: map[string]*appState{}, byPort: map[uint16]*connState{}}
	ds.apps = da
	alarm := alarmModel(gc.Alarm, r.rng("alarm", ds.name), r.start, gc.Alarm.Model == scenarios.AlarmWindow)
	shared, bestEffort, own := false, true, 0
	for _, a := range gc.Apps {
		if a.Connection == scenarios.AppOwn {
			own++
			continue
		}
		shared = true
		bestEffort = bestEffort && a.Workload != nil && a.Workload.QoS == 0
	}
	if ds.radio != nil {
		if err := ds.radio.SetOwners(1 + own); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	if shared {
		if err := r.appClient(ds, &ds.connState, nil, ns, bo, alarm, ds.name, "devices/"+ds.name+"/#", bestEffort); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	} else {
		ds.connState = connState{}
	}
	for i := range gc.Apps {
		a := &gc.Apps[i]
		as := &appState{name: a.Name, cfg: a, clientID: ds.name, topic: "devices/" + ds.name + "/" + a.Name, strategy: g.strategyName}
		da.list = append(da.list, as)
		if a.Connection != scenarios.AppOwn {
			da.byTopic[as.topic] = as
			continue
		}
		as.clientID = ds.name + "/" + a.Name
		as.topic = "devices/" + as.clientID
		sc, params := gc.Strategy, r.strategyParams(gc.Strategy)
		if a.Strategy != nil {
			sc, params = *a.Strategy, r.strategyParams(*a.Strategy)
		}
		st, err := strategy.New(sc.Name, params, r.rng("strategy", as.clientID))
		if err != nil {
			return fmt.Errorf("%s[%d].strategy: %w", p, i, err)
		}
		as.strategy = st.Name()
		as.tr, as.srv = trs[i], r.appServer(a.Name)
		as.conn = &connState{strat: st, owner: len(ds.conns)}
		if !shared {
			as.conn.owner++ // owner 0 is the (absent) shared connection
		}
		be := a.Workload != nil && a.Workload.QoS == 0
		if err := r.appClient(ds, as.conn, as, ns, bo, alarm, as.clientID, as.topic, be); err != nil {
			return fmt.Errorf("%s[%d]: %w", p, i, err)
		}
	}
	return nil
}

// appClient builds the push client of connection cs (owned by app, or the
// device's shared one when app is nil) and adds cs to the device's.
func (r *runner) appClient(ds *devState, cs *connState, app *appState, ns *netState, bo push.Backoff, alarm *strategy.AlarmModel, id, topic string, bestEffort bool) error {
	gt := ds.g.transport
	if app != nil && app.tr != nil {
		gt = app.tr
	}
	cc := r.clientConfig(ds.g, ns, bo, id)
	if gt.cfg.Name == scenarios.TransportQUIC {
		cc.TLS = push.TLSModel{} // the handshake is QUIC's own
	}
	cc.Topic = topic
	cc.BestEffort = bestEffort
	cc.Alarm = alarm
	cc.Will = willFor(ds.g.cfg, id)
	cc.Observer = push.ClientObserverFunc(func(ev push.ClientEvent) { ds.connEvent(cs, app, ev) })
	base, err := r.dialer(ds, id, gt, app)
	if err != nil {
		return err
	}
	cl, err := push.NewClient(r.w.Clock(), r.rng("client", id), cs.strat, ds.appDialer(cs, base), cc)
	if err != nil {
		return err
	}
	cs.client = cl
	ds.conns = append(ds.conns, cs)
	// Phones do not all boot in the same millisecond: the device's client
	// starts at a seeded instant in the group's start spread (the first
	// second by default). Apps with their own connection are launched at
	// independent instants in the first appLaunchSpread (or the start
	// spread if longer), so exact alarms do not start in phase.
	spread := ds.g.startSpread()
	if app != nil {
		spread = max(spread, appLaunchSpread)
	}
	off := time.Duration(r.rng("start", id).Int64N(int64(spread)))
	r.sched.At(r.start.Add(off), cl.Start)
	return nil
}

// appDialer dials the push server for connection cs through base, the
// group's transport (TCP or QUIC), and remembers the device port it uses,
// so that its packets are charged to it.
func (ds *devState) appDialer(cs *connState, base push.Dialer) push.Dialer {
	return func(opts push.DialOptions, h sim.ConnHandler) (sim.Conn, error) {
		ds.apps.dialing = cs
		conn, err := base(opts, h)
		ds.apps.dialing = nil
		if conn != nil {
			// The connection's earlier port goes: the map stays one entry
			// a connection however often it reconnects.
			for port, c := range ds.apps.byPort {
				if c == cs {
					delete(ds.apps.byPort, port)
				}
			}
			ds.apps.byPort[conn.LocalAddr().Port()] = cs
		}
		return conn, err
	}
}

// appTap charges a packet of a device with apps to the connection it
// belongs to (by the device's port), on the device's one radio.
func (ds *devState) appTap(t sim.Tap) {
	if ds.radio == nil {
		return
	}
	cs := ds.apps.dialing
	if cs == nil {
		cs = ds.apps.byPort[t.Port]
	}
	if cs == nil && ds.client != nil {
		cs = &ds.connState
	}
	cause, owner := radio.CauseOther, 0
	if cs != nil {
		cause, owner = cs.client.Cause(), cs.owner
	}
	ds.radio.PacketFor(t.At, t.Up, t.Size, cause, owner)
}

// buildAppWorkloads schedules the pushes of every app of group g: the same
// schedule for an app whether it shares the connection or not (its random
// stream is named after the device and the app), starting once every app
// has launched (appLaunchSpread), so that no push waits for its app to
// start.
func (r *runner) buildAppWorkloads(g *groupState) error {
	from := r.start.Add(appLaunchSpread)
	for k := range g.cfg.Apps {
		wl := g.cfg.Apps[k].Workload
		if wl == nil {
			continue
		}
		where := fmt.Sprintf("groups.%s.apps[%d].workload", g.name, k)
		payload := make([]byte, wl.PayloadBytes)
		qos, ttl := byte(wl.QoS), wl.TTL
		for j, ds := range g.devs {
			as := ds.apps.list[k]
			sch, err := r.pushSchedule(where, wl, ds.name+"/"+as.name, r.part+j*r.nparts, g.cfg.Count, from)
			if err != nil {
				return err
			}
			srv := r.serverOf(as)
			r.armPushes(sch, func() {
				if _, err := srv.Publish(as.clientID, as.topic, payload, qos, ttl); err == nil {
					as.sent++
					ds.sent++
				}
			})
		}
	}
	return nil
}

// connFor returns the device's connection that uses the device port, nil
// when none does.
func (ds *devState) connFor(port uint16) *connState {
	if ds.apps == nil {
		return &ds.connState
	}
	return ds.apps.byPort[port]
}

// pushApp is the app a push on topic received on app's connection is for.
func (ds *devState) pushApp(app *appState, topic string) *appState {
	if app != nil || ds.apps == nil {
		return app
	}
	return ds.apps.byTopic[topic]
}

// connected reports whether every push connection of the device is up.
func (ds *devState) connected() bool {
	return len(ds.conns) > 0 && ds.connectedConns() == len(ds.conns)
}

// connectedConns counts the device's push connections that are up.
func (ds *devState) connectedConns() int {
	n := 0
	for _, cs := range ds.conns {
		if cs.client.Connected() {
			n++
		}
	}
	return n
}

// countMapping counts a NAT mapping of the device created or removed at
// its network's outermost NAT.
func (ds *devState) countMapping(created bool) {
	if created {
		ds.natLive++
		ds.natPeak = max(ds.natPeak, ds.natLive)
	} else if ds.natLive > 0 {
		ds.natLive--
	}
}

// outermost reports whether ls is its network's outermost NAT layer: the
// one whose ports a subscriber holds towards the Internet.
func (r *runner) outermost(ls *layerState) bool {
	ns := r.nets[ls.network]
	if ns == nil {
		return false
	}
	if len(ns.shared) > 0 {
		return ls == ns.shared[len(ns.shared)-1]
	}
	return len(ns.home) > 0 && ls == ns.home[len(ns.home)-1]
}

// devTotals are a device's counters summed over its push connections.
type devTotals struct {
	keepalives, reconnects int
	detections             []float64
	connected              time.Duration // mean over the connections
}

func (ds *devState) totals() devTotals {
	var t devTotals
	for _, cs := range ds.conns {
		t.keepalives += cs.keepalives
		t.reconnects += max(cs.connects-1, 0)
		t.detections = append(t.detections, cs.detections...)
		t.connected += cs.client.Stats().ConnectedTime
	}
	if len(ds.conns) > 1 {
		t.connected /= time.Duration(len(ds.conns))
	}
	return t
}

// appResults fills group g's per-app and per-connection results and
// metrics ("metric@group/app"), and its NAT ports per subscriber.
func (r *runner) appResults(g *groupState, gs *GroupSummary, m map[string]float64, now time.Time, hours, deadline float64) {
	days := hours / 24
	peaks := make([]float64, 0, len(g.devs))
	for _, ds := range g.devs {
		peaks = append(peaks, float64(ds.natPeak))
	}
	slices.Sort(peaks)
	if len(g.cfg.Apps) == 0 || len(g.devs) == 0 {
		return
	}
	n := float64(len(g.devs))
	ports := statsOf(peaks)
	gs.NATPortsPerSubscriber = &ports
	gs.ConnectionsPerDevice = len(g.devs[0].conns)

	// Connections: the device's shared one (owner 0) and the own ones.
	type connAgg struct {
		keepalives, reconnects int
		connected              time.Duration
		byCause                map[radio.Cause]float64
	}
	conns := make([]connAgg, len(g.devs[0].conns))
	for i := range conns {
		conns[i].byCause = map[radio.Cause]float64{}
	}
	for _, ds := range g.devs {
		var rep radio.Report
		if ds.radio != nil {
			rep = ds.radio.Report(now)
		}
		for i, cs := range ds.conns {
			c := &conns[i]
			c.keepalives += cs.keepalives
			c.reconnects += max(cs.connects-1, 0)
			c.connected += cs.client.Stats().ConnectedTime
			if cs.owner < len(rep.ByOwnerJ) {
				for cause, e := range rep.ByOwnerJ[cs.owner] {
					c.byCause[cause] += e
				}
			}
		}
	}
	connSummary := func(name, strat string, apps int, c connAgg) ConnectionSummary {
		cs := ConnectionSummary{Name: name, Strategy: strat, Apps: apps,
			KeepalivesPerDeviceHour: float64(c.keepalives) / n / hours, Reconnects: c.reconnects,
			ConnectedRatio:             c.connected.Seconds() / (n * hours * 3600),
			EnergyByCauseJPerDeviceDay: map[string]float64{}}
		for _, cause := range []radio.Cause{radio.CauseKeepAlive, radio.CausePush, radio.CauseReconnect, radio.CauseOther} {
			e := c.byCause[cause] / n / days
			cs.EnergyJPerDeviceDay += e
			cs.EnergyByCauseJPerDeviceDay[cause.String()] = e
		}
		return cs
	}
	ci := 0
	if g.devs[0].client != nil {
		shared := 0
		for _, a := range g.cfg.Apps {
			if a.Connection != scenarios.AppOwn {
				shared++
			}
		}
		gs.Connections = append(gs.Connections, connSummary("shared", g.strategyName, shared, conns[0]))
		ci = 1
	}
	for k := range g.cfg.Apps {
		first := g.devs[0].apps.list[k]
		as := AppSummary{Name: first.name, Connection: string(scenarios.AppShared), Strategy: first.strategy}
		var lat []float64
		onTime := 0
		for _, ds := range g.devs {
			a := ds.apps.list[k]
			as.PushesSent += a.sent
			as.PushesDelivered += a.delivered
			lat = a.latencies.appendSeconds(lat)
			onTime += a.latencies.within(deadline)
		}
		slices.Sort(lat)
		as.DeliveryRatio = ratio(as.PushesDelivered, as.PushesSent)
		as.OnTimeRatio = ratio(onTime, as.PushesSent)
		as.LatencyS = statsOf(lat)
		if first.conn != nil {
			c := connSummary(first.name, first.strategy, 1, conns[ci])
			ci++
			gs.Connections = append(gs.Connections, c)
			as.Connection = string(scenarios.AppOwn)
			as.KeepalivesPerDeviceHour, as.Reconnects, as.EnergyJPerDeviceDay = c.KeepalivesPerDeviceHour, c.Reconnects, c.EnergyJPerDeviceDay
		}
		var q quicCounts
		for _, ds := range g.devs {
			a := ds.apps.list[k]
			q.migrations += a.quic.migrations
			q.idleCloses += a.quic.idleCloses
			q.statelessResets += a.quic.statelessResets
		}
		appTransportSummary(&as, first, q)
		gs.Apps = append(gs.Apps, as)
		suffix := "@" + g.name + "/" + as.Name
		set := func(k string, v float64) { m[k+suffix] = v }
		set("pushes_sent", float64(as.PushesSent))
		set("pushes_delivered", float64(as.PushesDelivered))
		set("delivery_ratio", as.DeliveryRatio)
		set("ontime_ratio", as.OnTimeRatio)
		set("keepalives_per_device_hour", as.KeepalivesPerDeviceHour)
		set("reconnects", float64(as.Reconnects))
		set("energy_j_per_device_day", as.EnergyJPerDeviceDay)
		set("quic_migrations", float64(q.migrations))
		set("quic_idle_closes", float64(q.idleCloses))
		set("quic_stateless_resets", float64(q.statelessResets))
		setDist(m, "latency_s", suffix, lat)
	}
}

// appTransportSummary fills an own app's server, transport and QUIC
// counters q (summed over the group's devices) in its summary.
func appTransportSummary(as *AppSummary, first *appState, q quicCounts) {
	if first.tr == nil {
		return
	}
	if first.srv != nil {
		as.Server = first.srv.ap.String()
		if first.tr.cfg.Name == scenarios.TransportQUIC {
			as.Server = first.tr.ap.String() // its QUIC listener (UDP)
		}
	}
	as.Transport = string(first.tr.cfg.Name)
	if first.tr.cfg.Name == scenarios.TransportQUIC {
		as.QUICMigrations, as.QUICIdleCloses, as.QUICStatelessResets = &q.migrations, &q.idleCloses, &q.statelessResets
	}
}
