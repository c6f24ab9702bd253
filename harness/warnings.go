package harness

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/scenarios"
	"github.com/natsim/natsim/sim/strategy"
)

// lowDelivery is the delivery ratio below which a run warns about a group.
const lowDelivery = 0.5

// Warnings returns what in s does not stop a run but will spoil its
// results, one sentence each, in network and group order:
//
//   - a shared NAT layer whose subscriber capacity (nat.Config.Capacity,
//     from the preset, overrides and public_addresses) is below the
//     devices behind it, naming both numbers;
//   - a group whose fixed keep-alive (the fixed-interval strategies and
//     tcp-keepalive; adaptive strategies are left alone, since finding the
//     timeout is their job) is above the shortest idle timeout of its
//     network's NAT chain for its transport: TCP's established timeout,
//     or for QUIC the UDP stream timeout (a QUIC flow answers at once, so
//     NATs treat it as a stream: Linux udp_timeout_stream).
//
// natsim validate prints them, Run puts them in summary.json's warnings.
// It reads only the configuration: no world is built. Mixture layers are
// not checked (each instance draws its own preset).
func Warnings(s *scenarios.Scenario) ([]string, error) {
	var out []string
	// network -> the shortest TCP and UDP stream idle timeouts of its
	// chain, and the layers that set them
	idleTCP, idleUDP := map[string]time.Duration{}, map[string]time.Duration{}
	idleTCPAt, idleUDPAt := map[string]string{}, map[string]string{}
	for _, name := range sortedKeys(s.Networks) {
		nc := s.Networks[name]
		devices := devicesOn(s, name)
		subs := devices
		for li, l := range nc.NAT {
			if l.Preset == "" {
				subs = devices
				continue
			}
			cfg, err := nat.LookupPreset(l.Preset)
			if err != nil {
				return nil, fmt.Errorf("networks.%s.nat[%d]: %w", name, li, err)
			}
			if err := applyOverrides(&cfg, l.Overrides); err != nil {
				return nil, err
			}
			at := fmt.Sprintf("networks.%s.nat[%d] (%s)", name, li, l.Preset)
			if c, ok := idleTCP[name]; !ok || cfg.TCP.Established < c {
				idleTCP[name], idleTCPAt[name] = cfg.TCP.Established, at
			}
			if c, ok := idleUDP[name]; cfg.UDP.Established > 0 && (!ok || cfg.UDP.Established < c) {
				idleUDP[name], idleUDPAt[name] = cfg.UDP.Established, at
			}
			if l.Scope == scenarios.ScopePerDevice {
				continue // one subscriber: the device
			}
			if cfg.Validate() != nil {
				continue // Run reports it
			}
			if l.PublicAddresses > 0 {
				cfg.PublicAddrs = make([]netip.Addr, l.PublicAddresses) // only the count matters
			}
			k := cfg.Capacity()
			if k.Subscribers < subs {
				out = append(out, fmt.Sprintf("%s: %s devices share it but it holds %s subscribers: %s%s",
					at, thousands(subs), thousands(k.Subscribers), capacityText(k), addressesNeeded(k, subs)))
			}
			if p := s.Partitions; p > 1 {
				out = append(out, partitionCapacity(at, cfg, subs, p, k.Subscribers >= subs)...)
			}
			// The next shared layer's subscribers are this one's addresses.
			subs = min(subs, max(len(cfg.PublicAddrs), 1))
		}
	}
	// A connection's keep-alive against its NAT's idle timeout for its
	// transport: the group's, and each own app's with its own strategy
	// and transport.
	check := func(where string, g *scenarios.Group, sc scenarios.Strategy, t scenarios.Transport) {
		ka, what := fixedKeepAlive(sc)
		if ka <= 0 {
			return
		}
		idle, idleAt, proto := idleTCP, idleTCPAt, "TCP"
		if t.Name == scenarios.TransportQUIC {
			idle, idleAt, proto = idleUDP, idleUDPAt, "UDP"
		}
		for _, net := range groupNetworks(g) {
			c, ok := idle[net]
			if !ok || ka <= c {
				continue
			}
			out = append(out, fmt.Sprintf("%s: %s %s is above the %s %s idle timeout of %s: a connection idle that long loses its NAT mapping before the next keep-alive",
				where, what, scenarios.FormatDuration(ka), scenarios.FormatDuration(c), proto, idleAt[net]))
		}
	}
	for _, gn := range sortedKeys(s.Groups) {
		g := s.Groups[gn]
		check("groups."+gn, g, g.Strategy, g.Transport)
		for i, a := range g.Apps {
			if a.Connection != scenarios.AppOwn || (a.Strategy == nil && a.Transport == nil) {
				continue // the group's connection settings: checked above
			}
			sc, t := g.Strategy, g.Transport
			if a.Strategy != nil {
				sc = *a.Strategy
			}
			if a.Transport != nil {
				t = *a.Transport
			}
			if a.Strategy == nil && t == g.Transport {
				continue
			}
			check(fmt.Sprintf("groups.%s.apps[%d] (%s)", gn, i, a.Name), g, sc, t)
		}
	}
	return out, nil
}

// fixedKeepAlive returns the keep-alive interval of a strategy that keeps
// one fixed interval, and what to call it.
func fixedKeepAlive(sc scenarios.Strategy) (time.Duration, string) {
	st, err := strategy.New(sc.Name, (&runner{}).strategyParams(sc), rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		return 0, ""
	}
	switch st := st.(type) {
	case *strategy.Fixed:
		return st.Interval(), "keep-alive interval"
	case *strategy.TCPOnly:
		k, _ := st.TCP()
		return k.Idle, "TCP keep-alive idle time"
	}
	return 0, ""
}

