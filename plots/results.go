package plots

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// SchemaVersion is the results schema this package reads
// (docs/results.md). Files with a newer version are refused.
const SchemaVersion = 1

// File names in a run or sweep directory (docs/results.md).
const (
	SummaryFile      = "summary.json"
	DevicesFile      = "devices.csv"
	EventsFile       = "events.jsonl"
	TimeseriesFile   = "timeseries.csv"
	SweepFile        = "sweep.csv"
	SweepSummaryFile = "sweep_summary.csv"
)

// nan is a missing value (an empty CSV cell, an absent metric), so that
// it is never mistaken for zero.
var nan = math.NaN()

// inf makes an empty data range: plot.Add takes min and max with it, so
// +inf/-inf leave the axes alone where NaN would poison them.
var inf = math.Inf(1)

// The summary.json types below are the only definition of the file's
// structure: harness writes summary.json with them (its Summary, Stats,
// GroupSummary... are aliases of these) and this package reads it, so the
// writer and the reader cannot drift apart.

// Quantiles summarises a distribution in seconds.
type Quantiles struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// IntervalStats summarises the keep-alive intervals adaptive strategies
// ended the run with, in seconds.
type IntervalStats struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
}

// GroupSummary is one device group's results in summary.json.
type GroupSummary struct {
	Name            string  `json:"name"`
	Devices         int     `json:"devices"`
	Strategy        string  `json:"strategy"`
	Network         string  `json:"network"`
	PushesSent      int     `json:"pushes_sent"`
	PushesDelivered int     `json:"pushes_delivered"`
	DeliveryRatio   float64 `json:"delivery_ratio"`
	// OnTimeRatio is the share of the pushes sent that were delivered
	// within OnTimeS of being sent (1 when none were sent). Results
	// written before it existed lack it: Timeliness reports whether it
	// was read.
	OnTimeRatio *float64 `json:"ontime_ratio,omitempty"`
	// OnTimeS is the on-time deadline, the scenario's outputs.on_time in
	// seconds.
	OnTimeS                 float64     `json:"on_time_s,omitempty"`
	LatencyS                Quantiles   `json:"latency_s"`
	LatencyCDF              [][]float64 `json:"latency_cdf"`
	KeepalivesPerDeviceHour float64     `json:"keepalives_per_device_hour"`
	BytesPerDeviceHour      float64     `json:"bytes_per_device_hour"`
	Reconnects              int         `json:"reconnects"`
	ReconnectsPerDeviceDay  float64     `json:"reconnects_per_device_day"`
	DetectionDelayS         Quantiles   `json:"detection_delay_s"`
	EnergyJPerDeviceDay     float64     `json:"energy_j_per_device_day"`
	// EnergyByCauseJPerDeviceDay maps a cause (keepalive, push, reconnect,
	// idle, and any cause a later radio model adds) to joules per
	// device-day.
	EnergyByCauseJPerDeviceDay map[string]float64 `json:"energy_by_cause_j_per_device_day"`
	RadioOnSPerDeviceDay       float64            `json:"radio_on_s_per_device_day"`
	// FinalIntervalS is present for adaptive strategies only.
	FinalIntervalS *IntervalStats `json:"final_interval_s,omitempty"`
	// Transport is "quic" for a group on QUIC; absent for TCP.
	Transport string `json:"transport,omitempty"`
	// QUICMigrations, QUICIdleCloses and QUICStatelessResets count the
	// group's QUIC path migrations, idle-timeout closes and stateless
	// resets received (QUIC groups only; see docs/quic.md).
	QUICMigrations      *int `json:"quic_migrations,omitempty"`
	QUICIdleCloses      *int `json:"quic_idle_closes,omitempty"`
	QUICStatelessResets *int `json:"quic_stateless_resets,omitempty"`
	// PresenceSummary is present for groups that track presence.
	*PresenceSummary
	// AppsSummary holds the per-app and per-connection results of a group
	// whose devices carry apps (absent otherwise; plots/apps.go).
	AppsSummary
}

// NATSummary is one NAT layer of one network in summary.json (all
// instances of a per-device layer added up).
type NATSummary struct {
	Network           string            `json:"network"`
	Layer             string            `json:"layer"`
	Preset            string            `json:"preset"`
	MappingsCreated   uint64            `json:"mappings_created"`
	MappingsExpired   uint64            `json:"mappings_expired"`
	MappingsEvicted   uint64            `json:"mappings_evicted"`
	DropsNoMapping    uint64            `json:"drops_no_mapping"`
	DropsByReason     map[string]uint64 `json:"drops_by_reason"`
	RSTsSent          uint64            `json:"rsts_sent"`
	PortQuotaFailures uint64            `json:"port_quota_failures"`
	IdleTimeoutS      float64           `json:"idle_timeout_s"`
}

