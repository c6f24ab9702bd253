package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/scenarios"
	"github.com/natsim/natsim/sim"
	"github.com/natsim/natsim/sim/push"
	"github.com/natsim/natsim/sim/radio"
	"github.com/natsim/natsim/sim/strategy"
	"github.com/natsim/natsim/sim/workload"
)

// Options tunes a run without changing what it simulates.
type Options struct {
	// Pcap captures packets: of the devices the scenario's outputs.pcap
	// names, or, when it names none, of the first device of every group.
	// Captures are also taken whenever outputs.pcap is not empty.
	Pcap bool
	// Progress, when not nil, receives a progress line (virtual time,
	// events per second) about twice a second of wall time. The CLI passes
	// stderr when it is a terminal.
	Progress io.Writer
	// RecordWallTime writes the run's wall-clock duration into
	// summary.json's wall_s. Off by default: wall time differs between
	// runs, and results must be byte-identical for the same seed.
	RecordWallTime bool
	// AllowRemoteServer lets server.external name a host that is not a
	// loopback address. Off by default: a scenario reaches only this
	// machine.
	AllowRemoteServer bool
	// Step, when not nil, is called on the run's goroutine after every
	// minute of virtual time (the timeseries bucket), with the virtual
	// time elapsed, while the world (every partition's) is quiescent
	// between events. It is for watching the process during long runs
	// (the soak test samples RSS and goroutines with it); it must not
	// touch the run. Results do not depend on it. With it, the partitions
	// of a partitioned run meet at every minute instead of each running
	// its course apart, and are closed only at the end.
	Step func(elapsed time.Duration)
}

// Addresses the harness gives the simulated Internet. Documentation and
// benchmarking ranges, so a capture never shows a real host.
var (
	// ServerAddr is the built-in push server's address (RFC 5737 TEST-NET-1).
	ServerAddr = netip.MustParseAddr("192.0.2.10")
)

// Run simulates the scenario s (one run: a scenario with a sweep runs
// with its own values; use Sweep for the grid) and returns its results.
// It stops early with ctx's error when ctx is cancelled. s must come from
// a scenarios.Loader (defaults applied, names checked).
func Run(ctx context.Context, s *scenarios.Scenario, opts Options) (*Result, error) {
	if s == nil {
		return nil, errors.New("harness: nil scenario")
	}
	r, err := buildRun(s, opts)
	if err != nil {
		return nil, fmt.Errorf("harness: scenario %q: %w", s.Name, err)
	}
	defer r.close()
	wallStart := time.Now()
	if err := r.run(ctx); err != nil {
		return nil, fmt.Errorf("harness: scenario %q: %w", s.Name, err)
	}
	res, err := r.result()
	if err != nil {
		return nil, fmt.Errorf("harness: scenario %q: %w", s.Name, err)
	}
	res.WallTime = time.Since(wallStart)
	res.recordWall = opts.RecordWallTime
	res.formats = s.Outputs.Formats
	return res, nil
}

// buildRun builds every partition of s (Scenario.Partitions), on up to
// GOMAXPROCS goroutines at a time, and returns the runner that steps and
// reports them: close it when done.
func buildRun(s *scenarios.Scenario, opts Options) (*runner, error) {
	n := max(s.Partitions, 1)
	parts := make([]*runner, n)
	errs := make([]error, n)
	each(n, func(k int) { parts[k], errs[k] = build(s, opts, k, n) })
	for k, err := range errs {
		if err == nil {
			continue
		}
		for _, p := range parts {
			if p != nil {
				p.close()
			}
		}
		if n > 1 {
			err = fmt.Errorf("partition %d of %d: %w", k, n, err)
		}
		return nil, err
	}
	return merge(parts), nil
}

// close tears down the worlds of every partition of the run.
func (r *runner) close() {
	for _, p := range r.parts {
		p.closeExternal()
		p.w.Close()
	}
}

// runner holds one run's world and everything attached to it.
type runner struct {
	sc   *scenarios.Scenario
	opts Options
	// part is this runner's partition of nparts (Scenario.Partitions);
	// parts are every partition's runners, in order. A run of one
	// partition is its own view (parts holds itself); a run of several
	// is stepped and reported through a view (merge) whose parts are the
	// partitions; a view builds no world and reads the time from
	// partition 0's (w and sched), which every step brings to its end.
	part, nparts int
	parts        []*runner
	view         bool
	// stepTimes, when set (by the scale benchmark), receives the wall
	// time each partition took to run, in order, when they run without
	// a barrier (a view without Options.Step).
	stepTimes func(took []time.Duration)
	// samples are a partition's counts at each bucket start, for the
	// view's timeseries; at (virtual time reached, since the start) and
	// ran (events run) are what it publishes for progress reports.
	samples []counts
	at, ran atomic.Int64

	w     *sim.World
	sched *sim.Scheduler
	srv   *push.Server
	srvAP netip.AddrPort
	ext   *external // server.external runs; srv is nil then
	start time.Time
	end   time.Time

	platform *builtServer            // the built-in server (srv, srvAP) and its host
	appSrv   *appServers             // own apps' servers (appservers.go); nil without own apps
	quicAPs  map[netip.AddrPort]bool // every QUIC listener's address (transport.go)

	nets     map[string]*netState
	netNames []string
	warnings []string // Warnings(sc), for summary.json
	layers   []*layerState
	groups   []*groupState
	devs     []*devState
	byClient map[string]*devState
	byAddr   map[netip.Addr]*devState

	events     []event
	nevents    int  // events emitted, kept or not
	keepEvents bool // events.jsonl is written (outputs.formats)
	series     []seriesRow
	pcap       *bytes.Buffer
	stats      sim.Stats

	curAdding *devState // the device AddDevice, Move or ChangeAddress is attaching
	errs      []error   // errors inside scheduled events, reported after the run
}

