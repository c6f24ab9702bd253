package kerneltest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Side names where a packet enters or leaves the NAT box.
type Side uint8

const (
	// Inside is the dev host's side: packets sent from it go outbound.
	Inside Side = iota + 1
	// Outside is the server's side: packets sent from it go inbound.
	Outside
)

// String returns "inside" or "outside".
func (s Side) String() string {
	switch s {
	case Inside:
		return "inside"
	case Outside:
		return "outside"
	}
	return "side(?)"
}

// Sysctl is one conntrack setting the lab writes in the NAT namespace,
// named without its "net.netfilter." prefix, for example
// nf_conntrack_tcp_timeout_established.
type Sysctl struct {
	Name  string
	Value int
}

// Captured is one IPv4 packet seen leaving the NAT box on a side or, in
// a lab with Options.Hosts, sent by the endpoint on that side.
type Captured struct {
	Side Side
	At   time.Time
	Pkt  []byte
	// FromHost is true for a packet the endpoint on Side sent towards the
	// NAT box (captured only with Options.Hosts), false for one the NAT
	// box sent to the endpoint.
	FromHost bool
}

// nsPrefix starts every namespace the lab creates; the pid that follows
// lets a later run remove what a killed run left behind.
const nsPrefix = "natsim-kt"

// Lab is the kernel NAT under test: three namespaces, two veth pairs,
// masquerade on the NAT box's outside interface, and packet sockets on
// the two endpoint veth ends. Close removes everything it created.
type Lab struct {
	// Backend says how masquerade was installed: "nftables" or "iptables".
	Backend string

	dev, nat, srv string
	hosts         bool
	sockets       map[Side]*packetSocket
	gwMAC         map[Side]net.HardwareAddr // NAT box MAC facing each side
	hostMAC       map[Side]net.HardwareAddr // endpoint MAC on each side

	mu       sync.Mutex
	captured []Captured
	wg       sync.WaitGroup
	stop     chan struct{}
}

// New builds the namespaces as o asks and starts capturing; the zero
// Options (plus Nft and Sysctls) is the differential test's lab: silent
// endpoints, packet sockets on their veth ends. Every sysctl is written
// in the NAT namespace before any traffic flows. On error everything
// already created is removed again.
func New(o Options) (lab *Lab, err error) {
	removeStale()
	if err := o.validate(); err != nil {
		return nil, err
	}
	p := fmt.Sprintf("%s%d-", nsPrefix, os.Getpid())
	if o.Tag != "" {
		p += o.Tag + "-"
	}
	useNft, sysctls := o.Nft, o.Sysctls
	l := &Lab{
		dev: p + "dev", nat: p + "nat", srv: p + "srv", hosts: o.Hosts,
		sockets: map[Side]*packetSocket{},
		gwMAC:   map[Side]net.HardwareAddr{},
		hostMAC: map[Side]net.HardwareAddr{},
		stop:    make(chan struct{}),
	}
	defer func() {
		if err != nil {
			_ = l.Close()
		}
	}()
	for _, ns := range []string{l.dev, l.nat, l.srv} {
		if err := run("ip", "netns", "add", ns); err != nil {
			return nil, err
		}
		// No IPv6: no router or neighbour solicitations, MLD reports or
		// DAD probes to tell apart from the NAT's own packets.
		for _, kv := range []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"} {
			if err := nsRun(ns, "sysctl", "-qw", kv); err != nil {
				return nil, err
			}
		}
	}
	steps := [][]string{
		{"ip", "-n", l.nat, "link", "add", "in0", "type", "veth", "peer", "name", "eth0", "netns", l.dev},
		{"ip", "-n", l.nat, "link", "add", "out0", "type", "veth", "peer", "name", "eth0", "netns", l.srv},
		{"ip", "-n", l.nat, "addr", "add", InsideGateway.String() + "/24", "dev", "in0"},
		{"ip", "-n", l.nat, "addr", "add", PublicAddr.String() + "/24", "dev", "out0"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return nil, err
		}
	}
	// Offloads off on every veth end: the NAT box's own RSTs and ICMP
	// errors then carry full checksums on the wire, and the NAT box
	// verifies the checksums of the crafted packets instead of trusting
	// veth's CHECKSUM_UNNECESSARY.
	for _, d := range []struct{ ns, dev string }{{l.nat, "in0"}, {l.nat, "out0"}, {l.dev, "eth0"}, {l.srv, "eth0"}} {
		if err := run("ip", "-n", d.ns, "link", "set", d.dev, "up"); err != nil {
			return nil, err
		}
		if err := nsRun(d.ns, "ethtool", "-K", d.dev, "rx", "off", "tx", "off"); err != nil {
			return nil, err
		}
	}
	if err := run("ip", "-n", l.nat, "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	if l.hostMAC[Inside], err = mac(l.dev, "eth0"); err != nil {
		return nil, err
	}
	if l.hostMAC[Outside], err = mac(l.srv, "eth0"); err != nil {
		return nil, err
	}
	if l.gwMAC[Inside], err = mac(l.nat, "in0"); err != nil {
		return nil, err
	}
	if l.gwMAC[Outside], err = mac(l.nat, "out0"); err != nil {
		return nil, err
	}
	// Static neighbours: the endpoints have no address and answer no ARP,
	// and no ARP exchange can delay a packet.
	for _, s := range [][]string{
		{"ip", "-n", l.nat, "neigh", "replace", InsideHost.String(), "lladdr", l.hostMAC[Inside].String(), "dev", "in0", "nud", "permanent"},
		{"ip", "-n", l.nat, "neigh", "replace", ServerAddr.String(), "lladdr", l.hostMAC[Outside].String(), "dev", "out0", "nud", "permanent"},
	} {
		if err := run(s...); err != nil {
			return nil, err
		}
	}
	if o.Hosts {
		if err := l.addHosts(); err != nil {
			return nil, err
		}
	}
	kv := []string{
		"net.ipv4.ip_forward=1",
		"net.ipv4.conf.all.rp_filter=0",
		"net.ipv4.conf.default.rp_filter=0",
		"net.ipv4.conf.in0.rp_filter=0",
		"net.ipv4.conf.out0.rp_filter=0",
	}
	if err := l.masquerade(useNft); err != nil {
		return nil, err
	}
	// The conntrack sysctls exist in the namespace once the NAT rule has
	// pulled in connection tracking.
	for _, s := range sysctls {
		kv = append(kv, fmt.Sprintf("net.netfilter.%s=%d", s.Name, s.Value))
	}
	for _, x := range kv {
		if err := nsRun(l.nat, "sysctl", "-qw", x); err != nil {
			return nil, err
		}
	}
	for _, side := range []Side{Inside, Outside} {
		ns := l.dev
		if side == Outside {
			ns = l.srv
		}
		s, err := openPacketSocket(ns, "eth0", o.Hosts)
		if err != nil {
			return nil, err
		}
		l.sockets[side] = s
		l.wg.Add(1)
		go l.capture(side, s)
	}
	return l, nil
}

