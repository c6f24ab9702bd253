package harness

import (
	"cmp"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/scenarios"
)

// A partitioned run (Scenario.Partitions > 1) builds one runner, with its
// own world, per partition: device i of every group goes to partition
// i mod n, each partition has its own built-in servers and every nth
// address of each shared NAT pool. Partitions share nothing while they
// run, so each runs its whole course (sampling itself at every bucket
// start) on one of as many goroutines as GOMAXPROCS allows, and its world
// is closed when it is done; with Options.Step they are stepped one
// virtual minute (the timeseries bucket) at a time together instead.
// What each produced is merged in a fixed order when they all stop: the
// results do not depend on the core count or on which partition finished
// first (run, in collect.go).

// shard appends the partition to the name of a random stream that
// belongs to the partition rather than to a device (a NAT table's ports,
// a server's keys, a timeline event's picks), so partitions draw
// different streams; a device's own streams, named after the device,
// stay the same whatever the partitioning. A run of one partition keeps
// the names it always had.
func (r *runner) shard(parts ...string) []string {
	if r.nparts <= 1 {
		return parts
	}
	return append(parts, "partition", strconv.Itoa(r.part))
}

// share returns the partition's share of a pool: every nparts-th address
// from its own index.
func (r *runner) share(pool []netip.Addr) []netip.Addr {
	if r.nparts <= 1 {
		return pool
	}
	out := make([]netip.Addr, 0, (len(pool)+r.nparts-1)/r.nparts)
	for j := r.part; j < len(pool); j += r.nparts {
		out = append(out, pool[j])
	}
	return out
}

// merge returns the runner that steps and reports the run of parts: the
// one partition itself, or a view of several whose groups and devices
// are the partitions' in global order (device i of a group is device
// i / n of partition i mod n).
func merge(parts []*runner) *runner {
	p0 := parts[0]
	if len(parts) == 1 {
		return p0
	}
	v := &runner{sc: p0.sc, opts: p0.opts, part: -1, nparts: len(parts), parts: parts, view: true,
		w: p0.w, sched: p0.sched, start: p0.start, end: p0.end, warnings: p0.warnings, keepEvents: p0.keepEvents}
	for gi, g0 := range p0.groups {
		g := *g0
		g.devs = make([]*devState, 0, g0.cfg.Count)
		for i := range g0.cfg.Count {
			g.devs = append(g.devs, parts[i%len(parts)].groups[gi].devs[i/len(parts)])
		}
		g.reconnectsIn = nil
		v.groups = append(v.groups, &g)
		v.devs = append(v.devs, g.devs...)
	}
	return v
}

// stepAll runs every partition's clock to t, a bucket start.
func (r *runner) stepAll(t time.Time) {
	each(len(r.parts), func(k int) { r.parts[k].advance(t) })
}

// each calls f(0) to f(n-1), on up to GOMAXPROCS goroutines at a time
// (on the caller's when n is 1), and returns when every call has.
func each(n int, f func(k int)) {
	if n == 1 {
		f(0)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for k := next.Add(1) - 1; k < int64(n); k = next.Add(1) - 1 {
				f(int(k))
			}
		})
	}
	wg.Wait()
}

// gather collects into the view what its partitions recorded while they
// ran: counters, events (in time order, partitions in order at the same
// instant; push ids renumbered so that they stay unique: id k of
// partition p of n becomes (k-1)n + p + 1), the timeseries (their counts
// at each bucket start added up), reconnects per bucket and every NAT
// table, layer by layer.
func (r *runner) gather() {
	if !r.view {
		return
	}
	n := len(r.parts)
	for _, p := range r.parts {
		r.nevents += p.nevents
		r.stats.Packets += p.stats.Packets
		r.stats.Injected += p.stats.Injected
		r.stats.Drains += p.stats.Drains
		r.stats.Dropped += p.stats.Dropped
		r.errs = append(r.errs, p.errs...)
		for _, e := range p.events {
			if e.id != 0 {
				e.id = (e.id-1)*uint64(n) + uint64(p.part) + 1
			}
			r.events = append(r.events, e)
		}
		p.events = nil
	}
	slices.SortStableFunc(r.events, func(a, b event) int { return cmp.Compare(a.t, b.t) })
	for b, c := range r.parts[0].samples {
		c.groups = slices.Clone(c.groups)
		for _, p := range r.parts[1:] {
			c.add(p.samples[b])
		}
		r.record(c)
	}
	for gi, g := range r.groups {
		for _, p := range r.parts {
			in := p.groups[gi].reconnectsIn
			if len(in) > len(g.reconnectsIn) {
				g.reconnectsIn = append(g.reconnectsIn, make([]int, len(in)-len(g.reconnectsIn))...)
			}
			for b, c := range in {
				g.reconnectsIn[b] += c
			}
		}
	}
	for li, l0 := range r.parts[0].layers {
		ls := *l0
		ls.tables = nil
		for _, p := range r.parts {
			ls.tables = append(ls.tables, p.layers[li].tables...)
		}
		r.layers = append(r.layers, &ls)
	}
}

// capacity is the subscriber capacity of a layer: of its one table, or,
// for a shared layer split among partitions, of their pools together.
func (ls *layerState) capacity() nat.Capacity {
	c := ls.tables[0].Config()
	if ls.scope == scenarios.ScopeShared && len(ls.tables) > 1 {
		var addrs []netip.Addr
		for _, t := range ls.tables {
			addrs = append(addrs, t.Config().PublicAddrs...)
		}
		c.PublicAddrs = addrs
	}
	return c.Capacity()
}