type netState struct {
	name   string
	index  int
	kind   scenarios.NetworkKind
	cfg    *scenarios.Network
	net    *sim.Network
	home   []*layerState // per-device layers, innermost first
	shared []*layerState // shared layers, innermost first
	// spare public addresses of the outermost shared layer, for
	// public-address-change events.
	spare []netip.Addr
}

type layerState struct {
	network  string
	index    int
	name     string
	preset   string // preset or mixture name
	scope    scenarios.Scope
	layer    scenarios.NATLayer
	tables   []*nat.Table // every instance ever built
	timeouts []scenarios.Raw
}

type groupState struct {
	name    string
	cfg     *scenarios.Group
	network string // starting network
	wl      *scenarios.Workload
	devs    []*devState

	strategyName string
	radioPreset  *radio.Preset
	reconnectsIn []int // per time bucket
	transport    *groupTransport
	// presence is set when the group tracks presence (tracksPresence):
	// its false_offline events are written.
	presence bool
}

// devState is one device of a run. A run holds one per device, so what
// only some devices use is allocated when first needed (presState).
type devState struct {
	r    *runner
	name string
	g    *groupState
	dev  *sim.Device
	// connState is the device's push connection: the only one without
	// apps, the one shared apps share with them (zero when every app has
	// its own).
	connState
	conns []*connState // every push connection of the device
	apps  *deviceApps  // nil without apps (apps.go)
	radio *radio.Device
	home  []*nat.Table // current per-device tables, innermost first

	sched workload.Schedule

	sent, delivered int
	latencies       latencyLog
	bytes           int64
	// natLive and natPeak count the NAT mappings (public ports) the
	// device holds at its network's outermost NAT, now and at most.
	natLive, natPeak int
	quic             quicCounts
	// pres is the server-side presence record (presence.go), nil until the
	// device first has something to record: read it with presence, write
	// it through presState.
	pres *presence
}

// connState is one push connection of a device and its counters.
type connState struct {
	owner        int // its radio owner (apps.go); 0 for the device's
	client       *push.Client
	strat        strategy.Strategy
	keepalives   int
	connects     int
	deathAt      time.Time
	detections   []float64
	lastInterval time.Duration
}

// seed derives independent random streams from the run's seed.
func (r *runner) rng(parts ...string) *rand.Rand {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return rand.New(rand.NewPCG(r.sc.Seed, h.Sum64()))
}

func (r *runner) hash(parts ...string) uint64 {
	h := fnv.New64a()
	fmt.Fprint(h, r.sc.Seed)
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum64()
}

