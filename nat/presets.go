package nat

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Every value below traces to the project's research notes
// (research/nat-keepalive-facts.md); section numbers refer to them.
// Values marked "assumption" have no source and are documented as such
// in docs/nat-presets.md.

const sec = time.Second

// PresetInfo describes one preset for listings (the CLI's presets command).
type PresetInfo struct {
	Name        string
	Description string
	// Sources are the sources of the values, as cited in the research notes.
	Sources []string
	// Assumptions lists the values that have no source.
	Assumptions []string
	// Layers names the single-table presets a chain preset stacks,
	// innermost first; nil for a single table.
	Layers []string
}

type presetDef struct {
	info  PresetInfo
	build func() Config
}

// Documentation addresses (RFC 5737) and shared address space (RFC 6598)
// so presets validate as they are; scenarios override PublicAddrs.
var (
	homePublic = netip.MustParseAddr("203.0.113.1")
	cgnPool    = []netip.Addr{
		netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"),
		netip.MustParseAddr("198.51.100.3"), netip.MustParseAddr("198.51.100.4"),
	}
	nat444HomeWAN = netip.MustParseAddr("100.64.0.1")
)

// tcpAll sets every TCP state timeout; callers then override.
func tcpAll(m MappingBehavior, f FilteringBehavior, d time.Duration) TCPConfig {
	return TCPConfig{Mapping: m, Filtering: f, SynSent: d, SynRecv: d, Established: d,
		FinWait: d, CloseWait: d, LastAck: d, TimeWait: d, Close: d}
}

// transitory sets the SYN, FIN/close and RST states of c.
func (c TCPConfig) transitory(syn, fin, tw, rst time.Duration) TCPConfig {
	c.SynSent, c.SynRecv = syn, syn
	c.FinWait, c.CloseWait, c.LastAck = fin, fin, fin
	c.TimeWait, c.Close = tw, rst
	return c
}

// linuxTCP returns Linux's nf_conntrack TCP defaults (section 2.1, from
// Documentation/networking/nf_conntrack-sysctl.rst and
// nf_conntrack_proto_tcp.c).
func linuxTCP() TCPConfig {
	return TCPConfig{
		Mapping:         EndpointIndependentMapping,       // masquerade preserves the source port: EIM-like (section 7.1)
		Filtering:       AddressAndPortDependentFiltering, // conntrack admits replies only
		SynSent:         120 * sec,                        // nf_conntrack_tcp_timeout_syn_sent
		SynRecv:         60 * sec,                         // ..._syn_recv
		Established:     432000 * sec,                     // ..._established (5 days)
		FinWait:         120 * sec,                        // ..._fin_wait
		CloseWait:       60 * sec,                         // ..._close_wait
		LastAck:         30 * sec,                         // ..._last_ack
		TimeWait:        120 * sec,                        // ..._time_wait
		Close:           10 * sec,                         // ..._close
		Unacknowledged:  300 * sec,                        // ..._unacknowledged
		MaxRetrans:      300 * sec,                        // ..._max_retrans
		MaxRetransCount: 3,                                // nf_conntrack_tcp_max_retrans
		Midstream:       MidstreamPickup,                  // nf_conntrack_tcp_loose = 1
	}
}

