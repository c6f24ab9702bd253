package scenarios

import (
	"time"

	yaml "go.yaml.in/yaml/v4"
)

// Scenario is one scenario file: who is simulated (device groups on access
// networks behind NAT chains), against which push server, with what
// workload and events, what to record, and what the results must show.
// Every field's default is applied by the loader and shown by [Render].
type Scenario struct {
	// Name identifies the scenario in results and file names. Letters,
	// digits, '.', '_' and '-'. Required.
	Name string `yaml:"name" jsonschema:"required,pattern=^[A-Za-z0-9][A-Za-z0-9._-]*$"`
	// Description says what the scenario shows and why; free text.
	Description string `yaml:"description,omitempty"`
	// Labels are free key/value tags for selecting scenarios in CI.
	Labels map[string]string `yaml:"labels,omitempty"`
	// Seed seeds every random source of the run. Default 1. Sweep
	// replicates derive their seeds from it.
	Seed uint64 `yaml:"seed"`
	// Duration is how long the simulated run lasts (virtual or wall time).
	// Required. A wall-clock scenario may last at most MaxWallDuration (15m).
	Duration time.Duration `yaml:"duration" jsonschema:"required"`
	// Clock is "virtual" (default: discrete-event time, runs as fast as
	// the host allows) or "wall" (real time, for runs against real servers).
	Clock Clock `yaml:"clock"`
	// Server is the push server the devices connect to.
	Server Server `yaml:"server"`
	// Networks are the named access networks, keyed by name.
	Networks map[string]*Network `yaml:"networks" jsonschema:"required"`
	// Groups are the named device populations, keyed by name.
	Groups map[string]*Group `yaml:"groups" jsonschema:"required"`
	// Workload is the push traffic the provider sends, keyed by group
	// name. A group without an entry receives no pushes.
	Workload map[string]*Workload `yaml:"workload,omitempty"`
	// Timeline is the list of scheduled network events.
	Timeline []Event `yaml:"timeline,omitempty"`
	// Outputs says what to record beyond summary.json.
	Outputs Outputs `yaml:"outputs"`
	// Expect lists assertions on the results; the run fails when one does
	// not hold.
	Expect []Expectation `yaml:"expect,omitempty"`
	// Sweep, when present, turns the scenario into a grid of runs.
	Sweep *Sweep `yaml:"sweep,omitempty"`
	// Partitions splits the population into this many independent
	// shards, which a run steps on as many cores as it is given
	// (--procs) with results that do not depend on the core count.
	// Device i of every group belongs to shard i mod Partitions; each
	// shard has its own push front-end server and its own share of
	// every shared NAT layer (pool address j goes to shard j mod
	// Partitions, as a carrier's NAT instances each own a slice of the
	// pool), so devices of different shards never contend for a port.
	// Default 1: one world, one shared NAT, one server. Changing it
	// changes the results (which shard a device's NAT and server are);
	// the core count never does. A virtual-clock, built-in-server run
	// without a capture only; at most MaxPartitions.
	Partitions int `yaml:"partitions,omitempty" jsonschema:"minimum=1,maximum=1024"`

	src      *source   // positions and the node tree, for errors and sweeps
	warnings ErrorList // doubtful settings (Warnings)
}

// MaxWallDuration is the longest wall-clock scenario the loader accepts:
// wall-clock runs are for checking against real servers on loopback, and a
// CI job should not sit for hours doing it.
const MaxWallDuration = 15 * time.Minute

// MaxPartitions bounds Scenario.Partitions: each shard has its own
// server stack and its own slice of every shared pool.
const MaxPartitions = 1024

// Clock selects the time base of a run.
type Clock string

// The clocks.
const (
	ClockVirtual Clock = "virtual"
	ClockWall    Clock = "wall"
)

