package harness

import (
	"fmt"
	"net/netip"

	"github.com/natsim/natsim/scenarios"
	"github.com/natsim/natsim/sim"
	"github.com/natsim/natsim/sim/push"
	"github.com/natsim/natsim/sim/quic"
)

// groupTransport is how a group's devices reach the push server: TCP
// through the devices' stacks to the server's TCP listener, or QUIC to a
// listener of the group's own on the server host (its own UDP port, so
// that each group's server-side settings, idle timeout and migration,
// apply to its connections only).
type groupTransport struct {
	cfg scenarios.Transport
	ln  *quic.Listener
	ap  netip.AddrPort // the QUIC listener's address
	// srvCfg and listen reopen the listener after a quic-server-restart.
	srvCfg quic.Config
	listen quic.ListenFunc
}

// quicCounts are a device's QUIC events, for summary.json.
type quicCounts struct {
	migrations, idleCloses, statelessResets int
}

// buildTransport prepares group g's transport; quicIndex numbers the QUIC
// groups (in name order) to give each its UDP port: the server port plus
// the index.
func (r *runner) buildTransport(g *groupState, quicIndex int) error {
	g.transport = &groupTransport{cfg: g.cfg.Transport}
	if g.cfg.Transport.Name != scenarios.TransportQUIC {
		return nil
	}
	if r.srv == nil {
		return fmt.Errorf("groups.%s.transport: quic needs the built-in server", g.name)
	}
	host := r.w.Hosts()[0]
	port := int(r.srvAP.Port()) + quicIndex
	if port > 65535 {
		return fmt.Errorf("groups.%s.transport: no UDP port left above server.port %d", g.name, r.srvAP.Port())
	}
	t := g.cfg.Transport
	cfg := quic.Config{
		IdleTimeout:      t.ServerIdleTimeout,
		DisableMigration: t.Migration != nil && !*t.Migration,
		Rand:             r.rng("quic-server", g.name),
	}
	// The reset key is explicit so that a restarted listener keeps it.
	cfg.StatelessResetKey = make([]byte, 16)
	for i := range cfg.StatelessResetKey {
		cfg.StatelessResetKey[i] = byte(cfg.Rand.Uint32())
	}
	g.transport.srvCfg = cfg
	g.transport.listen = host.ListenUDP
	g.transport.ap = netip.AddrPortFrom(ServerAddr, uint16(port))
	return r.listenQUIC(g)
}

func (r *runner) listenQUIC(g *groupState) error {
	gt := g.transport
	ln, err := quic.Listen(r.w.Clock(), gt.listen, gt.ap.Port(), gt.srvCfg, r.srv.AcceptSecured)
	if err != nil {
		return fmt.Errorf("groups.%s.transport: %w", g.name, err)
	}
	gt.ln = ln
	return nil
}

// restartQUIC is the quic-server-restart event: the group's listener
// forgets every connection without a word to the devices and starts again
// with the same stateless reset key, so each device learns of it from a
// stateless reset to its next packet. The push sessions survive (the
// session store outlives the QUIC front end).
func (r *runner) restartQUIC(g *groupState) {
	g.transport.ln.Close()
	if err := r.listenQUIC(g); err != nil {
		r.errs = append(r.errs, err)
	}
}

// dialer returns the dialer of one push client of device ds: id is the
// client ID (the device name, or device/app for an app of its own) and
// seeds the QUIC connection IDs, so every connection has its own.
func (r *runner) dialer(ds *devState, id string) (push.Dialer, error) {
	gt := ds.g.transport
	if gt.cfg.Name != scenarios.TransportQUIC {
		return push.DialerTo(ds.dev.DialTCP, r.srvAP), nil
	}
	cfg := quic.Config{
		IdleTimeout: gt.cfg.IdleTimeout,
		ZeroRTT:     gt.cfg.ZeroRTT == nil || *gt.cfg.ZeroRTT,
		Rand:        r.rng("quic", id),
		Observer:    quic.ObserverFunc(ds.quicEvent),
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
// see quic.EventPathMigrated for how a client learns of a rebinding).
func (ds *devState) quicEvent(ev quic.Event) {
	switch ev.Kind {
	case quic.EventPathMigrated:
		ds.quic.migrations++
	case quic.EventIdleTimeout:
		ds.quic.idleCloses++
	case quic.EventStatelessReset:
		ds.quic.statelessResets++
	default:
		return
	}
	ds.r.emit(event{kind: ev.Kind.String(), device: ds.name})
}

// downReason names why a connection ended, for conn_down events: on
// QUIC, a timeout is the idle timeout.
func (ds *devState) downReason(reason push.Reason) string {
	if reason == push.ReasonTimedOut && ds.g.transport.cfg.Name == scenarios.TransportQUIC {
		return "quic_idle_timeout"
	}
	return connDownReason(reason)
}

// isQUIC reports whether the group runs on QUIC.
func (g *groupState) isQUIC() bool {
	return g.transport != nil && g.transport.cfg.Name == scenarios.TransportQUIC
}

// addQUIC adds a device's QUIC counters to an aggregate.
func (a *aggregate) addQUIC(ds *devState) {
	if !ds.g.isQUIC() {
		return
	}
	a.quic = true
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