func linuxConntrack() Config {
	return Config{
		Name:        "linux-conntrack",
		PublicAddrs: []netip.Addr{homePublic},
		Hairpinning: true, // works with a masquerade rule on the LAN side (assumption)
		TCP:         linuxTCP(),
		UDP: UDPConfig{
			Mapping:     EndpointIndependentMapping,
			Filtering:   AddressAndPortDependentFiltering,
			Initial:     30 * sec,  // nf_conntrack_udp_timeout
			Established: 120 * sec, // nf_conntrack_udp_timeout_stream (180 before commit 294304e4c522)
			StreamAfter: 2 * sec,   // stream_ts = 2*HZ in nf_conntrack_proto_udp.c
		},
		ICMP: ICMPConfig{
			Mapping: EndpointIndependentMapping, Filtering: AddressAndPortDependentFiltering,
			Timeout: 30 * sec, // nf_conntrack_icmp_timeout
		},
		Ports:          PortConfig{Assignment: PortPreserve}, // no hold-down in Linux
		RefreshInbound: true,                                 // nf_ct_refresh_acct runs in both directions
		OnExpiry:       ExpirySilent,
		Unsolicited:    UnsolicitedReject, // the box's own stack answers: RST / ICMP 3/3
		// The unsolicited datagram's conntrack entry blocks its public port
		// for that remote (nf_nat_core.c: nf_nat_used_tuple).
		TrackUnsolicited: true,
		Seed:             1,
	}
}

// presetDefs is filled by init: the builders refer back to it.
var presetDefs []presetDef