// Server configures the push server. Either the built-in server (all fields
// but External) or an external one (External only, wall clock only).
type Server struct {
	// External is the address of a real MQTT server to use instead of the
	// built-in one, e.g. "mqtt://127.0.0.1:1883". Wall clock only; the
	// built-in server settings must then be left out.
	External string `yaml:"external,omitempty"`
	// Port is the TCP port the built-in server listens on. Default 5223
	// (the APNs device port; any port works on the virtual clock).
	Port int `yaml:"port,omitempty" jsonschema:"minimum=0,maximum=65535"`
	// KeepAliveFactor: the server closes a connection that has been silent
	// for KeepAliveFactor times the client's MQTT keep-alive. Default 1.5
	// (MQTT 3.1.1 section 3.1.2.10).
	KeepAliveFactor float64 `yaml:"keepalive_factor,omitempty"`
	// Offline is what the server keeps for a device that is not connected.
	Offline *OfflineStore `yaml:"offline,omitempty"`
	// Heartbeat, when non-zero, makes the server send its own keep-alive
	// on every idle connection at this interval (server-originated
	// keep-alive; does not refresh outbound-only NATs). Default 0: off.
	Heartbeat time.Duration `yaml:"heartbeat,omitempty"`
	// HeartbeatTimeout, when non-zero, makes every heartbeat a probe: it
	// is sent at QoS 1 and the server declares the device gone (closes
	// the connection, publishes its will) when the PUBACK has not come
	// back within this time. Needs heartbeat. Default 0: no deadline.
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout,omitempty"`
	// TCP is the TCP profile of the server's sockets.
	TCP *ServerTCP `yaml:"tcp,omitempty"`
}

// OfflineStore is the built-in server's store-and-forward policy for
// devices that are offline when a push arrives.
type OfflineStore struct {
	// Policy is "keep-last" (default; one notification per device, as APNs
	// coalesces), "keep-n" (the newest N) or "keep-all".
	Policy OfflinePolicy `yaml:"policy"`
	// N is how many notifications keep-n keeps. Default 100 (the FCM
	// per-device limit of non-collapsible messages). Only for keep-n.
	N int `yaml:"n,omitempty"`
	// TTL is how long a stored notification stays deliverable, unless the
	// push's own ttl is shorter. Default 28d (the FCM maximum).
	TTL time.Duration `yaml:"ttl"`
}

// OfflinePolicy names an offline store policy.
type OfflinePolicy string

// The offline store policies.
const (
	OfflineKeepLast OfflinePolicy = "keep-last"
	OfflineKeepN    OfflinePolicy = "keep-n"
	OfflineKeepAll  OfflinePolicy = "keep-all"
)

// ServerTCP is the TCP profile of the built-in server's connections.
type ServerTCP struct {
	// KeepAliveIdle enables TCP keep-alive on server sockets after this much
	// idle time. Default 0: off (Linux without SO_KEEPALIVE).
	KeepAliveIdle time.Duration `yaml:"keepalive_idle"`
	// KeepAliveInterval is the time between unanswered probes. Default 75s
	// (Linux tcp_keepalive_intvl).
	KeepAliveInterval time.Duration `yaml:"keepalive_interval"`
	// KeepAliveCount is the number of unanswered probes before the
	// connection is dropped. Default 9 (Linux tcp_keepalive_probes).
	KeepAliveCount int `yaml:"keepalive_count"`
	// UserTimeout aborts a connection whose data stays unacknowledged this
	// long (TCP_USER_TIMEOUT, RFC 5482). Default 0: off.
	UserTimeout time.Duration `yaml:"user_timeout"`
}

// Network is an access network: the links from devices to the NAT chain
// and from the chain to the server, and the chain itself.
type Network struct {
	// Kind is "wifi", "cellular" or "ethernet". Required. It picks the
	// default link parameters, the default radio and the default NAT scope,
	// and strategies that learn per network class see it.
	Kind NetworkKind `yaml:"kind" jsonschema:"required"`
	// Prefix is the IPv4 prefix device addresses are drawn from, e.g.
	// "10.1.0.0/16". Default: the next free 10.N.0.0/16, networks taken in
	// name order.
	Prefix string `yaml:"prefix"`
	// Access is the device-side link (radio or Wi-Fi plus the access
	// network), between the device and the first NAT layer.
	Access Link `yaml:"access"`
	// Core is the link from the last NAT layer to the server.
	Core Link `yaml:"core"`
	// NAT is the chain of NAT layers, innermost (nearest the device) first.
	// Empty means no NAT.
	NAT []NATLayer `yaml:"nat,omitempty"`
}

