package harness

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/natsim/natsim/plots"
	"github.com/natsim/natsim/scenarios"
	"github.com/natsim/natsim/sim/push"
)

// presence is a device's server-side presence state: whether it is in an
// outage, since when, and whether the server has noticed. A device has
// one only once it has something to record (devState.presState): most
// devices of a large run never vanish, are never declared gone and have
// no will.
type presence struct {
	goneAt   time.Time // start of the current outage; zero: reachable
	tracked  bool      // the server held a live session when it began
	detected bool      // the server declared the session gone since

	outages, undetected, falseOffline int
	detections                        []float64
	causes                            map[string]int
	lost, back                        int
}

// noPresence is the record of a device that has none yet: all zero.
var noPresence presence

// presence returns ds's presence record for reading: the zero record when
// it has none (it is not allocated).
func (ds *devState) presence() *presence {
	if ds.pres == nil {
		return &noPresence
	}
	return ds.pres
}

// presState returns ds's presence record for writing, allocating it on
// first use.
func (ds *devState) presState() *presence {
	if ds.pres == nil {
		ds.pres = &presence{}
	}
	return ds.pres
}

// tracksPresence reports whether a group's summary carries presence
// results: it can vanish (timeline events, outages) or has a will.
func (r *runner) tracksPresence(g *groupState) bool {
	if g.cfg.Outages != nil || g.cfg.Will != nil {
		return true
	}
	for _, e := range r.sc.Timeline {
		if scenarios.IsPresenceEvent(e.Type) && e.Group == g.name {
			return true
		}
	}
	return false
}

// willFor returns the group's will for device ds, or nil.
func willFor(g *scenarios.Group, device string) *push.Will {
	w := g.Will
	if w == nil {
		return nil
	}
	return &push.Will{Topic: strings.ReplaceAll(w.Topic, "{device}", device), Payload: []byte(w.Payload), QoS: byte(w.QoS), Online: []byte(w.OnlinePayload)}
}

// schedulePresence schedules a device-off, coverage-loss or app-suspended
// timeline event: at, a seeded fraction of the group vanishes for the
// event's duration (device-off without one: for the rest of the run).
func (r *runner) schedulePresence(g *groupState, e scenarios.Event, at time.Time, rng *rand.Rand) {
	r.sched.At(at, func() {
		for _, ds := range pick(rng, g.devs, e.Fraction) {
			r.vanish(ds, e.Type, e.Duration)
		}
	})
}

// buildOutages schedules every group's random outages: per device, a
// Poisson process of rate_per_day starting while the device is up (the
// next start is drawn from the end of the previous outage), each outage
// lasting duration and ending within the run. Drawn from the device's own
// seeded stream, so a device's outages do not depend on other groups.
func (r *runner) buildOutages() {
	for _, g := range r.groups {
		o := g.cfg.Outages
		if o == nil {
			continue
		}
		mean := float64(scenarios.Day) / o.RatePerDay
		for _, ds := range g.devs {
			rng := r.rng("outages", ds.name)
			t := r.start
			for {
				t = t.Add(time.Duration(rng.ExpFloat64() * mean))
				if t.Add(o.Duration).After(r.end) {
					break
				}
				r.sched.At(t, func() { r.vanish(ds, o.Kind, o.Duration) })
				t = t.Add(o.Duration)
			}
		}
	}
}