// build builds partition part of nparts (1 for an unpartitioned run).
func build(s *scenarios.Scenario, opts Options, part, nparts int) (*runner, error) {
	if s.Server.External != "" && s.Clock != scenarios.ClockWall {
		return nil, fmt.Errorf("server.external: an external server needs clock: wall")
	}
	if nparts > 1 && (s.Server.External != "" || s.Clock == scenarios.ClockWall) {
		return nil, fmt.Errorf("partitions: a wall-clock run or an external server is one world: partitions must be 1, got %d", nparts)
	}
	r := &runner{sc: s, opts: opts, part: part, nparts: nparts, nets: map[string]*netState{}, byClient: map[string]*devState{}, byAddr: map[netip.Addr]*devState{}}
	r.parts = []*runner{r} // its own view until merge makes one of several
	// Events are kept only for events.jsonl: a 1,000-phone day with a
	// 1-minute keep-alive emits millions (about 200 MB of JSON).
	r.keepEvents = len(s.Outputs.Formats) == 0 || slices.Contains(s.Outputs.Formats, "jsonl")

	// Groups in name order; each group's devices get its TCP profile
	// (the engine puts devices of different profiles on different
	// stacks).
	gnames := sortedKeys(s.Groups)
	cfg := sim.Config{Seed: s.Seed, Wall: s.Clock == scenarios.ClockWall}
	if nparts > 1 {
		// Each partition's stacks draw their own ISNs and ports.
		cfg.Seed = r.hash("partition", strconv.Itoa(part))
	}
	r.w = sim.NewWorld(cfg)
	r.sched = r.w.Scheduler()
	r.start = r.w.Now()
	r.end = r.start.Add(s.Duration)
	fail := func(err error) (*runner, error) {
		r.closeExternal()
		r.w.Close()
		return nil, err
	}
	if s.Server.External != "" {
		if err := r.buildExternal(); err != nil {
			return fail(err)
		}
	} else if err := r.buildServer(gnames); err != nil {
		return fail(err)
	}
	if err := r.buildNetworks(); err != nil {
		return fail(err)
	}
	var err error
	if r.warnings, err = Warnings(s); err != nil {
		return fail(err)
	}
	if err := r.buildGroups(gnames); err != nil {
		return fail(err)
	}
	if err := r.buildTimeline(); err != nil {
		return fail(err)
	}
	if err := r.buildPresence(); err != nil {
		return fail(err)
	}
	if err := r.buildCapture(); err != nil {
		return fail(err)
	}
	return r, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func tlsModel(c scenarios.TLSCost) push.TLSModel {
	if c.RoundTrips <= 0 {
		return push.TLSModel{}
	}
	m := push.TLSModel{}
	for i := range c.RoundTrips {
		cb, sb := c.ClientBytes/c.RoundTrips, c.ServerBytes/c.RoundTrips
		if i == 0 {
			cb += c.ClientBytes % c.RoundTrips
			sb += c.ServerBytes % c.RoundTrips
		}
		m.Exchanges = append(m.Exchanges, push.TLSExchange{Client: max(cb, 1), Server: max(sb, 1)})
	}
	return m
}

func (r *runner) buildServer(gnames []string) error {
	s := r.sc
	var tls *scenarios.TLSCost
	for _, gn := range gnames {
		t := s.Groups[gn].TLS
		if s.Groups[gn].Transport.Name == scenarios.TransportQUIC || !s.Groups[gn].ConnectsToPlatform() {
			continue // TLS is inside the QUIC handshake, or no connection to this server
		}
		if tls == nil {
			tls = &t
		} else if *tls != t {
			return fmt.Errorf("groups.%s.tls: the built-in server speaks one TLS model; every group must use the same", gn)
		}
	}
	bs, err := r.newServer("server", "server", &s.Server, tls, ServerAddr)
	if err != nil {
		return err
	}
	r.platform, r.srv, r.srvAP = bs, bs.srv, bs.ap
	return r.buildAppServers(gnames)
}

// serverInflight is the built-in servers' limit on unacknowledged QoS 1
// pushes per session. Their clients remember as many push ids to
// recognise redeliveries, which is enough (push.ClientConfig.DedupeWindow)
// and keeps a client's memory flat however long the run.
const serverInflight = push.DefaultMaxInflight

// dedupeWindow is the clients' dedupe window: the built-in servers'
// inflight limit, or the client's default against an external server,
// whose limit is not known.
func (r *runner) dedupeWindow() int {
	if r.ext != nil {
		return 0
	}
	return serverInflight
}

// builtServer is one built-in push server on a host of its own.
type builtServer struct {
	srv  *push.Server
	host *sim.Host
	ap   netip.AddrPort // its TCP listener
}

// newServer builds a built-in push server with settings cfg and TLS model
// tls (nil: none) on a new host at addr, listening on cfg's TCP port.
// where prefixes errors (the settings' path).
func (r *runner) newServer(where, host string, cfg *scenarios.Server, tls *scenarios.TLSCost, addr netip.Addr) (*builtServer, error) {
	sc := push.ServerConfig{Observer: push.ServerObserverFunc(r.serverEvent), KeepAliveFactor: cfg.KeepAliveFactor, MaxInflight: serverInflight}
	if tls != nil {
		sc.TLS = tlsModel(*tls)
	}
	if o := cfg.Offline; o != nil {
		switch o.Policy {
		case scenarios.OfflineKeepAll:
			sc.Offline = push.KeepAll
		case scenarios.OfflineKeepN:
			sc.Offline = push.KeepN
			sc.OfflineLimit = o.N
		default:
			sc.Offline = push.KeepLast
		}
		sc.DefaultTTL = o.TTL
	} else {
		sc.Offline = push.KeepLast
		sc.DefaultTTL = scenarios.DefaultOfflineTTL
	}
	sc.Heartbeat.Interval = cfg.Heartbeat
	sc.Heartbeat.AckTimeout = cfg.HeartbeatTimeout
	if t := cfg.TCP; t != nil {
		sc.TCP.KeepAlive = strategy.TCPKeepAlive{Idle: t.KeepAliveIdle, Interval: t.KeepAliveInterval, Count: t.KeepAliveCount}
		sc.TCP.UserTimeout = t.UserTimeout
	}
	srv, err := push.NewServer(r.w.Clock(), sc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	port := cfg.Port
	if port == 0 {
		port = scenarios.DefaultServerPort
	}
	h, err := r.w.AddHost(sim.HostConfig{Name: host, Addr: addr})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if _, err := h.ListenTCP(uint16(port), srv.AcceptConn, srv.Config().TCP.TCPOptions()); err != nil {
		return nil, fmt.Errorf("%s: listen on %d: %w", where, port, err)
	}
	return &builtServer{srv: srv, host: h, ap: netip.AddrPortFrom(addr, uint16(port))}, nil
}

func linkConfig(kind scenarios.NetworkKind, access, core scenarios.Link) sim.LinkConfig {
	// The engine has one core link per host, so a network's core link is
	// folded into its access link: latencies and jitters add, losses
	// combine, the narrower bandwidth wins.
	dir := func(up bool) sim.LinkDir {
		a, c := access.Direction(up), core.Direction(up)
		d := sim.LinkDir{Latency: a.Latency + c.Latency, Jitter: a.Jitter + c.Jitter, Loss: 1 - (1-a.Loss)*(1-c.Loss)}
		bw := a.BandwidthMbps
		if c.BandwidthMbps > 0 && (bw == 0 || c.BandwidthMbps < bw) {
			bw = c.BandwidthMbps
		}
		if bw > 0 {
			d.BitsPerSecond = int64(bw * 1e6)
		}
		return d
	}
	return sim.LinkConfig{Up: dir(true), Down: dir(false)}
}

func layerName(scope scenarios.Scope, kind scenarios.NetworkKind, hasHome bool) string {
	if scope == scenarios.ScopePerDevice {
		return "home"
	}
	if kind == scenarios.KindCellular || hasHome {
		return "cgnat"
	}
	return "shared"
}

// layerConfig returns a layer's configuration for one instance: the
// preset (or a mixture's draw) with the scenario's overrides and any
// timeout-change applied so far.
func (r *runner) layerConfig(l *layerState, rng *rand.Rand) (nat.Config, error) {
	var cfg nat.Config
	if l.layer.Mixture != "" {
		m, err := nat.LookupMixture(l.layer.Mixture)
		if err != nil {
			return cfg, err
		}
		cfg = m.Sample(rng).Config()
	} else {
		c, err := nat.LookupPreset(l.layer.Preset)
		if err != nil {
			return cfg, fmt.Errorf("networks.%s.nat[%d]: %w", l.network, l.index, err)
		}
		cfg = c
	}
	if err := applyOverrides(&cfg, l.layer.Overrides); err != nil {
		return cfg, err
	}
	for _, t := range l.timeouts {
		if err := applyOverrides(&cfg, t); err != nil {
			return cfg, err
		}
	}
	cfg.Name = l.name
	return cfg, nil
}

func (r *runner) buildNetworks() error {
	r.netNames = sortedKeys(r.sc.Networks)
	var big bigPools
	// Count public-address-change events per network for spare addresses.
	changes := map[string]int{}
	for _, e := range r.sc.Timeline {
		if e.Type == scenarios.EventPublicAddressChange {
			changes[e.Network]++
		}
	}
	for i, name := range r.netNames {
		nc := r.sc.Networks[name]
		ns := &netState{name: name, index: i, kind: nc.Kind, cfg: nc}
		r.nets[name] = ns
		seenShared := false
		for li, l := range nc.NAT {
			scope := l.Scope
			if scope == "" {
				scope = scenarios.ScopeShared
			}
			if scope == scenarios.ScopePerDevice && seenShared {
				return fmt.Errorf("networks.%s.nat[%d]: a per-device layer outside a shared one is not supported (per-device layers must be innermost)", name, li)
			}
			seenShared = seenShared || scope == scenarios.ScopeShared
			ls := &layerState{network: name, index: li, preset: l.Preset + l.Mixture, scope: scope, layer: l}
			ls.name = layerName(scope, nc.Kind, len(ns.home) > 0)
			for _, o := range r.layers {
				if o.network == name && o.name == ls.name {
					ls.name = fmt.Sprintf("%s%d", ls.name, li)
				}
			}
			r.layers = append(r.layers, ls)
			if scope == scenarios.ScopePerDevice {
				ns.home = append(ns.home, ls)
			} else {
				ns.shared = append(ns.shared, ls)
			}
		}
		prefix, err := netip.ParsePrefix(nc.Prefix)
		if err != nil {
			return fmt.Errorf("networks.%s.prefix: %w", name, err)
		}
		cfg := sim.NetworkConfig{Name: name, Prefix: prefix, Access: linkConfig(nc.Kind, nc.Access, nc.Core)}
		if len(ns.shared) > 0 {
			var boxes []nat.Middlebox
			for si, ls := range ns.shared {
				c, err := r.layerConfig(ls, r.rng("mixture", name, fmt.Sprint(ls.index)))
				if err != nil {
					return err
				}
				c.Seed = r.hash(r.shard("nat", name, fmt.Sprint(ls.index))...)
				outer := si == len(ns.shared)-1
				n := max(len(c.PublicAddrs), 1)
				if ls.layer.PublicAddresses > 0 {
					n = ls.layer.PublicAddresses
				}
				pool, err := big.poolAddrs(i, n+changes[name]*n, outer)
				if err != nil {
					return fmt.Errorf("networks.%s.nat[%d].public_addresses: %w", name, ls.index, err)
				}
				if n < r.nparts {
					return fmt.Errorf("networks.%s.nat[%d].public_addresses: %d cannot be split among %d partitions: each partition's share of a shared layer needs an address of its own", name, ls.index, n, r.nparts)
				}
				// A partition owns every nparts-th address of the pool,
				// and of each set of spares.
				c.PublicAddrs = r.share(pool[:n])
				c.RouterAddr = netip.Addr{}
				if outer {
					var spare []netip.Addr
					for at := n; at < len(pool); at += n {
						spare = append(spare, r.share(pool[at:at+n])...)
					}
					cfg.SharedOutside = append(slices.Clip(c.PublicAddrs), spare...)
					ns.spare = spare
				}
				t, err := nat.New(c)
				if err != nil {
					return fmt.Errorf("networks.%s.nat[%d]: %w", name, ls.index, err)
				}
				t.SetObserver(r.natObserver(ls, nil))
				ls.tables = append(ls.tables, t)
				boxes = append(boxes, t)
			}
			if len(boxes) == 1 {
				cfg.Shared = boxes[0]
			} else {
				ch, err := nat.NewChain(boxes...)
				if err != nil {
					return fmt.Errorf("networks.%s.nat: %w", name, err)
				}
				cfg.Shared = ch
			}
		}
		if len(ns.home) > 0 {
			cfg.HomeTranslates = true
			cfg.HomeOutside = netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(64 + i), 0, 0}), 16)
			cfg.Home = func(d *sim.Device, outside netip.Addr) (nat.Middlebox, error) {
				return r.buildHome(ns, d, outside)
			}
		}
		n, err := r.w.AddNetwork(cfg)
		if err != nil {
			return fmt.Errorf("networks.%s: %w", name, err)
		}
		ns.net = n
	}
	return nil
}