// groupNetworks lists the networks a group's devices attach to.
func groupNetworks(g *scenarios.Group) []string {
	if g.Network != "" {
		return []string{g.Network}
	}
	var out []string
	if g.Schedule != nil {
		for _, sl := range g.Schedule.Slots {
			if !slices.Contains(out, sl.Network) {
				out = append(out, sl.Network)
			}
		}
	}
	return out
}

// devicesOn counts the devices that attach to network net at some time:
// a group on a schedule may all be on it at once.
func devicesOn(s *scenarios.Scenario, net string) int {
	n := 0
	for _, g := range s.Groups {
		if slices.Contains(groupNetworks(g), net) {
			n += g.Count
		}
	}
	return n
}

// partitionCapacity checks a shared layer split among p partitions
// (Scenario.Partitions): partition k owns every pth pool address from k,
// so the smallest share has len(pool)/p addresses and may serve
// ceil(subs/p) devices. That is checked only when the whole pool holds
// them all (fits): otherwise a warning has said so.
func partitionCapacity(at string, cfg nat.Config, subs, p int, fits bool) []string {
	n := len(cfg.PublicAddrs)
	if n < p {
		return []string{fmt.Sprintf("%s: %s public addresses cannot be split among %d partitions: each needs one of its own (a run fails)", at, thousands(n), p)}
	}
	if !fits {
		return nil
	}
	cfg.PublicAddrs = cfg.PublicAddrs[:n/p]
	k := cfg.Capacity()
	if most := (subs + p - 1) / p; k.Subscribers < most {
		return []string{fmt.Sprintf("%s: split among %d partitions, its smallest share holds %s subscribers but a partition has up to %s devices: %s",
			at, p, thousands(k.Subscribers), thousands(most), capacityText(k))}
	}
	return nil
}

// capacityText spells out a capacity as the arithmetic behind it.
func capacityText(k nat.Capacity) string {
	addrs := thousands(k.Addresses) + " public addresses"
	if k.Addresses == 1 {
		addrs = "1 public address"
	}
	switch k.Model {
	case nat.CapacityBlocks:
		return fmt.Sprintf("%s x %s ports / %s-port blocks = %s subscribers", addrs, thousands(k.Ports), thousands(k.BlockSize), thousands(k.Subscribers))
	case nat.CapacityQuota:
		return fmt.Sprintf("%s x %s ports / %s-port quota = %s subscribers at full quota", addrs, thousands(k.Ports), thousands(k.Quota), thousands(k.Subscribers))
	case nat.CapacityMappings:
		return fmt.Sprintf("max_mappings %s = %s subscribers", thousands(k.MaxMappings), thousands(k.Subscribers))
	}
	return fmt.Sprintf("%s x %s ports = %s subscribers", addrs, thousands(k.Ports), thousands(k.Subscribers))
}

// addressesNeeded suggests the public_addresses that would hold subs
// subscribers, when more addresses would help.
func addressesNeeded(k nat.Capacity, subs int) string {
	if k.Model == nat.CapacityMappings || k.Addresses == 0 || k.Subscribers == 0 {
		return ""
	}
	per := k.Subscribers / k.Addresses
	need := (subs + per - 1) / per
	if need > scenarios.MaxPublicAddresses {
		return ""
	}
	return fmt.Sprintf("; public_addresses: %d would hold them", need)
}

// thousands formats n with commas: 64512 -> "64,512".
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// runWarnings are the warnings a finished run adds to the configuration's
// (before): a shared layer that refused ports, with the devices behind it
// that never connected, and groups below lowDelivery with the likely why.
func (r *runner) runWarnings(res *Result, before []string) []string {
	out := slices.Clone(before)
	starved := map[string]bool{}
	for i, ls := range r.layers {
		ns := res.Summary.NATs[i]
		if ls.scope != scenarios.ScopeShared || ns.PortQuotaFailures == 0 || len(ls.tables) == 0 {
			continue
		}
		starved[ls.network] = true
		total, never := 0, 0
		for _, ds := range r.devs {
			if !slices.Contains(groupNetworks(ds.g.cfg), ls.network) {
				continue
			}
			total++
			if !ds.everConnected() {
				never++
			}
		}
		k := ls.capacity()
		who := fmt.Sprintf("%s of %s devices never connected and", thousands(never), thousands(total))
		if never == 0 {
			who = "every device connected at least once, but"
		}
		out = append(out, fmt.Sprintf("%s: %s the NAT refused %s ports (port_quota_failures): %s",
			ls.name, who, thousands(int(ns.PortQuotaFailures)), capacityText(k)))
	}
	for _, g := range r.groups {
		gs := res.Group(g.name)
		if gs == nil || gs.PushesSent == 0 || gs.DeliveryRatio >= lowDelivery {
			continue
		}
		why := "see nats[].drops_by_reason and the reconnects in summary.json"
		if slices.ContainsFunc(before, func(w string) bool { return strings.HasPrefix(w, "groups."+g.name+": ") }) {
			why = "its keep-alive outlasts the NAT idle timeout (above)"
		}
		if slices.ContainsFunc(groupNetworks(g.cfg), func(n string) bool { return starved[n] }) {
			why = "its NAT ran out of ports (above)"
		}
		out = append(out, fmt.Sprintf("group %s: %.1f%% of pushes delivered, below %.0f%%: %s", g.name, 100*gs.DeliveryRatio, 100*lowDelivery, why))
	}
	return out
}

// everConnected reports whether any push connection of the device (its
// one, or with apps any of its apps') was ever up.
func (ds *devState) everConnected() bool {
	for _, cs := range ds.conns {
		if cs.connects > 0 {
			return true
		}
	}
	return false
}