// Expectation is one checked expectation in summary.json: the expression
// as written, its group ("" for run-wide), the measured value and the
// verdict.
type Expectation struct {
	Expr  string `json:"expr"`
	Group string `json:"group"`
	// Value is nil (null) when the metric has no value (no data).
	Value *float64 `json:"value"`
	Pass  bool     `json:"pass"`
}

// ExternalSummary is summary.json's "external" entry: what crossed the
// splice to a real server (server.external runs only).
type ExternalSummary struct {
	// Address is the real server's address.
	Address string `json:"address"`
	// Splices counts device connections spliced to the real server.
	Splices int `json:"splices"`
	// UpstreamFailures counts splices whose real connection failed
	// (refused, timed out); the device side was reset.
	UpstreamFailures int `json:"upstream_failures"`
	// Overflows counts splices aborted because one side would not take
	// bytes and the splice's buffer was full.
	Overflows int `json:"overflows"`
	// EgressRefused counts device packets to destinations that nothing in
	// the simulated Internet owns: only the server host (spliced to the
	// scenario's address) is reachable.
	EgressRefused int `json:"egress_refused"`
	// ProviderErrors counts provider publishes the real server did not
	// acknowledge before the end of the run.
	ProviderErrors int `json:"provider_errors"`
}

// Summary is summary.json. Fields this package does not know are ignored.
type Summary struct {
	SchemaVersion int    `json:"schema_version"`
	Scenario      string `json:"scenario"`
	Seed          uint64 `json:"seed"`
	Clock         string `json:"clock"`
	// Partitions is the scenario's partitions when more than one: the
	// run was split into that many independent shards (absent for one).
	Partitions   int            `json:"partitions,omitempty"`
	VirtualS     float64        `json:"virtual_s"`
	WallS        float64        `json:"wall_s"`
	Devices      int            `json:"devices"`
	Events       int            `json:"events"`
	Packets      uint64         `json:"packets"`
	Groups       []GroupSummary `json:"groups"`
	NATs         []NATSummary   `json:"nats"`
	Expectations []Expectation  `json:"expectations"`
	Pass         bool           `json:"pass"`
	// External describes the splice to a real server (server.external
	// runs only).
	External *ExternalSummary `json:"external,omitempty"`
	// Warnings are configuration problems and starved groups the run
	// found (harness.Warnings and the run's own), one sentence each;
	// absent when there are none.
	Warnings []string `json:"warnings,omitempty"`
}

// Timeliness returns the group's on-time ratio and deadline in seconds;
// ok is false for results written before the on-time metric existed.
func (g *GroupSummary) Timeliness() (ratio, deadlineS float64, ok bool) {
	if g.OnTimeRatio == nil {
		return nan, 0, false
	}
	return *g.OnTimeRatio, g.OnTimeS, true
}

// ReadSummary reads and checks a summary.json file.
func ReadSummary(path string) (*Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plots: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("plots: %s: %w", path, err)
	}
	if s.SchemaVersion < 1 || s.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("plots: %s: schema_version %d, this natsim reads %d", path, s.SchemaVersion, SchemaVersion)
	}
	for i, g := range s.Groups {
		for j, pt := range g.LatencyCDF {
			if len(pt) != 2 {
				return nil, fmt.Errorf("plots: %s: groups[%d] (%s): latency_cdf[%d] has %d values, want [latency_s, cumulative_fraction]", path, i, g.Name, j, len(pt))
			}
		}
	}
	return &s, nil
}

// Event is one line of events.jsonl. Kind-specific fields are zero when
// the kind does not carry them.
type Event struct {
	TS        float64 `json:"t_s"`
	Kind      string  `json:"kind"`
	Device    string  `json:"device"`
	Reason    string  `json:"reason,omitempty"`
	ID        int64   `json:"id,omitempty"`
	LatencyS  float64 `json:"latency_s,omitempty"`
	Layer     string  `json:"layer,omitempty"`
	Network   string  `json:"network,omitempty"`
	IntervalS float64 `json:"interval_s,omitempty"`
}