func (r *runner) devOf(d *sim.Device) *devState {
	for i := len(r.devs) - 1; i >= 0; i-- {
		if r.devs[i].dev == d {
			return r.devs[i]
		}
	}
	return nil
}

// pendingDev is the device being added (AddDevice calls Home before it
// returns the *sim.Device).
var errNoDevice = errors.New("home router for an unknown device")

func (r *runner) buildHome(ns *netState, d *sim.Device, outside netip.Addr) (nat.Middlebox, error) {
	ds := r.curAdding
	if ds == nil || (ds.dev != nil && ds.dev != d) {
		ds = r.devOf(d)
	}
	if ds == nil {
		return nil, errNoDevice
	}
	ds.home = ds.home[:0]
	r.byAddr[outside] = ds
	var boxes []nat.Middlebox
	for hi, ls := range ns.home {
		// The same device draws the same router model every time it
		// joins the network.
		c, err := r.layerConfig(ls, r.rng("mixture", ns.name, fmt.Sprint(ls.index), ds.name))
		if err != nil {
			return nil, err
		}
		c.Seed = r.hash("nat", ns.name, fmt.Sprint(ls.index), ds.name, fmt.Sprint(len(ls.tables)))
		if hi == len(ns.home)-1 {
			c.PublicAddrs = []netip.Addr{outside}
		} else {
			c.PublicAddrs = []netip.Addr{netip.AddrFrom4([4]byte{172, 31, byte(hi), 1})}
		}
		c.RouterAddr = netip.Addr{}
		t, err := nat.New(c)
		if err != nil {
			return nil, fmt.Errorf("networks.%s.nat[%d]: %w", ns.name, ls.index, err)
		}
		t.SetObserver(r.natObserver(ls, ds))
		ls.tables = append(ls.tables, t)
		ds.home = append(ds.home, t)
		boxes = append(boxes, t)
	}
	if len(boxes) == 1 {
		return boxes[0], nil
	}
	return nat.NewChain(boxes...)
}