// vanish makes ds unreachable now, in the way kind says, and schedules its
// return after d (d zero: it does not come back).
func (r *runner) vanish(ds *devState, kind scenarios.EventType, d time.Duration) {
	if !ds.presence().goneAt.IsZero() {
		return // already gone; overlapping outages do not stack
	}
	p := ds.presState()
	now := r.w.Now()
	p.goneAt = now
	p.detected = false
	p.tracked = false
	if r.srv != nil && r.sessionOnline(ds) {
		p.tracked = true
		p.outages++
	}
	r.emit(event{kind: "device_gone", device: ds.name, reason: string(kind)})
	switch kind {
	case scenarios.EventDeviceOff:
		// Interface first: the client's abort then emits nothing.
		ds.dev.SetInterfaceUp(false)
		ds.eachClient((*push.Client).PowerOff)
		if ds.radio != nil {
			ds.radio.PowerOff(now)
		}
	case scenarios.EventCoverageLoss:
		ds.dev.Link().SetDown(true)
	case scenarios.EventAppSuspended:
		ds.eachClient((*push.Client).Suspend)
	}
	if d <= 0 {
		return
	}
	r.sched.At(now.Add(d), func() {
		switch kind {
		case scenarios.EventDeviceOff:
			ds.dev.SetInterfaceUp(true)
			if ds.radio != nil {
				ds.radio.PowerOn(r.w.Now())
			}
			ds.eachClient((*push.Client).PowerOn)
		case scenarios.EventCoverageLoss:
			ds.dev.Link().SetDown(false)
		case scenarios.EventAppSuspended:
			ds.eachClient((*push.Client).Resume)
		}
		r.reappear(ds, kind)
	})
}

// reappear ends ds's outage: one the server had not noticed is counted as
// undetected.
func (r *runner) reappear(ds *devState, kind scenarios.EventType) {
	p := ds.presState() // allocated by vanish
	if p.tracked && !p.detected {
		p.undetected++
	}
	p.goneAt, p.tracked, p.detected = time.Time{}, false, false
	r.emit(event{kind: "device_back", device: ds.name, reason: string(kind)})
}

// sessionLost is the server view: the push server reported a connection
// of ds ended (its session-lost event, ServerDisconnected). Whatever the
// cause (keep-alive expiry, TCP giving up, a reset, a transport's own idle
// close), it is the server declaring the device gone, except when the
// device said goodbye (DISCONNECT), came back (takeover) or the server
// stopped.
func (r *runner) sessionLost(ev push.ServerEvent) {
	ds := r.sessionDevice(ev.ClientID)
	if ds == nil {
		return
	}
	switch ev.Reason {
	case push.ReasonClientDisconnect, push.ReasonTakeover, push.ReasonStopped:
		return
	}
	p := ds.presState() // gone (so allocated already) or counted as a false offline
	cause := ds.serverCause(ev.Reason, ev.ClientID)
	switch {
	case p.goneAt.IsZero():
		p.falseOffline++
		if ds.g.presence {
			r.emit(event{kind: "false_offline", device: ds.name, reason: cause})
		}
	case p.tracked && !p.detected:
		p.detected = true
		d := ev.Time.Sub(p.goneAt).Seconds()
		p.detections = append(p.detections, d)
		if p.causes == nil {
			p.causes = map[string]int{}
		}
		p.causes[cause]++
		r.emit(event{kind: "server_detected", device: ds.name, reason: cause, latency: d})
	}
}

// serverCause names why the server ended the session of ds's connection
// with client ID id: the push reason, except that on QUIC a timeout is the
// server's idle timeout (RFC 9000 §10.1; QUIC probes until it expires
// rather than giving up on retransmissions as TCP does), named as the
// device side names it. The transport is the connection's: an own app's
// may differ from the group's.
func (ds *devState) serverCause(reason push.Reason, id string) string {
	quic := ds.g.isQUIC()
	if ds.apps != nil && id != ds.name {
		for _, a := range ds.apps.list {
			if a.clientID == id && a.tr != nil {
				quic = a.tr.cfg.Name == scenarios.TransportQUIC
			}
		}
	}
	if reason == push.ReasonTimedOut && quic {
		return "quic_idle_timeout"
	}
	return reason.String()
}