func (l *Lab) masquerade(useNft bool) error {
	if useNft {
		l.Backend = "nftables"
		rules := `table ip natsim {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "out0" masquerade
	}
}
`
		cmd := exec.Command(tool("ip"), "netns", "exec", l.nat, tool("nft"), "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft -f (masquerade) in %s: %v: %s", l.nat, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	l.Backend = "iptables"
	return nsRun(l.nat, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "out0", "-j", "MASQUERADE")
}

// Send writes pkt (an IPv4 packet) from the endpoint on side towards the
// NAT box.
func (l *Lab) Send(side Side, pkt []byte) error {
	s := l.sockets[side]
	if s == nil {
		return fmt.Errorf("kerneltest: no socket on the %s side", side)
	}
	return s.send(l.gwMAC[side], l.hostMAC[side], pkt)
}

// Collect waits d and returns every packet captured since the last call,
// in arrival order.
func (l *Lab) Collect(d time.Duration) []Captured {
	time.Sleep(d)
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.captured
	l.captured = nil
	return out
}

// Conntrack returns the NAT box's connection table as `conntrack -L`
// prints it, for the log when a step surprises; "" when conntrack is not
// installed.
func (l *Lab) Conntrack() string {
	if !have("conntrack") {
		return ""
	}
	out, _ := exec.Command(tool("ip"), "netns", "exec", l.nat, tool("conntrack"), "-L").CombinedOutput()
	return strings.TrimSpace(string(out))
}

func (l *Lab) capture(side Side, s *packetSocket) {
	defer l.wg.Done()
	buf := make([]byte, 65536)
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		pkt, sent, ok := s.recv(buf)
		if !ok {
			continue
		}
		l.mu.Lock()
		l.captured = append(l.captured, Captured{Side: side, At: time.Now(), Pkt: pkt, FromHost: sent})
		l.mu.Unlock()
	}
}

// Close stops capturing and deletes the namespaces, which removes the
// veth pairs, rules and conntrack state with them.
func (l *Lab) Close() error {
	close(l.stop)
	l.wg.Wait()
	for _, s := range l.sockets {
		s.close()
	}
	var errs []error
	for _, ns := range []string{l.dev, l.nat, l.srv} {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			errs = append(errs, run("ip", "netns", "del", ns))
		}
	}
	return errors.Join(errs...)
}

// removeStale deletes namespaces left by lab runs whose process is gone
// (a run killed before its cleanup ran).
func removeStale() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		n, err := strconv.Atoi(pid)
		if err != nil || n == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", n)); os.IsNotExist(err) {
			_ = run("ip", "netns", "del", e.Name())
		}
	}
}

func mac(ns, dev string) (net.HardwareAddr, error) {
	out, err := exec.Command(tool("ip"), "-n", ns, "-j", "link", "show", dev).Output()
	if err != nil {
		return nil, fmt.Errorf("ip -n %s link show %s: %v", ns, dev, err)
	}
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		return nil, fmt.Errorf("ip -n %s -j link show %s: unexpected output %q", ns, dev, out)
	}
	return net.ParseMAC(links[0].Address)
}

func run(args ...string) error {
	out, err := exec.Command(tool(args[0]), args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func nsRun(ns string, args ...string) error {
	return run(append([]string{"ip", "netns", "exec", ns, tool(args[0])}, args[1:]...)...)
}