func (r *runner) strategyParams(st scenarios.Strategy) strategy.Params {
	p := strategy.Params{}
	for _, k := range sortedKeys(st.Params) {
		var v any
		if err := st.Params[k].Decode(&v); err != nil {
			continue
		}
		if s, ok := v.(string); ok {
			if d, err := scenarios.ParseDuration(s); err == nil {
				v = d
			}
		}
		p[k] = v
	}
	return p
}

func (r *runner) radioPreset(g *scenarios.Group, kind scenarios.NetworkKind) (*radio.Preset, error) {
	name := g.Radio
	if name == "" || name == "auto" {
		switch kind {
		case scenarios.KindWiFi:
			name = "wifi-psm"
		case scenarios.KindCellular:
			name = "lte-huang2012"
		default:
			return nil, nil
		}
	}
	if name == "none" {
		return nil, nil
	}
	return radio.PresetByName(name)
}

func backoff(b scenarios.Backoff) (push.Backoff, error) {
	if b.Preset == scenarios.BackoffMicroG {
		return push.MicroGBackoff(), nil
	}
	pb := push.ExponentialBackoff()
	if b.Initial > 0 {
		pb.Initial = b.Initial
	}
	if b.Multiplier > 0 {
		pb.Multiplier = b.Multiplier
	}
	if b.Max > 0 {
		pb.Max = b.Max
	}
	pb.Jitter = b.Jitter
	return pb, pb.Validate()
}

// startSpread is the window in which the group's devices start
// (scenarios.Group.StartSpread, default one second).
func (g *groupState) startSpread() time.Duration {
	if g.cfg.StartSpread > 0 {
		return g.cfg.StartSpread
	}
	return time.Second
}

func (g *groupState) startNetwork() string {
	if g.cfg.Network != "" {
		return g.cfg.Network
	}
	return g.cfg.Schedule.Slots[0].Network
}