// ScanEvents streams an events.jsonl file from r (named name in errors)
// and calls fn for each event. When devices is not empty only those
// devices' events are decoded: lines that do not mention one of them are
// skipped before any JSON decoding, which keeps a scan of a large file
// cheap.
func ScanEvents(r io.Reader, name string, devices []string, fn func(Event) error) error {
	var needles [][]byte
	want := make(map[string]bool, len(devices))
	for _, d := range devices {
		q, _ := json.Marshal(d)
		needles = append(needles, q)
		want[d] = true
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		if len(needles) > 0 && !containsAny(b, needles) {
			continue
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("plots: %s:%d: %w", name, line, err)
		}
		if len(want) > 0 && !want[e.Device] {
			continue
		}
		if err := fn(e); err != nil {
			return fmt.Errorf("plots: %s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("plots: %s:%d: %w", name, line+1, err)
	}
	return nil
}

func containsAny(b []byte, needles [][]byte) bool {
	for _, n := range needles {
		if bytes.Contains(b, n) {
			return true
		}
	}
	return false
}

// csvTable reads a CSV file with a header row and hands out rows with
// column lookups that report file, line and column on error.
type csvTable struct {
	name   string
	r      *csv.Reader
	header []string
	col    map[string]int
	row    []string
	line   int
}

func openCSV(r io.Reader, name string, required ...string) (*csvTable, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 256<<10))
	cr.ReuseRecord = true
	h, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("plots: %s: empty file, want a header row", name)
		}
		return nil, fmt.Errorf("plots: %s:1: %w", name, err)
	}
	t := &csvTable{name: name, r: cr, header: append([]string(nil), h...), col: map[string]int{}, line: 1}
	for i, c := range t.header {
		t.col[strings.TrimSpace(c)] = i
	}
	for _, c := range required {
		if _, ok := t.col[c]; !ok {
			return nil, fmt.Errorf("plots: %s:1: missing column %q", name, c)
		}
	}
	return t, nil
}

// next advances to the next row; it returns false at the end.
func (t *csvTable) next() (bool, error) {
	row, err := t.r.Read()
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	t.line++
	if err != nil {
		return false, fmt.Errorf("plots: %s: %w", t.name, err)
	}
	t.row = row
	return true, nil
}

func (t *csvTable) str(col string) string {
	i, ok := t.col[col]
	if !ok || i >= len(t.row) {
		return ""
	}
	return t.row[i]
}

func (t *csvTable) float(col string) (float64, error) {
	s := t.str(col)
	if s == "" {
		return nan, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("plots: %s:%d: column %s: %q is not a number", t.name, t.line, col, s)
	}
	return v, nil
}

func (t *csvTable) int(col string) (int64, error) {
	s := t.str(col)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("plots: %s:%d: column %s: %q is not an integer", t.name, t.line, col, s)
	}
	return v, nil
}

// Sample is one row of timeseries.csv: the value of metric for group in
// the bucket that starts at TS seconds.
type Sample struct {
	TS     float64
	Group  string
	Metric string
	Value  float64
}

// ReadTimeseries reads a timeseries.csv stream. Only the metrics named
// are kept (all when metrics is empty).
func ReadTimeseries(r io.Reader, name string, metrics ...string) ([]Sample, error) {
	t, err := openCSV(r, name, "t_s", "group", "metric", "value")
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, m := range metrics {
		keep[m] = true
	}
	var out []Sample
	for {
		ok, err := t.next()
		if err != nil || !ok {
			return out, err
		}
		m := t.str("metric")
		if len(keep) > 0 && !keep[m] {
			continue
		}
		ts, err := t.float("t_s")
		if err != nil {
			return nil, err
		}
		v, err := t.float("value")
		if err != nil {
			return nil, err
		}
		out = append(out, Sample{TS: ts, Group: t.str("group"), Metric: strings.Clone(m), Value: v})
	}
}

// DeviceRow is one row of devices.csv (the columns this package uses).
type DeviceRow struct {
	Device        string
	Group         string
	Network       string
	Strategy      string
	DeliveryRatio float64
	Reconnects    int64
	Keepalives    int64
}

// ScanDevices streams a devices.csv file and calls fn for every row.
func ScanDevices(r io.Reader, name string, fn func(DeviceRow) error) error {
	t, err := openCSV(r, name, "device", "group", "reconnects")
	if err != nil {
		return err
	}
	for {
		ok, err := t.next()
		if err != nil || !ok {
			return err
		}
		d := DeviceRow{Device: t.str("device"), Group: t.str("group"), Network: t.str("network"), Strategy: t.str("strategy")}
		if d.Reconnects, err = t.int("reconnects"); err != nil {
			return err
		}
		if d.DeliveryRatio, err = t.float("delivery_ratio"); err != nil {
			return err
		}
		if s := t.str("keepalives"); s != "" {
			if d.Keepalives, err = t.int("keepalives"); err != nil {
				return err
			}
		}
		if err := fn(d); err != nil {
			return fmt.Errorf("plots: %s:%d: %w", name, t.line, err)
		}
	}
}