// listenPresence registers the provider's presence subscriber on every
// built-in server (the platform's and each own app's): it receives every
// will and birth message of the groups with a will and records
// presence_lost / presence_back events. With apps every connection carries
// the group's will to its own server, {device} standing for its client ID
// (the device, or <device>/<app> for an own app).
func (r *runner) listenPresence() error {
	type entry struct {
		ds      *devState
		lost    string
		back    string
		hasBack bool
	}
	topics := map[string]entry{}
	for _, g := range r.groups {
		w := g.cfg.Will
		if w == nil {
			continue
		}
		for _, ds := range g.devs {
			for _, id := range ds.sessionIDs() {
				topics[strings.ReplaceAll(w.Topic, "{device}", id)] = entry{ds, w.Payload, w.OnlinePayload, true}
			}
		}
	}
	if len(topics) == 0 || r.srv == nil {
		return nil
	}
	var err error
	r.eachServer(func(srv *push.Server) {
		err = errors.Join(err, srv.Listen("#", func(topic string, payload []byte, at time.Time) {
			e, ok := topics[topic]
			if !ok {
				return
			}
			switch string(payload) {
			case e.lost:
				e.ds.presState().lost++
				r.emit(event{kind: "presence_lost", device: e.ds.name})
			case e.back:
				e.ds.presState().back++
				r.emit(event{kind: "presence_back", device: e.ds.name})
			}
		}))
	})
	return err
}

// presenceResults adds the presence summary and metrics of groups that
// track presence (see tracksPresence), and the run-wide metrics.
func (r *runner) presenceResults(res *Result, days float64) {
	var all presence
	var devs int
	for i, g := range r.groups {
		var a presence
		for _, ds := range g.devs {
			a.add(ds.presence())
		}
		all.add(&a)
		devs += len(g.devs)
		ps := a.summary(len(g.devs), days)
		ps.metrics(res.metrics, "@"+g.name)
		if r.tracksPresence(g) {
			res.Summary.Groups[i].PresenceSummary = ps.PresenceSummary
		}
	}
	all.summary(devs, days).metrics(res.metrics, "")
}

func (a *presence) add(p *presence) {
	a.outages += p.outages
	a.undetected += p.undetected
	a.falseOffline += p.falseOffline
	a.detections = append(a.detections, p.detections...)
	for k, v := range p.causes {
		if a.causes == nil {
			a.causes = map[string]int{}
		}
		a.causes[k] += v
	}
	a.lost += p.lost
	a.back += p.back
}

// presenceStats is a presence summary with its sorted detections.
type presenceStats struct {
	*PresenceSummary
	sorted []float64
}

func (a *presence) summary(devices int, days float64) presenceStats {
	d := slices.Clone(a.detections)
	slices.Sort(d)
	ps := &PresenceSummary{Outages: a.outages, ServerDetectionS: statsOf(d), ServerDetectionByCause: map[string]int{},
		UndetectedOutages: a.undetected, FalseOffline: a.falseOffline, PresenceLost: a.lost, PresenceBack: a.back}
	for k, v := range a.causes {
		ps.ServerDetectionByCause[k] = v
	}
	if n := float64(devices) * days; n > 0 {
		ps.FalseOfflinePerDeviceDay = float64(a.falseOffline) / n
	}
	return presenceStats{ps, d}
}

// metrics sets the presence expectation metrics with suffix.
func (ps presenceStats) metrics(m map[string]float64, suffix string) {
	m["outages"+suffix] = float64(ps.Outages)
	m["undetected_outages"+suffix] = float64(ps.UndetectedOutages)
	m["false_offline_per_device_day"+suffix] = ps.FalseOfflinePerDeviceDay
	m["presence_lost"+suffix] = float64(ps.PresenceLost)
	m["presence_back"+suffix] = float64(ps.PresenceBack)
	setDist(m, "server_detection_s", suffix, ps.sorted)
}

// PresenceSummary is a group's presence results in summary.json.
type PresenceSummary = plots.PresenceSummary