// NetworkKind is the class of an access network.
type NetworkKind string

// The network kinds.
const (
	KindWiFi     NetworkKind = "wifi"
	KindCellular NetworkKind = "cellular"
	KindEthernet NetworkKind = "ethernet"
)

// Link is a link's parameters, the same in both directions unless Up or
// Down override some of them. Defaults depend on the network kind: access
// links 5ms/2ms jitter (wifi), 40ms/10ms (cellular), 1ms/0 (ethernet);
// core links 20ms with 2ms jitter; no loss, unlimited bandwidth.
type Link struct {
	// Latency is the one-way delay.
	Latency time.Duration `yaml:"latency"`
	// Jitter is the spread of the one-way delay (uniform, in-order).
	Jitter time.Duration `yaml:"jitter"`
	// Loss is the probability in [0,1] that a packet is dropped.
	Loss float64 `yaml:"loss" jsonschema:"minimum=0,maximum=1"`
	// BandwidthMbps is the capacity in megabits per second; 0 is unlimited.
	BandwidthMbps float64 `yaml:"bandwidth_mbps" jsonschema:"minimum=0"`
	// Up overrides parameters for the direction from the device towards the
	// server.
	Up *LinkDirection `yaml:"up,omitempty"`
	// Down overrides parameters for the direction towards the device.
	Down *LinkDirection `yaml:"down,omitempty"`
}

// LinkDirection overrides some of a link's parameters in one direction;
// absent fields keep the link's value.
type LinkDirection struct {
	// Latency overrides Link.Latency in this direction.
	Latency *time.Duration `yaml:"latency,omitempty"`
	// Jitter overrides Link.Jitter in this direction.
	Jitter *time.Duration `yaml:"jitter,omitempty"`
	// Loss overrides Link.Loss in this direction.
	Loss *float64 `yaml:"loss,omitempty" jsonschema:"minimum=0,maximum=1"`
	// BandwidthMbps overrides Link.BandwidthMbps in this direction.
	BandwidthMbps *float64 `yaml:"bandwidth_mbps,omitempty" jsonschema:"minimum=0"`
}

// LinkParams are a link's effective parameters in one direction.
type LinkParams struct {
	// Latency, Jitter, Loss and BandwidthMbps are as in Link.
	Latency       time.Duration
	Jitter        time.Duration
	Loss          float64
	BandwidthMbps float64
}

// Direction returns the effective parameters in one direction: the link's
// values with Up (up is true) or Down applied.
func (l Link) Direction(up bool) LinkParams {
	p := LinkParams{l.Latency, l.Jitter, l.Loss, l.BandwidthMbps}
	o := l.Down
	if up {
		o = l.Up
	}
	if o == nil {
		return p
	}
	if o.Latency != nil {
		p.Latency = *o.Latency
	}
	if o.Jitter != nil {
		p.Jitter = *o.Jitter
	}
	if o.Loss != nil {
		p.Loss = *o.Loss
	}
	if o.BandwidthMbps != nil {
		p.BandwidthMbps = *o.BandwidthMbps
	}
	return p
}

// NATLayer is one layer of a network's NAT chain: a named preset with field
// overrides, or a mixture (a population of presets drawn per instance).
// Exactly one of Preset and Mixture is set.
type NATLayer struct {
	// Preset names a NAT preset of the nat package, e.g. "cgnat-typical".
	Preset string `yaml:"preset,omitempty"`
	// Mixture names a mixture of presets, e.g. "cellular-2011"; each NAT
	// instance of this layer draws its preset from it.
	Mixture string `yaml:"mixture,omitempty"`
	// Scope is "per-device" (every device has its own instance, like a home
	// router) or "shared" (one instance for the whole network, like a
	// CGNAT). Default: per-device for the innermost layer of a wifi or
	// ethernet network, shared otherwise.
	Scope Scope `yaml:"scope"`
	// Overrides changes fields of the preset's configuration, e.g.
	// {tcp: {established: 300s}}. Kept as YAML with positions; the harness
	// checks it against the nat package's Config.
	Overrides Raw `yaml:"overrides,omitempty"`
	// PublicAddresses is the size of a shared layer's public address pool;
	// 0 (default) keeps the preset's (four for the CGN presets). A CGNAT's
	// subscriber capacity grows with it (docs/scenarios.md, "Address
	// pools").
	PublicAddresses int `yaml:"public_addresses,omitempty" jsonschema:"minimum=0,maximum=65536"`
}

