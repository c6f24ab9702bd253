package harness

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/natsim/natsim/scenarios"
	"github.com/natsim/natsim/sim"
	"github.com/natsim/natsim/sim/push"
	"github.com/natsim/natsim/sim/quic"
)

// groupTransport is how a group's devices (or an own app of the group)
// reach their push server: TCP through the devices' stacks to the
// server's TCP listener, or QUIC to a listener of its own on the server
// host (its own UDP port, so that each group's, or app's, server-side
// settings, idle timeout and migration, apply to its connections only).
type groupTransport struct {
	cfg   scenarios.Transport
	where string         // its scenario path, for errors
	tcp   netip.AddrPort // the server's TCP listener
	srv   *push.Server   // the server QUIC connections are handed to
	ln    *quic.Listener
	ap    netip.AddrPort // the QUIC listener's address
	// srvCfg and listen reopen the listener after a quic-server-restart.
	srvCfg quic.Config
	listen quic.ListenFunc
}

// quicCounts are a device's QUIC events, for summary.json.
type quicCounts struct {
	migrations, idleCloses, statelessResets int
}

// buildTransport prepares group g's transport to the built-in server;
// quicIndex numbers the QUIC groups (in name order) to give each its UDP
// port: the server port plus the index.
func (r *runner) buildTransport(g *groupState, quicIndex int) error {
	where := "groups." + g.name + ".transport"
	if g.cfg.Transport.Name == scenarios.TransportQUIC && r.srv == nil {
		return fmt.Errorf("%s: quic needs the built-in server", where)
	}
	gt, err := r.newTransport(where, g.cfg.Transport, r.platform, quicIndex, g.name)
	g.transport = gt
	return err
}

// newTransport prepares transport t (written at where) to server bs; a
// QUIC transport gets a listener of its own on bs's host, UDP port bs's
// port plus quicIndex, its random stream named by key.
func (r *runner) newTransport(where string, t scenarios.Transport, bs *builtServer, quicIndex int, key ...string) (*groupTransport, error) {
	gt := &groupTransport{cfg: t, where: where}
	if bs != nil {
		gt.tcp, gt.srv = bs.ap, bs.srv
	} else {
		gt.tcp = r.srvAP
	}
	if t.Name != scenarios.TransportQUIC {
		return gt, nil
	}
	port := int(bs.ap.Port()) + quicIndex
	if port > 65535 {
		return gt, fmt.Errorf("%s: no UDP port left above server.port %d", where, bs.ap.Port())
	}
	cfg := quic.Config{
		IdleTimeout:      t.ServerIdleTimeout,
		DisableMigration: t.Migration != nil && !*t.Migration,
		Rand:             r.rng(r.shard(append([]string{"quic-server"}, key...)...)...),
	}
	// The reset key is explicit so that a restarted listener keeps it.
	cfg.StatelessResetKey = make([]byte, 16)
	for i := range cfg.StatelessResetKey {
		cfg.StatelessResetKey[i] = byte(cfg.Rand.Uint32())
	}
	gt.srvCfg = cfg
	gt.listen = bs.host.ListenUDP
	gt.ap = netip.AddrPortFrom(bs.ap.Addr(), uint16(port))
	if r.quicAPs == nil {
		r.quicAPs = map[netip.AddrPort]bool{}
	}
	r.quicAPs[gt.ap] = true
	return gt, r.listenQUIC(gt)
}

func (r *runner) listenQUIC(gt *groupTransport) error {
	ln, err := quic.Listen(r.w.Clock(), gt.listen, gt.ap.Port(), gt.srvCfg, gt.srv.AcceptSecured)
	if err != nil {
		return fmt.Errorf("%s: %w", gt.where, err)
	}
	gt.ln = ln
	return nil
}

// restartQUIC is the quic-server-restart event: each QUIC listener of the
// group (its own and its own apps') forgets every connection without a
// word to the devices and starts again with the same stateless reset key,
// so each device learns of it from a stateless reset to its next packet.
// The push sessions survive (the session store outlives the QUIC front
// end).
func (r *runner) restartQUIC(g *groupState) {
	for _, gt := range append([]*groupTransport{g.transport}, r.appTransports(g)...) {
		if gt == nil || gt.ln == nil {
			continue // TCP, or a shared app
		}
		gt.ln.Close()
		if err := r.listenQUIC(gt); err != nil {
			r.errs = append(r.errs, err)
		}
	}
}