func (r *runner) buildGroups(gnames []string) error {
	nquic := 0
	for _, gn := range gnames {
		gc := r.sc.Groups[gn]
		g := &groupState{name: gn, cfg: gc, wl: r.sc.Workload[gn]}
		if err := r.buildTransport(g, nquic); err != nil {
			return err
		}
		if g.isQUIC() {
			nquic++
		}
		g.network = g.startNetwork()
		ns, ok := r.nets[g.network]
		if !ok {
			return fmt.Errorf("groups.%s: unknown network %q", gn, g.network)
		}
		rp, err := r.radioPreset(gc, ns.kind)
		if err != nil {
			return fmt.Errorf("groups.%s.radio: %w", gn, err)
		}
		g.radioPreset = rp
		bo, err := backoff(gc.Backoff)
		if err != nil {
			return fmt.Errorf("groups.%s.backoff: %w", gn, err)
		}
		params := r.strategyParams(gc.Strategy)
		// user_timeout is per connection (the client's dial options).
		prof := &sim.TCPProfile{MinRTO: gc.TCP.MinRTO, MaxRTO: gc.TCP.MaxRTO, MaxRetries: gc.TCP.MaxRetries, SynRetries: gc.TCP.SYNRetries}
		r.groups = append(r.groups, g)
		for i := r.part; i < gc.Count; i += r.nparts {
			ds := &devState{r: r, name: fmt.Sprintf("%s/%d", gn, i), g: g}
			st, err := strategy.New(gc.Strategy.Name, params, r.rng("strategy", ds.name))
			if err != nil {
				return fmt.Errorf("groups.%s.strategy: %w", gn, err)
			}
			g.strategyName = st.Name()
			ds.strat = st
			r.curAdding = ds
			d, err := r.w.AddDevice(sim.DeviceConfig{Name: ds.name, Network: ns.net, TCP: prof})
			r.curAdding = nil
			if err != nil {
				return fmt.Errorf("groups.%s: device %d: %w", gn, i, err)
			}
			ds.dev = d
			r.byAddr[d.Addr()] = ds
			if rp != nil {
				ds.radio, err = radio.New(rp, r.start)
				if err != nil {
					return fmt.Errorf("groups.%s.radio: %w", gn, err)
				}
			}
			if len(gc.Apps) > 0 {
				if err := r.buildApps(g, ds, ns, bo); err != nil {
					return err
				}
			} else {
				crng := r.rng("client", ds.name)
				cc := r.clientConfig(g, ns, bo, ds.name)
				cc.Observer = push.ClientObserverFunc(ds.clientEvent)
				cc.BestEffort = g.wl != nil && g.wl.QoS == 0
				cc.Alarm = alarmModel(gc.Alarm, crng, r.start, false)
				cc.Will = willFor(gc, ds.name)
				dial, err := r.dialer(ds, ds.name, g.transport, nil)
				if err != nil {
					return fmt.Errorf("groups.%s.transport: %w", gn, err)
				}
				cl, err := push.NewClient(r.w.Clock(), crng, ds.strat, dial, cc)
				if err != nil {
					return fmt.Errorf("groups.%s: %w", gn, err)
				}
				ds.client = cl
				ds.conns = []*connState{&ds.connState}
				// Phones do not all boot in the same millisecond: start
				// each client at a seeded instant in the group's start
				// spread (the first second by default).
				off := time.Duration(r.rng("start", ds.name).Int64N(int64(g.startSpread())))
				r.sched.At(r.start.Add(off), cl.Start)
			}
			d.SetTap(ds.tap)
			d.OnNetworkChange(ds.networkChanged)
			g.devs = append(g.devs, ds)
			r.devs = append(r.devs, ds)
			r.byClient[ds.name] = ds
		}
		if err := r.buildWorkload(g); err != nil {
			return err
		}
		if err := r.buildAppWorkloads(g); err != nil {
			return err
		}
		if gc.Schedule != nil {
			r.buildSchedule(g)
		}
	}
	return nil
}

func (ds *devState) tap(t sim.Tap) {
	ds.bytes += int64(t.Size)
	if ds.apps != nil {
		ds.appTap(t)
		return
	}
	if ds.radio != nil {
		ds.radio.Packet(t.At, t.Up, t.Size, ds.client.Cause())
	}
}

func (ds *devState) networkChanged(c sim.NetworkChange) {
	ds.r.byAddr[c.Addr] = ds
	if c.Network == nil {
		return
	}
	ns := ds.r.nets[c.Network.Name()]
	for _, cs := range ds.conns {
		cs.client.NetworkChanged(strategy.Network{Kind: string(ns.kind), Label: ns.name})
	}
}

func (r *runner) buildWorkload(g *groupState) error {
	wl := g.wl
	if wl == nil {
		return nil
	}
	payload := make([]byte, wl.PayloadBytes)
	for j, ds := range g.devs {
		sch, err := r.pushSchedule("workload."+g.name, wl, ds.name, r.part+j*r.nparts, g.cfg.Count, r.start)
		if err != nil {
			return err
		}
		ds.sched = sch
		ds.armPush(payload, byte(wl.QoS), wl.TTL)
	}
	return nil
}

// pushSchedule is the push schedule of workload wl (at path where) for
// the i-th of n receivers, from from to the end of the run (broadcasts
// keep their times); key names the receiver's random stream.
func (r *runner) pushSchedule(where string, wl *scenarios.Workload, key string, i, n int, from time.Time) (workload.Schedule, error) {
	var parts []workload.Schedule
	if wl.Poisson != nil {
		p, err := workload.NewPoisson(from, r.end, wl.Poisson.RatePerHour, r.rng("workload", key))
		if err != nil {
			return nil, fmt.Errorf("%s.poisson: %w", where, err)
		}
		parts = append(parts, p)
	}
	if f := wl.Fixed; f != nil {
		off := f.Offset + time.Duration(int64(f.Every)*int64(i)/int64(n))
		p, err := workload.NewPeriodic(from, r.end, off, f.Every)
		if err != nil {
			return nil, fmt.Errorf("%s.fixed: %w", where, err)
		}
		parts = append(parts, p)
	}
	if b := wl.Bursts; b != nil {
		spread := b.Spread
		if spread == 0 {
			spread = time.Second
		}
		for k := range b.Size {
			var ts []time.Time
			shift := time.Duration(int64(spread) * int64(k) / int64(b.Size))
			for t := from.Add(b.Every); t.Before(r.end); t = t.Add(b.Every) {
				ts = append(ts, t.Add(shift))
			}
			at, err := workload.NewBursts(1, ts)
			if err != nil {
				return nil, fmt.Errorf("%s.bursts: %w", where, err)
			}
			parts = append(parts, at)
		}
	}
	if wl.Broadcast != nil {
		var bcast []time.Time
		for _, at := range wl.Broadcast.At {
			bcast = append(bcast, r.start.Add(at))
		}
		slices.SortFunc(bcast, func(a, b time.Time) int { return a.Compare(b) })
		at, err := workload.NewBroadcast(bcast)
		if err != nil {
			return nil, fmt.Errorf("%s.broadcast: %w", where, err)
		}
		parts = append(parts, at)
	}
	return workload.NewMerge(parts...), nil
}