// Scope says whether a NAT layer is one instance per device or one shared
// instance per network.
type Scope string

// The NAT scopes.
const (
	ScopePerDevice Scope = "per-device"
	ScopeShared    Scope = "shared"
)

// Group is a population of identical devices.
type Group struct {
	// Count is the number of devices. Required, at least 1.
	Count int `yaml:"count" jsonschema:"required,minimum=1"`
	// Network is the network every device of the group is attached to.
	// Exactly one of Network and Schedule is set.
	Network string `yaml:"network,omitempty"`
	// Schedule moves the group between networks on a repeating timetable
	// (Wi-Fi at night, cellular by day).
	Schedule *Schedule `yaml:"schedule,omitempty"`
	// Strategy is the keep-alive strategy and its parameters. Required.
	Strategy Strategy `yaml:"strategy" jsonschema:"required"`
	// Radio names the radio energy preset, or "auto" (default): wifi-psm on
	// wifi networks, lte-huang2012 on cellular, none on ethernet.
	Radio string `yaml:"radio"`
	// TCP is the devices' TCP profile. Defaults are Linux's.
	TCP TCPProfile `yaml:"tcp"`
	// Alarm is how the device's OS fires keep-alive timers.
	Alarm Alarm `yaml:"alarm"`
	// TLS is the cost of the TLS handshake on every (re)connect.
	TLS TLSCost `yaml:"tls"`
	// Backoff is the reconnect backoff after a failed or lost connection.
	Backoff Backoff `yaml:"backoff"`
	// PushKeepAlive is the MQTT keep-alive the push client announces in
	// CONNECT (whole seconds, at most 18h12m15s). The server enforces
	// keepalive_factor times it. Default 0: not announced, the server never
	// closes idle connections (APNs and FCM behave so towards devices).
	PushKeepAlive time.Duration `yaml:"push_keepalive"`
	// StartSpread is the window in which the devices' push clients
	// start, each at a seeded instant. Default 1s: every phone boots in
	// the run's first second, a mass reconnect that holds every handshake
	// in the NAT, the server and memory at once. A carrier-scale run that
	// studies the steady state spreads its devices over minutes instead
	// (docs/engine.md, "Scale scenarios").
	StartSpread time.Duration `yaml:"start_spread"`
	// Transport is the push connection's transport: {name: tcp} (default)
	// or {name: quic, ...}; see docs/quic.md.
	Transport Transport `yaml:"transport"`
	// Outages are random outages of the group's devices (presence).
	Outages *Outages `yaml:"outages,omitempty"`
	// Will is the MQTT Will Message the devices register (presence).
	Will *Will `yaml:"will,omitempty"`
	// Apps are the apps on every device of the group, each on the device's
	// one shared push connection or on its own (see App). Absent: the
	// device's single connection carries the group's workload.
	Apps []App `yaml:"apps,omitempty"`
}

// Schedule is a daily (or other period) timetable of networks. The slot
// whose At was passed last is in force; the timetable repeats every Period.
type Schedule struct {
	// Period is the length of one cycle. Default 1d.
	Period time.Duration `yaml:"period"`
	// Slots are the networks in force from At (an offset into the period)
	// on, in increasing At order; the first starts at 0s.
	Slots []Slot `yaml:"slots" jsonschema:"required,minItems=1"`
}

// Slot is one entry of a Schedule.
type Slot struct {
	// At is the offset into the period at which the slot starts.
	At time.Duration `yaml:"at"`
	// Network is the network in force from At.
	Network string `yaml:"network" jsonschema:"required"`
}

// Strategy is a keep-alive strategy name with its parameters, written
// inline: {name: fixed, interval: 270s}. Parameter names and types come from
// the catalog; absent parameters take the strategy's own defaults.
type Strategy struct {
	// Name is the strategy, e.g. "fixed", "wechat-smart".
	Name string
	// Params are the parameters other than name, kept as YAML with
	// positions for the strategy to decode.
	Params map[string]Raw
}