func init() {
	presetDefs = []presetDef{
		{PresetInfo{Name: "rfc-compliant",
			Description: "The IETF BEHAVE minimums and recommendations: EIM/EIF, UDP 5 min, TCP 2 h 4 min, outbound refresh only.",
			Sources:     []string{"RFC 4787 REQ-1/2/5/6/8/9", "RFC 5382 REQ-1/5/8", "RFC 5508 REQ-2/8", "RFC 6888 REQ-8", "RFC 7857"},
			Assumptions: []string{"unsolicited inbound is dropped at once (RFC 5382 REQ-4's 6 s hold then ICMP 3/3 is not modelled)"}},
			func() Config {
				return Config{
					Name: "rfc-compliant", PublicAddrs: []netip.Addr{homePublic},
					PairedPooling: true, // RFC 4787 REQ-2
					Hairpinning:   true, // RFC 4787 REQ-9, RFC 5382 REQ-8
					TCP: tcpAll(EndpointIndependentMapping, EndpointIndependentFiltering, 7440*sec). // RFC 5382 REQ-5: 2 h 4 min
																transitory(240*sec, 240*sec, 240*sec, 240*sec), // RFC 5382 REQ-5 transitory 4 min; RFC 7857 RST 4 min
					UDP:                       UDPConfig{Initial: 300 * sec, Established: 300 * sec},     // RFC 4787 REQ-5c: 5 min
					ICMP:                      ICMPConfig{Timeout: 60 * sec},                             // RFC 5508 REQ-2
					Ports:                     PortConfig{Assignment: PortPreserve, HoldDown: 120 * sec}, // RFC 6888 REQ-8
					NoRefreshOnOutboundErrors: true,                                                      // RFC 7857
					WhenFull:                  FullICMP,                                                  // RFC 5508 REQ-8
					Seed:                      1,
				}
			}},
		{PresetInfo{Name: "rfc-minimum",
			Description: "The shortest timers the RFCs allow, ADF and random ports: a stress preset.",
			Sources:     []string{"RFC 4787 REQ-5 (2 min)", "RFC 5382 REQ-5", "RFC 5508 REQ-2", "RFC 7857"}},
			func() Config {
				c := mustBuild("rfc-compliant")
				c.Name = "rfc-minimum"
				c.UDP.Initial, c.UDP.Established = 120*sec, 120*sec // RFC 4787 REQ-5
				c.TCP.Filtering, c.UDP.Filtering, c.ICMP.Filtering = AddressDependentFiltering, AddressDependentFiltering, AddressDependentFiltering
				c.Ports.Assignment = PortRandom // RFC 7857 port randomisation
				return c
			}},
		{PresetInfo{Name: "linux-conntrack",
			Description: "A Linux box with iptables/nftables masquerade and default conntrack sysctls (the kernel differential reference).",
			Sources:     []string{"torvalds/linux Documentation/networking/nf_conntrack-sysctl.rst", "net/netfilter/nf_conntrack_proto_tcp.c", "net/netfilter/nf_conntrack_proto_udp.c"},
			Assumptions: []string{"no table cap (nf_conntrack_max depends on memory)", "hairpinning on"}},
			linuxConntrack},
		{PresetInfo{Name: "home-router-openwrt",
			Description: "OpenWrt's shipped conntrack sysctls: Linux semantics, TCP 2 h 4 min, UDP 60/180 s.",
			Sources:     []string{"openwrt/openwrt package/kernel/linux/files/sysctl-nf-conntrack.conf"}},
			func() Config {
				c := linuxConntrack()
				c.Name = "home-router-openwrt"
				c.TCP.Established = 7440 * sec                     // OpenWrt nf_conntrack_tcp_timeout_established
				c.TCP.MaxRetransCount = 5                          // OpenWrt tcp_max_retrans
				c.UDP.Initial, c.UDP.Established = 60*sec, 180*sec // OpenWrt udp_timeout / udp_timeout_stream
				return c
			}},
		{PresetInfo{Name: "home-router-short",
			Description: "A SOHO router with short defaults: TCP 30 min, UDP 2 min, sequential ports.",
			Sources:     []string{"Cisco RV120W defaults (cisco.com emulator)"},
			Assumptions: []string{"TIME_WAIT and RST use the 10 s FIN value", "EIM/APDF, sequential ports, no pickup (section 7.1 row)"}},
			func() Config {
				return Config{
					Name: "home-router-short", PublicAddrs: []netip.Addr{homePublic}, Hairpinning: true,
					TCP: tcpAll(EndpointIndependentMapping, AddressAndPortDependentFiltering, 1800*sec). // RV120W TCP 1800
																transitory(60*sec, 10*sec, 10*sec, 10*sec), // SYN 60 / FIN 10 (section 7.1)
					UDP:            UDPConfig{Filtering: AddressAndPortDependentFiltering, Initial: 120 * sec, Established: 120 * sec}, // RV120W UDP 120
					ICMP:           ICMPConfig{Filtering: AddressAndPortDependentFiltering, Timeout: 60 * sec},                         // RV120W "other" 60
					Ports:          PortConfig{Assignment: PortSequential},
					RefreshInbound: true,
					Seed:           1,
				}
			}},
		{PresetInfo{Name: "home-router-bad",
			Description: "A poor home gateway: TCP 4 min, UDP 30 s unreplied, symmetric (APDM/APDF), outbound refresh only.",
			Sources:     []string{"NexComm NR304G manual p.62 (TCP 240, UDP 120, ICMP 10)", "Hätönen et al. IMC 2010 (UDP-1 minimum 30 s)"},
			Assumptions: []string{"SYN/FIN/TIME_WAIT/RST 60 s (section 7.1 row)", "sequential ports"}},
			func() Config {
				return Config{
					Name: "home-router-bad", PublicAddrs: []netip.Addr{homePublic},
					TCP: tcpAll(AddressAndPortDependentMapping, AddressAndPortDependentFiltering, 240*sec). // NR304G TCP 240
																transitory(60*sec, 60*sec, 60*sec, 60*sec),
					UDP: UDPConfig{Mapping: AddressAndPortDependentMapping, Filtering: AddressAndPortDependentFiltering,
						Initial: 30 * sec, Established: 120 * sec}, // Hätönen UDP-1 min 30 s; NR304G UDP 120
					ICMP:  ICMPConfig{Mapping: AddressAndPortDependentMapping, Filtering: AddressAndPortDependentFiltering, Timeout: 10 * sec}, // NR304G ICMP 10
					Ports: PortConfig{Assignment: PortSequential},
					Seed:  1,
				}
			}},
		{PresetInfo{Name: "cgnat-typical",
			Description: "A carrier-grade NAT: EIM/EIF, paired pooling, PBA 128 x up to 8 blocks, 120 s port hold-down, UDP 15 s until a reply.",
			Sources:     []string{"Nokia 7750 SR CGN (udp-initial 15 s, UDP 300 s, port blocks)", "ALU 7705 SAR (TCP 2 h 4 min)", "Juniper MX PBA (block 128, 8 blocks)", "RFC 6888 REQ-2/4/8/11", "RFC 7857 (RST 4 min)"},
			Assumptions: []string{"outbound-only refresh", "TIME_WAIT 240 s (Nokia assassinates TIME_WAIT on a new SYN, which the model does for any state)", "a four-address pool", "no midstream pickup"}},
			func() Config {
				return Config{
					Name: "cgnat-typical", PublicAddrs: slices.Clone(cgnPool), PairedPooling: true, Hairpinning: true,
					TCP: tcpAll(EndpointIndependentMapping, EndpointIndependentFiltering, 7440*sec). // ALU 7705 2 h 4 min
																transitory(240*sec, 240*sec, 240*sec, 240*sec),
					UDP:                       UDPConfig{Initial: 15 * sec, Established: 300 * sec},                                            // Nokia udp-initial 15, udp 300
					ICMP:                      ICMPConfig{Timeout: 60 * sec},                                                                   // ALU 7705 ICMP request 60
					Ports:                     PortConfig{Assignment: PortRandom, HoldDown: 120 * sec, BlockSize: 128, BlocksPerSubscriber: 8}, // Juniper PBA; RFC 6888 REQ-8
					NoRefreshOnOutboundErrors: true,                                                                                            // RFC 7857
					WhenFull:                  FullICMP,                                                                                        // RFC 6888 REQ-11
					Seed:                      1,
				}
			}},
		{PresetInfo{Name: "cgnat-pba-tight",
			Description: "A CGN at a 1024:1 sharing ratio: one 64-port block, 63-port quota.",
			Sources:     []string{"F5 PBA block-size 64, client-block-limit 1 (research notes [M])", "FD.io CSIT port budget (1024:1 -> 63 ports)", "RFC 6888 REQ-4"},
			Assumptions: []string{"F5 PBA defaults are unverified in the notes"}},
			func() Config {
				c := mustBuild("cgnat-typical")
				c.Name = "cgnat-pba-tight"
				c.Ports.BlockSize, c.Ports.BlocksPerSubscriber = 64, 1 // F5 PBA [M]
				c.Ports.PerSubscriber = 63                             // CSIT 1024:1
				return c
			}},
		{PresetInfo{Name: "carrier-30min",
			Description: "A mobile Gi firewall with Juniper SRX defaults: TCP 30 min, UDP 60 s, symmetric.",
			Sources:     []string{"Juniper SRX flow defaults (Junos Security 10.2)", "GCM 28-min heartbeat design point"},
			Assumptions: []string{"every transitory state uses the 10 s invalidated-flow timeout", "random ports, both-direction refresh (section 7.1 row)"}},
			func() Config {
				return Config{
					Name: "carrier-30min", PublicAddrs: slices.Clone(cgnPool), PairedPooling: true,
					TCP: tcpAll(AddressAndPortDependentMapping, AddressAndPortDependentFiltering, 1800*sec). // SRX TCP 1800
																	transitory(10*sec, 10*sec, 10*sec, 10*sec), // SRX invalidated flow 10
					UDP: UDPConfig{Mapping: AddressAndPortDependentMapping, Filtering: AddressAndPortDependentFiltering,
						Initial: 60 * sec, Established: 60 * sec}, // SRX UDP 60
					ICMP:           ICMPConfig{Mapping: AddressAndPortDependentMapping, Filtering: AddressAndPortDependentFiltering, Timeout: 60 * sec},
					Ports:          PortConfig{Assignment: PortRandom},
					RefreshInbound: true,
					Seed:           1,
				}
			}},
		{PresetInfo{Name: "carrier-aggressive",
			Description: "A carrier NAT that forgets idle TCP after 5 minutes, silently (China Mobile/Unicom 2014).",
			Sources:     []string{"WeChat carrier NAT-timeout table, ~2014 (5 min)", "NetPiculet SIGCOMM 2011 short-timeout carriers [S]", "Cisco iWAG recommends 120/60"},
			Assumptions: []string{"transitory 60 s, UDP 30/60 s, ICMP 30 s (section 7.1 row)"}},
			func() Config {
				return aggressive("carrier-aggressive", 300*sec, ExpirySilent) // WeChat: CMCC/CU 5 min
			}},
		{PresetInfo{Name: "carrier-aggressive-rst",
			Description: "A carrier NAT that resets idle TCP connections at 255 s, both ways.",
			Sources:     []string{"NetPiculet SIGCOMM 2011: one carrier RSTs at 255 s [S-unverified]", "F5 fastL4 resetOnTimeout"},
			Assumptions: []string{"the 255 s figure is from a secondary summary", "transitory 60 s, UDP 30/60 s"}},
			func() Config {
				return aggressive("carrier-aggressive-rst", 255*sec, ExpiryRSTBoth) // NetPiculet 255 s RST
			}},
		{PresetInfo{Name: "carrier-lenient",
			Description: "A mobile core NAT with a 6 h TCP timeout and PBA (Twilio Super SIM).",
			Sources:     []string{"twilio.com Super SIM network timeouts (TCP 21600, UDP 30)"},
			Assumptions: []string{"PBA 128 x 8 (Juniper figures)", "transitory 240 s", "ICMP 60 s"}},
			func() Config {
				return Config{
					Name: "carrier-lenient", PublicAddrs: slices.Clone(cgnPool), PairedPooling: true, Hairpinning: true,
					TCP: tcpAll(EndpointIndependentMapping, EndpointIndependentFiltering, 21600*sec). // Twilio 6 h
																transitory(240*sec, 240*sec, 240*sec, 240*sec),
					UDP:            UDPConfig{Initial: 30 * sec, Established: 30 * sec}, // Twilio UDP 30
					ICMP:           ICMPConfig{Timeout: 60 * sec},
					Ports:          PortConfig{Assignment: PortRandom, HoldDown: 120 * sec, BlockSize: 128, BlocksPerSubscriber: 8},
					RefreshInbound: true,
					Seed:           1,
				}
			}},
		{PresetInfo{Name: "enterprise-fw",
			Description: "An enterprise firewall with PAN-OS defaults: TCP 1 h, pre-handshake 5 s, FIN/RST 30 s, UDP 30 s.",
			Sources:     []string{"PAN-OS KB 42246"},
			Assumptions: []string{"ICMP 6 s and symmetric mapping (section 7.1 row)", "random ports"}},
			func() Config {
				c := Config{
					Name: "enterprise-fw", PublicAddrs: []netip.Addr{homePublic},
					TCP: tcpAll(AddressAndPortDependentMapping, AddressAndPortDependentFiltering, 3600*sec). // PAN-OS TCP 3600
																	transitory(5*sec, 30*sec, 30*sec, 30*sec), // pre-handshake 5, FIN/RST 30
					UDP: UDPConfig{Mapping: AddressAndPortDependentMapping, Filtering: AddressAndPortDependentFiltering,
						Initial: 30 * sec, Established: 30 * sec}, // PAN-OS UDP 30
					ICMP:           ICMPConfig{Mapping: AddressAndPortDependentMapping, Filtering: AddressAndPortDependentFiltering, Timeout: 6 * sec},
					Ports:          PortConfig{Assignment: PortRandom},
					RefreshInbound: true,
					Seed:           1,
				}
				return c
			}},
		{PresetInfo{Name: "lb-f5-fastl4",
			Description: "An F5 BIG-IP fastL4 virtual: 300 s idle timeout for every TCP state, RST both ways on timeout.",
			Sources:     []string{"F5 AS3 L4_Profile schema (idleTimeout 300, resetOnTimeout true)"},
			Assumptions: []string{"UDP 60 s [M]", "ICMP 60 s", "EIM/EIF", "port preservation"}},
			func() Config {
				return Config{
					Name: "lb-f5-fastl4", PublicAddrs: []netip.Addr{homePublic},
					TCP:            tcpAll(EndpointIndependentMapping, EndpointIndependentFiltering, 300*sec), // fastL4 idleTimeout
					UDP:            UDPConfig{Initial: 60 * sec, Established: 60 * sec},                       // UDP profile 60 [M]
					ICMP:           ICMPConfig{Timeout: 60 * sec},
					Ports:          PortConfig{Assignment: PortPreserve},
					RefreshInbound: true,
					OnExpiry:       ExpiryRSTBoth, // resetOnTimeout = true
					Seed:           1,
				}
			}},
		{PresetInfo{Name: "cloud-aws",
			Description: "AWS egress (NAT gateway / Network Firewall): 350 s TCP idle, non-SYN dropped after expiry.",
			Sources:     []string{"AWS Network Firewall FlowTimeouts API (350 s)", "AWS NFW: data packets dropped after the idle timeout, next SYN is a new flow"},
			Assumptions: []string{"UDP 350 s [M]", "every TCP state 350 s", "ICMP 60 s", "APDF, random ports"}},
			func() Config {
				return cloud("cloud-aws", 350*sec, 350*sec, EndpointIndependentMapping, AddressAndPortDependentFiltering)
			}},
		{PresetInfo{Name: "cloud-azure",
			Description: "Azure NAT Gateway: 4 min idle timeout.",
			Sources:     []string{"AKS ManagedClusterNATGatewayProfile (240 s default, 4-120 min)"},
			Assumptions: []string{"UDP 240 s [M]", "every TCP state 240 s", "ICMP 60 s", "APDF, random ports"}},
			func() Config {
				return cloud("cloud-azure", 240*sec, 240*sec, EndpointIndependentMapping, AddressAndPortDependentFiltering)
			}},
		{PresetInfo{Name: "cloud-gcp",
			Description: "Google Cloud NAT: TCP established 20 min, transitory 30 s, UDP 30 s, 64 ports per VM.",
			Sources:     []string{"GCP Compute API RouterNat (UDP 30, TCP transitory 30, ICMP 30, min 64 ports/VM)"},
			Assumptions: []string{"TCP established 1200 s [M]", "TIME_WAIT 30 s"}},
			func() Config {
				c := cloud("cloud-gcp", 1200*sec, 30*sec, EndpointIndependentMapping, EndpointIndependentFiltering)
				c.TCP = c.TCP.transitory(30*sec, 30*sec, 30*sec, 30*sec) // RouterNat tcpTransitoryIdleTimeoutSec 30
				c.ICMP.Timeout = 30 * sec                                // RouterNat icmpIdleTimeoutSec 30
				c.Ports.BlockSize, c.Ports.BlocksPerSubscriber = 64, 1   // RouterNat minPortsPerVm 64
				return c
			}},
		{PresetInfo{Name: "nat444-typical",
			Description: "A home router (OpenWrt) behind a typical CGN.",
			Sources:     []string{"composition of home-router-openwrt and cgnat-typical (research notes 6.8)"},
			Assumptions: []string{"the home router's WAN address is 100.64.0.1 (RFC 6598)"},
			Layers:      []string{"home-router-openwrt", "cgnat-typical"}}, nil},
		{PresetInfo{Name: "nat444-mobile-cn",
			Description: "A home router (OpenWrt) behind an aggressive 5-minute carrier NAT.",
			Sources:     []string{"composition of home-router-openwrt and carrier-aggressive (research notes 7.1)"},
			Assumptions: []string{"the home router's WAN address is 100.64.0.1 (RFC 6598)"},
			Layers:      []string{"home-router-openwrt", "carrier-aggressive"}}, nil},
	}
}