// armPush schedules the device's next push: one pending event per device.
func (ds *devState) armPush(payload []byte, qos byte, ttl time.Duration) {
	ds.r.armPushes(ds.sched, func() {
		if ds.r.ext != nil {
			ds.r.publishExternal(ds, payload, qos)
			return
		}
		if _, err := ds.r.srv.Publish(ds.name, "devices/"+ds.name, payload, qos, ttl); err == nil {
			ds.sent++
		}
	})
}

// armPushes schedules send at sched's next instant, and again after it:
// one pending event per schedule.
func (r *runner) armPushes(sched workload.Schedule, send func()) {
	t, ok := sched.Next()
	if !ok || !t.Before(r.end) {
		return
	}
	r.sched.At(t, func() {
		send()
		r.armPushes(sched, send)
	})
}

func (r *runner) buildSchedule(g *groupState) {
	sch := g.cfg.Schedule
	period := sch.Period
	if period <= 0 {
		period = scenarios.Day
	}
	for base := time.Duration(0); base < r.sc.Duration; base += period {
		for si, slot := range sch.Slots {
			if base == 0 && si == 0 {
				continue
			}
			at := base + slot.At
			if at >= r.sc.Duration {
				continue
			}
			to := r.nets[slot.Network]
			r.sched.At(r.start.Add(at), func() {
				for _, ds := range g.devs {
					if ds.dev.Network() != to.net {
						r.move(ds, to)
					}
				}
			})
		}
	}
}

func (r *runner) move(ds *devState, to *netState) {
	r.curAdding = ds
	err := ds.dev.Move(to.net)
	r.curAdding = nil
	if err != nil {
		r.errs = append(r.errs, err)
	}
}

// pick returns a seeded choice of about fraction of items, in order.
func pick[T any](rng *rand.Rand, items []T, fraction float64) []T {
	if fraction <= 0 || fraction >= 1 {
		return items
	}
	k := int(float64(len(items))*fraction + 0.5)
	idx := rng.Perm(len(items))[:k]
	slices.Sort(idx)
	out := make([]T, 0, k)
	for _, i := range idx {
		out = append(out, items[i])
	}
	return out
}

func (r *runner) devicesOn(ns *netState) []*devState {
	var out []*devState
	for _, ds := range r.devs {
		if ds.dev.Network() == ns.net {
			out = append(out, ds)
		}
	}
	return out
}

func (r *runner) layerAt(ns *netState, e scenarios.Event) (*layerState, error) {
	all := append(append([]*layerState{}, ns.home...), ns.shared...)
	if len(all) == 0 {
		return nil, fmt.Errorf("network %q has no NAT", ns.name)
	}
	idx := len(all) - 1
	if e.Layer != nil {
		idx = *e.Layer
	}
	if idx < 0 || idx >= len(all) {
		return nil, fmt.Errorf("network %q has no NAT layer %d", ns.name, idx)
	}
	return all[idx], nil
}