// TCPProfile is a device group's TCP stack settings. Defaults are Linux's:
// min RTO 200ms, max RTO 120s, tcp_retries2 15, tcp_syn_retries 6, no user
// timeout.
type TCPProfile struct {
	// MinRTO is the lower bound of the retransmission timeout.
	MinRTO time.Duration `yaml:"min_rto"`
	// MaxRTO is the upper bound of the retransmission timeout.
	MaxRTO time.Duration `yaml:"max_rto"`
	// MaxRetries is how many retransmissions of data are tried before the
	// connection is aborted (tcp_retries2).
	MaxRetries int `yaml:"max_retries" jsonschema:"minimum=0,maximum=255"`
	// SYNRetries is how many SYN retransmissions are tried (tcp_syn_retries).
	SYNRetries int `yaml:"syn_retries" jsonschema:"minimum=0,maximum=255"`
	// UserTimeout aborts a connection with data unacknowledged this long
	// (TCP_USER_TIMEOUT). 0: off.
	UserTimeout time.Duration `yaml:"user_timeout"`
}

// Alarm is the OS alarm model for keep-alive timers.
type Alarm struct {
	// Model is "window" (default: the timer fires anywhere in the window
	// the strategy asks for, as Android setWindow and Apple's early fire)
	// or "exact" (always at the latest instant of the window).
	Model AlarmModel `yaml:"model"`
	// Coalesce, when non-zero, aligns wake-ups to a grid of this period
	// (Android batching, Doze maintenance windows). Default 0: off.
	Coalesce time.Duration `yaml:"coalesce"`
}

// AlarmModel names an alarm model.
type AlarmModel string

// The alarm models.
const (
	AlarmWindow AlarmModel = "window"
	AlarmExact  AlarmModel = "exact"
)

// TLSCost is the cost of one TLS handshake on top of TCP's.
type TLSCost struct {
	// RoundTrips is the number of round trips the handshake adds. Default 2
	// (TLS 1.2 full handshake); 1 for TLS 1.3; 0 for no TLS.
	RoundTrips int `yaml:"round_trips" jsonschema:"minimum=0,maximum=4"`
	// ClientBytes is what the device sends in the handshake. Default 600.
	ClientBytes int `yaml:"client_bytes" jsonschema:"minimum=0"`
	// ServerBytes is what the server sends (certificate chain). Default
	// 4500.
	ServerBytes int `yaml:"server_bytes" jsonschema:"minimum=0"`
}

// Backoff is the reconnect backoff. The "exponential" preset (default)
// waits Initial, then multiplies by Multiplier up to Max, each wait drawn
// uniformly from [w·(1−Jitter), w]; defaults 1s, 2, 5m, 0.5. The "microg"
// preset is microG's fixed sequence (5s, +10s steps to 60s, then +60s steps
// to 600s) and takes no other field.
type Backoff struct {
	// Preset is "exponential" (default) or "microg".
	Preset BackoffPreset `yaml:"preset"`
	// Initial is the first wait.
	Initial time.Duration `yaml:"initial"`
	// Multiplier is the growth factor, at least 1.
	Multiplier float64 `yaml:"multiplier"`
	// Max caps the wait.
	Max time.Duration `yaml:"max"`
	// Jitter is the fraction in [0,1] of each wait that is randomised.
	Jitter float64 `yaml:"jitter" jsonschema:"minimum=0,maximum=1"`
}

// BackoffPreset names a reconnect backoff.
type BackoffPreset string

// The backoff presets.
const (
	BackoffExponential BackoffPreset = "exponential"
	BackoffMicroG      BackoffPreset = "microg"
)