// aggressive builds the short-timeout carrier presets (section 7.1).
func aggressive(name string, est time.Duration, onExpiry ExpiryAction) Config {
	return Config{
		Name: name, PublicAddrs: slices.Clone(cgnPool), PairedPooling: true,
		TCP: tcpAll(AddressAndPortDependentMapping, AddressAndPortDependentFiltering, est).
			transitory(60*sec, 60*sec, 60*sec, 60*sec),
		UDP: UDPConfig{Mapping: AddressAndPortDependentMapping, Filtering: AddressAndPortDependentFiltering,
			Initial: 30 * sec, Established: 60 * sec},
		ICMP:     ICMPConfig{Mapping: AddressAndPortDependentMapping, Filtering: AddressAndPortDependentFiltering, Timeout: 30 * sec},
		Ports:    PortConfig{Assignment: PortRandom},
		OnExpiry: onExpiry,
		Seed:     1,
	}
}

// cloud builds the cloud egress presets (section 2.4).
func cloud(name string, tcp, udp time.Duration, m MappingBehavior, f FilteringBehavior) Config {
	return Config{
		Name: name, PublicAddrs: []netip.Addr{homePublic},
		TCP:            tcpAll(m, f, tcp),
		UDP:            UDPConfig{Mapping: m, Filtering: f, Initial: udp, Established: udp},
		ICMP:           ICMPConfig{Mapping: m, Filtering: f, Timeout: 60 * sec},
		Ports:          PortConfig{Assignment: PortRandom},
		RefreshInbound: true,
		Seed:           1,
	}
}