func (r *runner) buildTimeline() error {
	for i, e := range r.sc.Timeline {
		where := fmt.Sprintf("timeline[%d]", i)
		at := r.start.Add(e.At)
		rng := r.rng(r.shard("timeline", fmt.Sprint(i))...)
		var ns *netState
		if e.Network != "" {
			ns = r.nets[e.Network]
			if ns == nil {
				return fmt.Errorf("%s: unknown network %q", where, e.Network)
			}
		}
		var g *groupState
		if e.Group != "" {
			for _, gg := range r.groups {
				if gg.name == e.Group {
					g = gg
				}
			}
			if g == nil {
				return fmt.Errorf("%s: unknown group %q", where, e.Group)
			}
		}
		switch e.Type {
		case scenarios.EventNATReboot, scenarios.EventPublicAddressChange, scenarios.EventTimeoutChange:
			if ns == nil {
				return fmt.Errorf("%s: %s needs a network", where, e.Type)
			}
			ls, err := r.layerAt(ns, e)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			e := e
			switch e.Type {
			case scenarios.EventNATReboot:
				r.sched.At(at, func() { r.natTables(ns, ls, rng, e.Fraction, func(t *nat.Table) { t.Flush(r.w.Now(), false) }) })
			case scenarios.EventPublicAddressChange:
				r.sched.At(at, func() {
					r.natTables(ns, ls, rng, e.Fraction, func(t *nat.Table) {
						addrs := t.Config().PublicAddrs
						if ls.scope == scenarios.ScopeShared && ls == ns.shared[len(ns.shared)-1] && len(ns.spare) >= len(addrs) {
							addrs, ns.spare = ns.spare[:len(addrs)], ns.spare[len(addrs):]
						}
						if err := t.SetPublicAddress(r.w.Now(), addrs...); err != nil {
							r.errs = append(r.errs, fmt.Errorf("%s: %w", where, err))
						}
					})
				})
			case scenarios.EventTimeoutChange:
				// Validate the overrides now, against the preset.
				var probe nat.Config
				if err := applyOverrides(&probe, e.Overrides); err != nil {
					return fmt.Errorf("%s: %w", where, err)
				}
				r.sched.At(at, func() {
					ls.timeouts = append(ls.timeouts, e.Overrides)
					for _, t := range ls.tables {
						c := t.Config()
						if err := applyOverrides(&c, e.Overrides); err != nil {
							r.errs = append(r.errs, err)
							return
						}
						if err := t.SetTimeouts(c.TCP, c.UDP, c.ICMP); err != nil {
							r.errs = append(r.errs, fmt.Errorf("%s: %w", where, err))
						}
					}
				})
			}
		case scenarios.EventLinkOutage:
			if ns == nil {
				return fmt.Errorf("%s: link-outage needs a network", where)
			}
			d := e.Duration
			// Both the access and the core link are modelled by the
			// devices' access links (see linkConfig).
			r.sched.At(at, func() {
				now := r.w.Now()
				for _, ds := range r.devicesOn(ns) {
					ds.dev.Link().ScheduleOutage(now, now.Add(d))
				}
			})
		case scenarios.EventHandover:
			if g == nil {
				return fmt.Errorf("%s: handover needs a group", where)
			}
			to := r.nets[e.To]
			if to == nil {
				return fmt.Errorf("%s: unknown network %q", where, e.To)
			}
			frac := e.Fraction
			r.sched.At(at, func() {
				for _, ds := range pick(rng, g.devs, frac) {
					if ds.dev.Network() != to.net {
						r.move(ds, to)
					}
				}
			})
		case scenarios.EventAddressChange:
			if g == nil {
				return fmt.Errorf("%s: address-change needs a group", where)
			}
			frac := e.Fraction
			r.sched.At(at, func() {
				for _, ds := range pick(rng, g.devs, frac) {
					r.curAdding = ds
					if err := ds.dev.ChangeAddress(); err != nil {
						r.errs = append(r.errs, err)
					}
					r.curAdding = nil
				}
			})
		case scenarios.EventQUICServerRestart:
			if g == nil || !r.usesQUIC(g) {
				return fmt.Errorf("%s: quic-server-restart needs a QUIC connection (the group's transport or an own app's)", where)
			}
			r.sched.At(at, func() { r.restartQUIC(g) })
		case scenarios.EventDeviceOff, scenarios.EventCoverageLoss, scenarios.EventAppSuspended:
			if g == nil {
				return fmt.Errorf("%s: %s needs a group", where, e.Type)
			}
			r.schedulePresence(g, e, at, rng)
		default:
			return fmt.Errorf("%s: unknown event type %q", where, e.Type)
		}
	}
	return nil
}

// natTables applies f to the layer's live tables: the shared instance, or
// a fraction of the per-device instances of the devices on the network.
func (r *runner) natTables(ns *netState, ls *layerState, rng *rand.Rand, fraction float64, f func(*nat.Table)) {
	if ls.scope == scenarios.ScopeShared {
		f(ls.tables[0])
		return
	}
	pos := slices.Index(ns.home, ls)
	for _, ds := range pick(rng, r.devicesOn(ns), fraction) {
		if pos < len(ds.home) {
			f(ds.home[pos])
		}
	}
}

func (r *runner) buildCapture() error {
	sel := r.sc.Outputs.Pcap
	if len(sel) == 0 && !r.opts.Pcap {
		return nil
	}
	if r.nparts > 1 {
		return fmt.Errorf("a capture (outputs.pcap or --pcap) records one world: partitions must be 1, got %d", r.nparts)
	}
	var devs []*sim.Device
	if len(sel) == 0 {
		for _, g := range r.groups {
			devs = append(devs, g.devs[0].dev)
		}
	}
	for _, s := range sel {
		gname, idx, ok := strings.Cut(s, "/")
		if !ok {
			return fmt.Errorf("outputs.pcap: %q is not group/index", s)
		}
		var g *groupState
		for _, gg := range r.groups {
			if gg.name == gname {
				g = gg
			}
		}
		if g == nil {
			return fmt.Errorf("outputs.pcap: unknown group %q", gname)
		}
		if idx == "*" {
			for _, ds := range g.devs {
				devs = append(devs, ds.dev)
			}
			continue
		}
		ds, ok := r.byClient[s]
		if !ok {
			return fmt.Errorf("outputs.pcap: no device %q", s)
		}
		devs = append(devs, ds.dev)
	}
	r.pcap = &bytes.Buffer{}
	return r.w.Capture(r.pcap, sim.CaptureConfig{Devices: devs, Comment: r.captureComment()})
}

// alarmModel is a device's alarm model from the scenario: "exact" fires at
// the end of the strategy's window, "window" anywhere in it (drawn from the
// client's rng, which it shares so draws stay in one seeded stream), and
// coalesce aligns wake-ups to a grid of that period from the start.
//
// With coalesce, an alarm whose window holds another alarm pending on the
// device fires with it (the model is then the device's, shared by its
// apps' clients).
func alarmModel(a scenarios.Alarm, rng *rand.Rand, start time.Time, coalesce bool) *strategy.AlarmModel {
	policy := strategy.FireUniform
	if a.Model == scenarios.AlarmExact {
		policy = strategy.FireLatest
	}
	m, _ := strategy.NewAlarmModel(policy, coalesce, rng) // cannot fail: rng is set
	return m.AlignTo(a.Coalesce, start)
}