// dialer returns the dialer of one push client of device ds over
// transport gt: id is the client ID (the device name, or device/app for an
// app of its own) and seeds the QUIC connection IDs, so every connection
// has its own; app is the own app the connection is for (nil for the
// device's).
func (r *runner) dialer(ds *devState, id string, gt *groupTransport, app *appState) (push.Dialer, error) {
	if gt.cfg.Name != scenarios.TransportQUIC {
		return push.DialerTo(ds.dev.DialTCP, gt.tcp), nil
	}
	cfg := quic.Config{
		IdleTimeout: gt.cfg.IdleTimeout,
		ZeroRTT:     gt.cfg.ZeroRTT == nil || *gt.cfg.ZeroRTT,
		Rand:        r.rng("quic", id),
		Observer:    quic.ObserverFunc(func(ev quic.Event) { ds.quicEvent(ev, app) }),
	}
	d, err := quic.NewDialer(r.w.Clock(), ds.dev.ListenUDP, cfg)
	if err != nil {
		return nil, err
	}
	return func(_ push.DialOptions, h sim.ConnHandler) (sim.Conn, error) {
		c, err := d.Dial(gt.ap, h)
		if err != nil {
			return nil, err
		}
		return c, nil
	}, nil
}

// quicEvent records a device's QUIC connection events (the client side:
// see quic.EventPathMigrated for how a client learns of a rebinding), and
// app's when the connection is an own app's.
//
// A migration means the connection outlived the loss of its NAT mapping
// (it follows the new one), so that loss no longer marks its death for
// the detection delay (natObserver).
func (ds *devState) quicEvent(ev quic.Event, app *appState) {
	if !ds.quic.add(ev.Kind) {
		return
	}
	if ev.Kind == quic.EventPathMigrated {
		cs := &ds.connState
		if app != nil && app.conn != nil {
			cs = app.conn
		}
		cs.deathAt = time.Time{}
	}
	var an string
	if app != nil {
		app.quic.add(ev.Kind)
		an = app.name
	}
	ds.r.emit(event{kind: ev.Kind.String(), device: ds.name, app: an})
}

// add counts a QUIC event of kind k; false when k is not counted.
func (q *quicCounts) add(k quic.EventKind) bool {
	switch k {
	case quic.EventPathMigrated:
		q.migrations++
	case quic.EventIdleTimeout:
		q.idleCloses++
	case quic.EventStatelessReset:
		q.statelessResets++
	default:
		return false
	}
	return true
}

// downReason names why a connection of the device (app's own, or the
// device's when app is nil) ended, for conn_down events: on QUIC, a
// timeout is the idle timeout.
func (ds *devState) downReason(reason push.Reason, app *appState) string {
	tr := ds.g.transport
	if app != nil && app.tr != nil {
		tr = app.tr
	}
	if reason == push.ReasonTimedOut && tr.cfg.Name == scenarios.TransportQUIC {
		return "quic_idle_timeout"
	}
	return connDownReason(reason)
}

// isQUIC reports whether the group runs on QUIC.
func (g *groupState) isQUIC() bool {
	return g.transport != nil && g.transport.cfg.Name == scenarios.TransportQUIC
}

// addQUIC adds a device's QUIC counters to an aggregate.
//
// Counts are added for every device (zero on TCP): a TCP group's own apps
// may run on QUIC.
func (a *aggregate) addQUIC(ds *devState) {
	a.quic = a.quic || ds.g.isQUIC()
	a.quicCounts.migrations += ds.quic.migrations
	a.quicCounts.idleCloses += ds.quic.idleCloses
	a.quicCounts.statelessResets += ds.quic.statelessResets
}

// quicSummary fills a group's QUIC fields (left out for TCP groups, so
// their summaries are as before).
func (a *aggregate) quicSummary(gs *GroupSummary) {
	if !a.quic {
		return
	}
	gs.Transport = string(scenarios.TransportQUIC)
	m, i, s := a.quicCounts.migrations, a.quicCounts.idleCloses, a.quicCounts.statelessResets
	gs.QUICMigrations, gs.QUICIdleCloses, gs.QUICStatelessResets = &m, &i, &s
}

// quicMetrics sets the QUIC expectation metrics (zero for TCP).
func (a *aggregate) quicMetrics(set func(string, float64)) {
	set("quic_migrations", float64(a.quicCounts.migrations))
	set("quic_idle_closes", float64(a.quicCounts.idleCloses))
	set("quic_stateless_resets", float64(a.quicCounts.statelessResets))
}

// clientTLS is the push client's TLS emulation: the group's cost model on
// TCP, none on QUIC (the handshake is QUIC's own).
func (g *groupState) clientTLS() push.TLSModel {
	if g.isQUIC() {
		return push.TLSModel{}
	}
	return tlsModel(g.cfg.TLS)
}

// quicCaptureComment tells a capture's reader what QUIC packets do not
// model.
const quicCaptureComment = "natsim QUIC: genuine RFC 9000 long and short headers (version 1, connection IDs, packet numbers); " +
	"payload and header protection are not modelled: frames are in clear, followed by 16 zero bytes standing in for the AEAD tag. See docs/quic.md."

// captureComment is the capture's section comment: empty unless a group
// runs on QUIC, so TCP captures are as before.
func (r *runner) captureComment() string {
	for _, g := range r.groups {
		if g.isQUIC() {
			return quicCaptureComment
		}
	}
	return ""
}