// presetAliases maps the research notes' section 7.1 names to the
// shorter names the presets go by.
var presetAliases = map[string]string{
	"enterprise-fw-paloalto":  "enterprise-fw",
	"linux-conntrack-default": "linux-conntrack",
}

func findPreset(name string) *presetDef {
	if alias, ok := presetAliases[name]; ok {
		name = alias
	}
	for i := range presetDefs {
		if presetDefs[i].info.Name == name {
			return &presetDefs[i]
		}
	}
	return nil
}

func mustBuild(name string) Config { return findPreset(name).build() }

// Preset returns the named single-table preset, ready to override field
// by field. An unknown name or a chain preset returns a Config whose
// Validate (and so New) reports the problem.
func Preset(name string) Config {
	c, err := LookupPreset(name)
	if err != nil {
		return Config{Name: name, err: err}
	}
	return c
}

// LookupPreset is Preset with the error returned directly.
func LookupPreset(name string) (Config, error) {
	d := findPreset(name)
	if d == nil {
		return Config{}, fmt.Errorf("nat: unknown preset %q%s", name, orSeePresets(NearestPresets(name)))
	}
	if d.build == nil {
		return Config{}, fmt.Errorf("nat: preset %q is a chain of %v; use ChainPreset", name, d.info.Layers)
	}
	return d.build(), nil
}

// ChainPreset returns the layer configs of a preset, innermost first:
// one config for a single-table preset, several for a chain preset.
func ChainPreset(name string) ([]Config, error) {
	d := findPreset(name)
	if d == nil {
		return nil, fmt.Errorf("nat: unknown preset %q%s", name, orSeePresets(NearestPresets(name)))
	}
	if d.build != nil {
		return []Config{d.build()}, nil
	}
	out := make([]Config, len(d.info.Layers))
	for i, l := range d.info.Layers {
		out[i] = mustBuild(l)
		out[i].Seed = uint64(i + 1)
	}
	// The home router's WAN side is the CGN's inside (RFC 6598 space).
	out[0].PublicAddrs = []netip.Addr{nat444HomeWAN}
	out[0].Name = "home"
	out[len(out)-1].Name = "cgn"
	return out, nil
}

// Presets lists every preset in a stable order.
func Presets() []PresetInfo {
	out := make([]PresetInfo, len(presetDefs))
	for i, d := range presetDefs {
		out[i] = d.info
		out[i].Sources = slices.Clone(d.info.Sources)
		out[i].Assumptions = slices.Clone(d.info.Assumptions)
		out[i].Layers = slices.Clone(d.info.Layers)
	}
	return out
}