// buildPresence schedules the random outages and registers the presence
// subscriber. Presence is measured on the built-in server only.
func (r *runner) buildPresence() error {
	if r.ext != nil {
		for _, g := range r.groups {
			if r.tracksPresence(g) {
				return fmt.Errorf("groups.%s: presence events, outages and wills need the built-in server, not server.external", g.name)
			}
		}
		return nil
	}
	for _, g := range r.groups {
		g.presence = r.tracksPresence(g)
	}
	r.buildOutages()
	return r.listenPresence()
}

// presenceSweepMetrics are the metric columns sweep.csv gets after the
// others when the scenario tracks presence (scenarioTracksPresence); other
// sweeps' files are unchanged. nat_timeout_s is the shortest established
// TCP timeout of the NATs on the group's network (empty without a NAT).
var presenceSweepMetrics = []string{"server_detection_p50_s", "server_detection_p99_s", "nat_timeout_s"}

// scenarioTracksPresence reports whether any group of s can vanish or has
// a will.
func scenarioTracksPresence(s *scenarios.Scenario) bool {
	for _, e := range s.Timeline {
		if scenarios.IsPresenceEvent(e.Type) {
			return true
		}
	}
	for _, g := range s.Groups {
		if g != nil && (g.Outages != nil || g.Will != nil) {
			return true
		}
	}
	return false
}

// addPresenceCells appends the presence columns to a run's sweep rows
// (one per group, in summary order).
func addPresenceCells(rows [][]string, res *Result) {
	for i, g := range res.Summary.Groups {
		p50, p99, nt := math.NaN(), math.NaN(), math.NaN()
		if ps := g.PresenceSummary; ps != nil && len(ps.ServerDetectionByCause) > 0 {
			p50, p99 = ps.ServerDetectionS.P50, ps.ServerDetectionS.P99
		}
		for _, n := range res.Summary.NATs {
			if n.Network == g.Network && n.IdleTimeoutS > 0 && !(n.IdleTimeoutS >= nt) {
				nt = n.IdleTimeoutS
			}
		}
		rows[i] = append(rows[i], num(p50), num(p99), num(nt))
	}
}

// eachClient applies f to every push client of the device: its one
// connection's, or, with apps, the shared one's and each own app's.
func (ds *devState) eachClient(f func(*push.Client)) {
	for _, cs := range ds.conns {
		if cs.client != nil {
			f(cs.client)
		}
	}
}

// sessionOnline reports whether the server of any push connection of ds
// holds a live session for it: the platform's for the device's connection,
// each own app's server for the app's.
func (r *runner) sessionOnline(ds *devState) bool {
	online := func(srv *push.Server, id string) bool {
		info, ok := srv.Session(id)
		return ok && info.Online
	}
	if ds.apps == nil {
		return online(r.srv, ds.name)
	}
	if ds.client != nil && online(r.srv, ds.name) {
		return true
	}
	for _, a := range ds.apps.list {
		if a.conn != nil && online(r.serverOf(a), a.clientID) {
			return true
		}
	}
	return false
}

// sessionIDs returns the client IDs of ds's push connections: the device
// name for its own (or shared) one, <device>/<app> for each own app's.
func (ds *devState) sessionIDs() []string {
	if ds.apps == nil {
		return []string{ds.name}
	}
	var ids []string
	if ds.client != nil {
		ids = append(ids, ds.name)
	}
	for _, a := range ds.apps.list {
		if a.conn != nil {
			ids = append(ids, a.clientID)
		}
	}
	return ids
}

// sessionDevice returns the device whose push connection has client ID id:
// the device itself, or the device of an own app's <device>/<app>.
func (r *runner) sessionDevice(id string) *devState {
	if ds := r.byClient[id]; ds != nil {
		return ds
	}
	if i := strings.LastIndexByte(id, '/'); i > 0 {
		if ds := r.byClient[id[:i]]; ds != nil && ds.apps != nil {
			return ds
		}
	}
	return nil
}
