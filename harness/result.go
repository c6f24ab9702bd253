package harness

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/natsim/natsim/plots"
	"github.com/natsim/natsim/scenarios"
	"github.com/natsim/natsim/sim/radio"
	"github.com/natsim/natsim/sim/workload"
)

// SchemaVersion is the version of the results files written
// (docs/results.md).
const SchemaVersion = 1

// Result is one run's results: the summary of docs/results.md, a row per
// device, the event stream and the timeseries. Write puts them on disk.
type Result struct {
	// Summary is summary.json.
	Summary Summary
	// Devices are devices.csv's rows, in device order.
	Devices []DeviceRow
	// WallTime is how long the run took on the wall clock.
	WallTime time.Duration

	metrics    map[string]float64 // expectation metrics, "name@group"
	events     []event
	series     []seriesRow
	pcap       []byte
	recordWall bool
	formats    []string // scenario outputs.formats; nil writes every file
	apps       bool     // a group has apps: devices.csv has the apps columns
}

// The summary.json types are plots' (the single definition of the file,
// shared by the writer here and the reader there); these aliases keep
// harness's API.
type (
	// Summary is summary.json.
	Summary = plots.Summary
	// GroupSummary is one device group's entry in summary.json.
	GroupSummary = plots.GroupSummary
	// NATSummary is one NAT layer's entry in summary.json (all instances
	// of a per-device layer added up).
	NATSummary = plots.NATSummary
	// Stats are the quantiles of a distribution, in seconds.
	Stats = plots.Quantiles
	// IntervalStats summarises adaptive strategies' final intervals.
	IntervalStats = plots.IntervalStats
	// ExpectationResult is an expectation with its measured value and
	// verdict.
	ExpectationResult = plots.Expectation
	// ExternalSummary is summary.json's "external" entry: what crossed
	// the splice to a real server.
	ExternalSummary = plots.ExternalSummary
)

// DeviceRow is one row of devices.csv.
type DeviceRow struct {
	Device, Group, Network, Strategy string
	PushesSent, PushesDelivered      int
	DeliveryRatio                    float64
	OnTimeRatio                      float64 // delivered within the deadline / sent
	LatencyP50S, LatencyP99S         float64 // NaN: no push received
	Keepalives, Reconnects           int
	EnergyJ                          float64
	FinalIntervalS                   float64 // NaN: no interval
	// Connections, NATPortsPeak and RadioOnS are written to devices.csv
	// for scenarios with apps only: the device's push connections, the
	// most NAT mappings it held at once at its outermost NAT, and its
	// radio-on time in seconds.
	Connections, NATPortsPeak int
	RadioOnS                  float64
}

// Group returns the summary of the named group, or nil.
func (r *Result) Group(name string) *GroupSummary {
	for i := range r.Summary.Groups {
		if r.Summary.Groups[i].Name == name {
			return &r.Summary.Groups[i]
		}
	}
	return nil
}

// Metric returns the value of an expectation metric ("latency_s.p99") for
// a group ("" for the whole run); ok is false when there is no such
// metric or it has no value.
func (r *Result) Metric(name, group string) (float64, bool) {
	key := name
	if group != "" {
		key += "@" + group
	}
	v, ok := r.metrics[key]
	if !ok || math.IsNaN(v) {
		return math.NaN(), false
	}
	return v, true
}