// Workload is the push traffic sent to one group. The models add up; at
// least one is set.
type Workload struct {
	// Poisson sends to each device independently at random.
	Poisson *Poisson `yaml:"poisson,omitempty"`
	// Fixed sends to each device periodically.
	Fixed *Fixed `yaml:"fixed,omitempty"`
	// Bursts sends bursts to each device periodically.
	Bursts *Bursts `yaml:"bursts,omitempty"`
	// Broadcast sends to every device of the group at the given times.
	Broadcast *Broadcast `yaml:"broadcast,omitempty"`
	// QoS is the MQTT QoS of pushes, 0 or 1. Default 1.
	QoS int `yaml:"qos" jsonschema:"enum=0,enum=1"`
	// TTL is how long a push may wait in the offline store. Default 1d.
	TTL time.Duration `yaml:"ttl"`
	// PayloadBytes is the size of each push's payload. Default 256; at most
	// 4096 (the APNs limit).
	PayloadBytes int `yaml:"payload_bytes" jsonschema:"minimum=0,maximum=4096"`
}

// Poisson is a Poisson push process per device.
type Poisson struct {
	// RatePerHour is the mean number of pushes per device per hour.
	RatePerHour float64 `yaml:"rate_per_hour" jsonschema:"required,exclusiveMinimum=0"`
}

// Fixed is a periodic push per device.
type Fixed struct {
	// Every is the period. Required.
	Every time.Duration `yaml:"every" jsonschema:"required"`
	// Offset is the time of the first push, below Every. Default 0s; the
	// devices are then spread evenly over [Offset, Offset+Every).
	Offset time.Duration `yaml:"offset"`
}

// Bursts is a periodic burst of pushes per device.
type Bursts struct {
	// Every is the period between bursts. Required.
	Every time.Duration `yaml:"every" jsonschema:"required"`
	// Size is the number of pushes in a burst. Required.
	Size int `yaml:"size" jsonschema:"required,minimum=1"`
	// Spread is the time over which a burst's pushes are sent. Default 1s.
	Spread time.Duration `yaml:"spread"`
}

// Broadcast sends one push to every device of the group at each time.
type Broadcast struct {
	// At lists the times (from the start of the run).
	At []time.Duration `yaml:"at" jsonschema:"required,minItems=1"`
}

// Event is a scheduled network event. Which fields apply depends on Type;
// see docs/scenarios.md.
type Event struct {
	// At is the time of the event from the start of the run. Required.
	At time.Duration `yaml:"at"`
	// Type is one of nat-reboot, public-address-change, link-outage,
	// handover, timeout-change, address-change, quic-server-restart,
	// device-off, coverage-loss, app-suspended. Required.
	Type EventType `yaml:"type" jsonschema:"required"`
	// Network is the network the event happens on (all types but handover
	// and address-change).
	Network string `yaml:"network,omitempty"`
	// Layer is the NAT layer index (0 = innermost) for nat-reboot,
	// public-address-change and timeout-change. Default for nat-reboot and
	// public-address-change: the outermost layer; required for
	// timeout-change.
	Layer *int `yaml:"layer,omitempty"`
	// Link is "access" (default) or "core", for link-outage.
	Link LinkName `yaml:"link,omitempty"`
	// Duration is how long a link-outage, coverage-loss or app-suspended
	// lasts (required), or a device-off (optional: off to the end).
	Duration time.Duration `yaml:"duration,omitempty"`
	// Group is the device group for handover, address-change,
	// quic-server-restart and the presence events (device-off,
	// coverage-loss, app-suspended).
	Group string `yaml:"group,omitempty"`
	// Fraction is the share of the group's devices affected, in (0,1], for
	// handover, address-change and the presence events (default 1), and
	// the share of per-device
	// NAT instances affected by nat-reboot (default 1).
	Fraction float64 `yaml:"fraction,omitempty" jsonschema:"minimum=0,maximum=1"`
	// To is the target network of a handover.
	To string `yaml:"to,omitempty"`
	// Overrides are the NAT configuration changes of a timeout-change, in
	// the same form as NATLayer.Overrides.
	Overrides Raw `yaml:"overrides,omitempty"`
}

// EventType names a timeline event.
type EventType string

// The timeline event types.
const (
	EventNATReboot           EventType = "nat-reboot"
	EventPublicAddressChange EventType = "public-address-change"
	EventLinkOutage          EventType = "link-outage"
	EventHandover            EventType = "handover"
	EventTimeoutChange       EventType = "timeout-change"
	EventAddressChange       EventType = "address-change"
	// EventQUICServerRestart: the server's QUIC listener of a group loses
	// every connection's state (restart with the same stateless reset key);
	// see docs/quic.md.
	EventQUICServerRestart EventType = "quic-server-restart"
)

// LinkName names one of a network's two links.
type LinkName string

// The link names.
const (
	LinkAccess LinkName = "access"
	LinkCore   LinkName = "core"
)

// Outputs says what a run records besides summary.json.
type Outputs struct {
	// Pcap selects devices whose traffic is captured, as "group/index"
	// ("phones/0") or "group/*".
	Pcap []string `yaml:"pcap,omitempty"`
	// Plots names the figures to draw after the run or sweep; see Plots
	// for the list. Empty draws none.
	Plots []string `yaml:"plots,omitempty"`
	// Formats are the result files to write: "json" (summary.json), "csv"
	// (devices.csv and timeseries.csv), "jsonl" (events.jsonl). Default:
	// all three. Figures and sweeps read summary.json.
	Formats []string `yaml:"formats"`
	// PlotFormat is "svg" (default), "png" or "pdf".
	PlotFormat string `yaml:"plot_format" jsonschema:"enum=svg,enum=png,enum=pdf"`
	// OnTime is the on-time deadline: a push delivered within OnTime of
	// being sent counts as on time (the ontime_ratio metric). It is a
	// service level the user chooses, not a measured constant. Default
	// DefaultOnTime (60s).
	OnTime time.Duration `yaml:"on_time"`
}

// DefaultOnTime is the default on-time deadline (outputs.on_time): a
// user-chosen service level ("a push is on time within a minute"), not a
// sourced constant.
const DefaultOnTime = 60 * time.Second

// Plots are the figure names Outputs.Plots accepts: the kinds of figure
// package plots draws (plots.Figures; a harness test keeps the two equal).
var Plots = []string{"tradeoff", "heatmap", "latency-cdf", "energy", "server", "convergence", "timeline", "presence", "apps-energy"}

// Formats are the result formats Outputs.Formats accepts.
var Formats = []string{"json", "csv", "jsonl"}

// Sweep turns a scenario into a grid of runs: every combination of the
// values of Grid (the first path varies slowest), each run Replicates
// times with derived seeds.
type Sweep struct {
	// Grid maps parameter paths (as for --set: groups.phones.strategy.interval,
	// networks.cell.nat[0].overrides.tcp.established) to the list of values
	// to try, in file order.
	Grid Grid `yaml:"grid"`
	// Replicates is the number of runs per grid point, each with its own
	// seed. Default 1.
	Replicates int `yaml:"replicates" jsonschema:"minimum=1"`
}

// Grid is a sweep grid: its axes in file order. In a file it is a mapping
// from parameter path to a list of values.
type Grid []Axis

// Axis is one dimension of a sweep grid.
type Axis struct {
	// Path is the parameter path.
	Path string
	// Values are the values to try, as YAML with positions.
	Values []Raw
}

// Raw is a YAML value kept undecoded, with its position, for parts of the
// format checked outside this package (NAT overrides, strategy parameters,
// sweep values).
type Raw struct {
	node *yaml.Node
	file string
}

// Node returns the YAML node, or nil when the value is absent.
func (r Raw) Node() *yaml.Node { return r.node }

// IsZero reports whether the value is absent.
func (r Raw) IsZero() bool { return r.node == nil }

// Pos returns where the value was written.
func (r Raw) Pos() Pos {
	if r.node == nil {
		return Pos{File: r.file}
	}
	return Pos{File: r.file, Line: r.node.Line, Column: r.node.Column}
}

// Decode decodes the value into v with unknown fields and duplicate keys
// rejected (durations need units, as everywhere in a scenario).
func (r Raw) Decode(v any) error {
	if r.node == nil {
		return nil
	}
	if err := r.node.Load(v, yaml.WithKnownFields(), yaml.WithUniqueKeys()); err != nil {
		return &Error{Pos: r.Pos(), Msg: err.Error()}
	}
	return nil
}

// String returns the value as compact YAML ("300s", "{tcp: {established: 300s}}").
func (r Raw) String() string {
	if r.node == nil {
		return ""
	}
	return nodeString(r.node)
}