func quant(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return workload.Quantile(sorted, p)
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func zeroNaN(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return x
}

func statsOf(sorted []float64) Stats {
	return Stats{Mean: zeroNaN(mean(sorted)), P50: zeroNaN(quant(sorted, 0.5)), P90: zeroNaN(quant(sorted, 0.9)),
		P99: zeroNaN(quant(sorted, 0.99)), P999: zeroNaN(quant(sorted, 0.999)), Max: zeroNaN(quant(sorted, 1))}
}

// cdf thins a sorted sample to at most 300 points.
func cdf(sorted []float64) [][]float64 {
	n := len(sorted)
	out := [][]float64{}
	if n == 0 {
		return out
	}
	k := min(n, 300)
	for i := range k {
		j := (i+1)*n/k - 1
		out = append(out, []float64{sorted[j], float64(j+1) / float64(n)})
	}
	return out
}

// aggregate is the device-level data of a set of devices.
type aggregate struct {
	n                      int
	sent, delivered        int
	onTime                 int // delivered within the deadline
	latencies, detections  []float64
	keepalives, reconnects int
	bytes                  int64
	energy, idle, on       float64
	byCause                map[string]float64
	intervals              []float64
	connected              time.Duration
	quic                   bool // some devices run on QUIC
	quicCounts             quicCounts
	natPorts               []float64 // each device's most NAT ports held at once
}

func (a *aggregate) add(ds *devState, now time.Time, deadline float64) {
	a.n++
	a.sent += ds.sent
	a.delivered += ds.delivered
	a.onTime += ds.onTime(deadline)
	a.latencies = ds.latencies.appendSeconds(a.latencies)
	t := ds.totals()
	a.detections = append(a.detections, t.detections...)
	a.keepalives += t.keepalives
	a.reconnects += t.reconnects
	a.bytes += ds.bytes
	a.connected += t.connected
	a.addQUIC(ds)
	a.natPorts = append(a.natPorts, float64(ds.natPeak))
	if ds.radio != nil {
		rep := ds.radio.Report(now)
		a.energy += rep.EnergyJ
		a.idle += rep.IdleJ
		a.on += rep.OnTime.Seconds()
		if a.byCause == nil {
			a.byCause = map[string]float64{}
		}
		for _, c := range []radio.Cause{radio.CauseKeepAlive, radio.CausePush, radio.CauseReconnect} {
			a.byCause[c.String()] += rep.ByCauseJ[c]
		}
		a.byCause["idle"] += rep.IdleJ
		if o := rep.ByCauseJ[radio.CauseOther] - rep.IdleJ; o > 1e-12 {
			a.byCause["other"] += o
		}
	}
	if ds.strat == nil {
		return
	}
	if iv := ds.strat.Interval(); iv > 0 {
		a.intervals = append(a.intervals, iv.Seconds())
	}
}

func (r *runner) result() (*Result, error) {
	now := r.w.Now()
	dur := r.sc.Duration
	hours := dur.Hours()
	days := dur.Hours() / 24
	deadline := r.onTimeS()
	res := &Result{metrics: map[string]float64{}, events: r.events, series: r.series, apps: r.sc.HasApps()}
	if r.pcap != nil {
		res.pcap = r.pcap.Bytes()
	}
	s := &res.Summary
	s.SchemaVersion = SchemaVersion
	s.Scenario = r.sc.Name
	s.Seed = r.sc.Seed
	s.Clock = string(r.sc.Clock)
	if s.Clock == "" {
		s.Clock = string(scenarios.ClockVirtual)
	}
	s.VirtualS = dur.Seconds()
	if r.nparts > 1 {
		s.Partitions = r.nparts
	}
	s.Devices = len(r.devs)
	s.Events = r.nevents
	s.Packets = r.stats.Packets
	if r.ext != nil {
		ext := r.ext.sum
		s.External = &ext
	}

	var all aggregate
	for _, g := range r.groups {
		var a aggregate
		for _, ds := range g.devs {
			a.add(ds, now, deadline)
			all.add(ds, now, deadline)
			t := ds.totals()
			row := DeviceRow{Device: ds.name, Group: g.name, Network: ds.dev.Network().Name(), Strategy: g.strategyName,
				PushesSent: ds.sent, PushesDelivered: ds.delivered, DeliveryRatio: ratio(ds.delivered, ds.sent),
				OnTimeRatio: ratio(ds.onTime(deadline), ds.sent),
				Keepalives:  t.keepalives, Reconnects: t.reconnects, FinalIntervalS: math.NaN(),
				Connections: len(ds.conns), NATPortsPeak: ds.natPeak}
			lat := ds.latencies.appendSeconds(nil)
			slices.Sort(lat)
			row.LatencyP50S, row.LatencyP99S = quant(lat, 0.5), quant(lat, 0.99)
			if ds.radio != nil {
				rep := ds.radio.Report(now)
				row.EnergyJ, row.RadioOnS = rep.EnergyJ, rep.OnTime.Seconds()
			}
			if ds.strat != nil && ds.strat.Interval() > 0 {
				row.FinalIntervalS = ds.strat.Interval().Seconds()
			}
			res.Devices = append(res.Devices, row)
		}
		gs := a.summary(g.name, hours, days, deadline)
		gs.Strategy = g.strategyName
		gs.Network = g.network
		r.appResults(g, &gs, res.metrics, now, hours, deadline)
		s.Groups = append(s.Groups, gs)
		a.metrics(res.metrics, "@"+g.name, hours, dur)
	}
	all.metrics(res.metrics, "", hours, dur)
	r.presenceResults(res, days)

	var natTotals = map[string]float64{}
	for _, ls := range r.layers {
		ns := NATSummary{Network: ls.network, Layer: ls.name, Preset: ls.preset, DropsByReason: map[string]uint64{}}
		var idle float64
		for _, t := range ls.tables {
			st := t.Stats()
			ns.MappingsCreated += st.Created
			ns.MappingsExpired += st.Expired
			ns.MappingsEvicted += st.Evicted + st.Flushed
			ns.DropsNoMapping += st.Drops["no_mapping"]
			for k, v := range st.Drops {
				ns.DropsByReason[k] += v
			}
			ns.RSTsSent += st.RSTsGenerated
			ns.PortQuotaFailures += st.QuotaFailures
			idle += t.Config().TCP.Established.Seconds()
		}
		if len(ls.tables) > 0 {
			ns.IdleTimeoutS = idle / float64(len(ls.tables))
		}
		natTotals["mappings_created"] += float64(ns.MappingsCreated)
		natTotals["mappings_expired"] += float64(ns.MappingsExpired)
		natTotals["mappings_evicted"] += float64(ns.MappingsEvicted)
		natTotals["nat_drops_no_mapping"] += float64(ns.DropsNoMapping)
		natTotals["nat_rsts_sent"] += float64(ns.RSTsSent)
		natTotals["nat_port_quota_failures"] += float64(ns.PortQuotaFailures)
		s.NATs = append(s.NATs, ns)
	}
	for _, m := range []string{"mappings_created", "mappings_expired", "mappings_evicted", "nat_drops_no_mapping", "nat_rsts_sent", "nat_port_quota_failures"} {
		res.metrics[m] = natTotals[m]
	}
	if s.Groups == nil {
		s.Groups = []GroupSummary{}
	}
	if s.NATs == nil {
		s.NATs = []NATSummary{}
	}
	s.Warnings = r.runWarnings(res, r.warnings)

	// Reconnects per bucket, as a timeseries.
	for _, g := range r.groups {
		for b, n := range g.reconnectsIn {
			if n > 0 {
				r.series = append(r.series, seriesRow{time.Duration(b) * r.bucketSize(), g.name, "reconnects", float64(n)})
			}
		}
	}
	res.series = sortSeries(r.series, r.groups)

	s.Expectations = []ExpectationResult{}
	s.Pass = true
	for _, e := range r.sc.Expect {
		v, _ := res.Metric(e.Metric, e.Group)
		pass := e.Holds(v)
		er := ExpectationResult{Expr: e.String(), Group: e.Group, Pass: pass}
		if !math.IsNaN(v) {
			vv := v
			er.Value = &vv
		}
		s.Expectations = append(s.Expectations, er)
		s.Pass = s.Pass && pass
	}
	return res, nil
}

// onTimeS is the on-time deadline in seconds (outputs.on_time; the
// default when a scenario built in Go left it zero).
func (r *runner) onTimeS() float64 {
	if d := r.sc.Outputs.OnTime; d > 0 {
		return d.Seconds()
	}
	return scenarios.DefaultOnTime.Seconds()
}

// onTime counts the device's pushes delivered within deadline seconds of
// being sent. A push redelivered after a reconnect carries its original
// send time, so it is late however surely it arrives.
func (ds *devState) onTime(deadline float64) int {
	return ds.latencies.within(deadline)
}

func ptr(x float64) *float64 { return &x }

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

func (a *aggregate) summary(name string, hours, days, deadline float64) GroupSummary {
	slices.Sort(a.latencies)
	slices.Sort(a.detections)
	slices.Sort(a.intervals)
	n := float64(max(a.n, 1))
	gs := GroupSummary{
		Name: name, Devices: a.n, PushesSent: a.sent, PushesDelivered: a.delivered,
		DeliveryRatio: ratio(a.delivered, a.sent), OnTimeRatio: ptr(ratio(a.onTime, a.sent)), OnTimeS: deadline,
		LatencyS: statsOf(a.latencies), LatencyCDF: cdf(a.latencies),
		KeepalivesPerDeviceHour: float64(a.keepalives) / n / hours, BytesPerDeviceHour: float64(a.bytes) / n / hours,
		Reconnects: a.reconnects, ReconnectsPerDeviceDay: float64(a.reconnects) / n / days,
		DetectionDelayS: statsOf(a.detections), EnergyJPerDeviceDay: a.energy / n / days,
		EnergyByCauseJPerDeviceDay: map[string]float64{}, RadioOnSPerDeviceDay: a.on / n / days,
	}
	for _, c := range []string{"keepalive", "push", "reconnect", "idle"} {
		gs.EnergyByCauseJPerDeviceDay[c] = a.byCause[c] / n / days
	}
	if v, ok := a.byCause["other"]; ok {
		gs.EnergyByCauseJPerDeviceDay["other"] = v / n / days
	}
	if len(a.intervals) > 0 {
		gs.FinalIntervalS = &IntervalStats{Mean: mean(a.intervals), P50: quant(a.intervals, 0.5)}
	}
	a.quicSummary(&gs)
	return gs
}

// metrics fills the expectation metrics (scenarios.Metrics) with suffix
// "@group" or "" for the whole run.
func (a *aggregate) metrics(m map[string]float64, suffix string, hours float64, dur time.Duration) {
	slices.Sort(a.latencies)
	slices.Sort(a.detections)
	slices.Sort(a.intervals)
	n := float64(max(a.n, 1))
	set := func(k string, v float64) { m[k+suffix] = v }
	set("pushes_sent", float64(a.sent))
	set("pushes_delivered", float64(a.delivered))
	set("delivery_ratio", ratio(a.delivered, a.sent))
	set("ontime_ratio", ratio(a.onTime, a.sent))
	set("keepalives_per_device_hour", float64(a.keepalives)/n/hours)
	set("bytes_per_device_hour", float64(a.bytes)/n/hours)
	set("reconnects", float64(a.reconnects))
	set("reconnects_per_device_hour", float64(a.reconnects)/n/hours)
	set("energy_j_per_device_day", a.energy/n/(hours/24))
	set("connected_ratio", a.connected.Seconds()/(n*dur.Seconds()))
	a.quicMetrics(set)
	setDist(m, "latency_s", suffix, a.latencies)
	setDist(m, "dead_detection_s", suffix, a.detections)
	setDist(m, "final_interval_s", suffix, a.intervals)
	slices.Sort(a.natPorts)
	setDist(m, "nat_ports_per_subscriber", suffix, a.natPorts)
}

// setDist sets the statistics of distribution metric name (scenarios.Stats)
// from the sorted sample xs, with suffix "@group", "@group/app" or "".
func setDist(m map[string]float64, name, suffix string, xs []float64) {
	set := func(k string, v float64) { m[k+suffix] = v }
	set(name+".mean", mean(xs))
	set(name+".min", math.NaN())
	if len(xs) > 0 {
		set(name+".min", xs[0])
	}
	for _, q := range []struct {
		s string
		p float64
	}{{"p50", 0.5}, {"p90", 0.9}, {"p95", 0.95}, {"p99", 0.99}, {"p999", 0.999}, {"max", 1}} {
		set(name+"."+q.s, quant(xs, q.p))
	}
}

func sortSeries(rows []seriesRow, groups []*groupState) []seriesRow {
	order := map[string]int{"all": -1}
	for i, g := range groups {
		order[g.name] = i
	}
	slices.SortStableFunc(rows, func(a, b seriesRow) int {
		if a.t != b.t {
			if a.t < b.t {
				return -1
			}
			return 1
		}
		if order[a.group] != order[b.group] {
			return order[a.group] - order[b.group]
		}
		return strings.Compare(a.metric, b.metric)
	})
	return rows
}
