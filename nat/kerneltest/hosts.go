package kerneltest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Lab built by New.
type Options struct {
	// Nft selects nftables masquerade; false installs iptables MASQUERADE.
	Nft bool
	// Sysctls are written in the NAT namespace before any traffic flows.
	Sysctls []Sysctl
	// Tag, when set, goes into the namespace names
	// (natsim-kt<pid>-<tag>-dev, ...), so that several labs live side by
	// side in one process and never collide with the differential test's
	// natsim-kt<pid>-dev. Letters and digits only.
	Tag string
	// Hosts gives the endpoints their addresses (InsideHost behind the NAT
	// box with a default route through it, ServerAddr outside) and static
	// neighbour entries for the NAT box, so that real sockets opened in
	// their namespaces (ListenUDP, Do) talk to each other through the
	// masquerade. The packet sockets then record what each endpoint sends
	// as well (Captured.FromHost). Without Hosts the endpoints' kernels
	// stay silent, as the differential test needs.
	Hosts bool
}

// HostRequirements is Requirements plus what a lab with Options.Hosts
// needs for its flow methods (Flows, ForgetFlows, WatchFlows): the
// conntrack tool.
func HostRequirements() (missing []string, useNft bool) {
	missing, useNft = Requirements()
	if !have("conntrack") {
		missing = append(missing, "conntrack (apt-get install conntrack)")
	}
	return missing, useNft
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9]*$`)

func (o Options) validate() error {
	if !tagRE.MatchString(o.Tag) || len(o.Tag) > 8 {
		// Interface and namespace names are short; the pid takes room too.
		return fmt.Errorf("kerneltest: Options.Tag %q: want at most 8 letters or digits", o.Tag)
	}
	return nil
}

// addHosts addresses the endpoints and points them at the NAT box. The
// neighbour entries are static in both directions, so no ARP exchange
// can delay or add to the traffic the tests observe.
func (l *Lab) addHosts() error {
	steps := [][]string{
		{"ip", "-n", l.dev, "addr", "add", InsideHost.String() + "/24", "dev", "eth0"},
		{"ip", "-n", l.dev, "route", "add", "default", "via", InsideGateway.String()},
		{"ip", "-n", l.dev, "neigh", "replace", InsideGateway.String(), "lladdr", l.gwMAC[Inside].String(), "dev", "eth0", "nud", "permanent"},
		{"ip", "-n", l.srv, "addr", "add", ServerAddr.String() + "/24", "dev", "eth0"},
		{"ip", "-n", l.srv, "neigh", "replace", PublicAddr.String(), "lladdr", l.gwMAC[Outside].String(), "dev", "eth0", "nud", "permanent"},
		{"ip", "-n", l.dev, "link", "set", "lo", "up"},
		{"ip", "-n", l.srv, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	return nil
}

// Namespace returns the name of the network namespace of the endpoint on
// side, for `ip netns exec`.
func (l *Lab) Namespace(side Side) string {
	if side == Outside {
		return l.srv
	}
	return l.dev
}

// Do runs f on a fresh, locked OS thread inside the namespace of the
// endpoint on side and waits for it. Sockets f creates belong to that
// namespace for their whole life, whichever goroutine uses them later;
// f must not start goroutines that open sockets.
func (l *Lab) Do(side Side, f func() error) error {
	if !l.hosts {
		return errors.New("kerneltest: Do needs a lab built with Options.Hosts")
	}
	return inNamespace(l.Namespace(side), f)
}

// ListenUDP opens a UDP socket on the endpoint on side, bound to its lab
// address and port (0 for an ephemeral one).
func (l *Lab) ListenUDP(side Side, port int) (*net.UDPConn, error) {
	addr := InsideHost
	if side == Outside {
		addr = ServerAddr
	}
	var c *net.UDPConn
	err := l.Do(side, func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port))))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kerneltest: listen udp %s:%d on the %s side: %w", addr, port, side, err)
	}
	return c, nil
}

// Flow is one entry of the NAT box's connection table as conntrack
// prints it: the original direction (as the first packet travelled) and
// the reply direction (as the box expects answers, after translation).
type Flow struct {
	// Proto is the protocol name ("udp", "tcp", "icmp").
	Proto string
	// Timeout is the time the entry has left, to the second.
	Timeout time.Duration
	// OrigSrc, OrigDst, ReplySrc and ReplyDst are the two tuples.
	OrigSrc, OrigDst, ReplySrc, ReplyDst netip.AddrPort
	// Unreplied and Assured are conntrack's [UNREPLIED] and [ASSURED].
	Unreplied, Assured bool
}

// String renders the flow on one line, as the tests log it.
func (f Flow) String() string {
	var flags string
	if f.Unreplied {
		flags += " [UNREPLIED]"
	}
	if f.Assured {
		flags += " [ASSURED]"
	}
	return fmt.Sprintf("%s %s->%s reply %s->%s ttl=%v%s", f.Proto, f.OrigSrc, f.OrigDst, f.ReplySrc, f.ReplyDst, f.Timeout, flags)
}

// Flows returns the NAT box's UDP connection table (`conntrack -L -p udp`).
func (l *Lab) Flows() ([]Flow, error) {
	out, err := exec.Command(tool("ip"), "netns", "exec", l.nat, tool("conntrack"), "-L", "-p", "udp").Output()
	if err != nil {
		return nil, fmt.Errorf("kerneltest: conntrack -L in %s: %w", l.nat, err)
	}
	var flows []Flow
	for line := range strings.Lines(string(out)) {
		if f, ok := ParseFlow(line); ok {
			flows = append(flows, f)
		}
	}
	return flows, nil
}

// ForgetFlows deletes the NAT box's UDP entries whose original source
// port is srcPort (`conntrack -D -p udp --orig-port-src`): a flush of
// one client's mappings, leaving the others alone. It reports how many
// entries it deleted.
func (l *Lab) ForgetFlows(srcPort uint16) (int, error) {
	out, err := exec.Command(tool("ip"), "netns", "exec", l.nat, tool("conntrack"), "-D", "-p", "udp", "--orig-port-src", strconv.Itoa(int(srcPort))).CombinedOutput()
	// conntrack -D exits 1 when nothing matched; its summary line says
	// how many entries went either way.
	m := deletedRE.FindSubmatch(out)
	if m == nil {
		if err != nil {
			return 0, fmt.Errorf("kerneltest: conntrack -D in %s: %v: %s", l.nat, err, strings.TrimSpace(string(out)))
		}
		return 0, fmt.Errorf("kerneltest: conntrack -D in %s: unexpected output %q", l.nat, out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n, nil
}

var deletedRE = regexp.MustCompile(`(\d+) flow entries have been deleted`)

// FlowEvent is one conntrack event: a UDP entry created, updated or
// destroyed in the NAT box, with the time the watcher received it.
type FlowEvent struct {
	// At is when the event reached the watcher.
	At time.Time
	// Kind is "NEW", "UPDATE" or "DESTROY".
	Kind string
	// Flow is the entry as the event describes it.
	Flow Flow
}

// FlowWatch records the NAT box's UDP conntrack events
// (`conntrack -E -p udp`) until Stop.
type FlowWatch struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	events []FlowEvent
	done   chan struct{}
}

// watchMarker is the entry WatchFlows inserts to learn that conntrack
// is listening (TEST-NET-2 addresses, which no lab traffic uses).
var watchMarker = netip.MustParseAddr("198.51.100.1")

// WatchFlows starts recording conntrack events in the NAT box and
// returns once the watcher is listening: it inserts a marker entry and
// waits for its NEW event (the marker's events are not recorded). A
// DESTROY event comes when the kernel reaps an expired entry, which can
// be seconds after it stopped translating (listing the table reaps
// expired entries at once); NEW events are immediate.
func (l *Lab) WatchFlows() (*FlowWatch, error) {
	cmd := exec.Command(tool("ip"), "netns", "exec", l.nat, tool("conntrack"), "-E", "-p", "udp")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kerneltest: conntrack -E in %s: %w", l.nat, err)
	}
	w := &FlowWatch{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			kind, rest, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
			if !ok || len(kind) < 3 || kind[0] != '[' {
				continue
			}
			f, ok := ParseFlow(rest)
			if !ok {
				continue
			}
			if f.OrigSrc.Addr() == watchMarker {
				if kind == "[NEW]" {
					once.Do(func() { close(ready) })
				}
				continue
			}
			w.mu.Lock()
			w.events = append(w.events, FlowEvent{At: time.Now(), Kind: strings.Trim(kind, "[]"), Flow: f})
			w.mu.Unlock()
		}
	}()
	marker := []string{"-p", "udp", "-s", watchMarker.String(), "-d", "198.51.100.2", "--sport", "9", "--dport", "9"}
	deadline := time.After(5 * time.Second)
	for {
		// Insert (again, after deleting) until the watcher reports it:
		// an event raised before conntrack subscribed is lost.
		_ = nsRun(l.nat, append([]string{"conntrack", "-D"}, marker...)...)
		if err := nsRun(l.nat, append(append([]string{"conntrack", "-I"}, marker...), "--timeout", "30")...); err != nil {
			w.Stop()
			return nil, fmt.Errorf("kerneltest: inserting the watch marker: %w", err)
		}
		select {
		case <-ready:
			_ = nsRun(l.nat, append([]string{"conntrack", "-D"}, marker...)...)
			return w, nil
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			w.Stop()
			return nil, fmt.Errorf("kerneltest: conntrack -E in %s reported nothing within 5 s", l.nat)
		}
	}
}

// Stop ends the watcher and returns every event it recorded.
func (w *FlowWatch) Stop() []FlowEvent {
	if w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
	}
	<-w.done
	_ = w.cmd.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]FlowEvent(nil), w.events...)
}

// ParseFlow reads one line of conntrack's default output, for example
//
//	udp      17 28 src=192.168.1.2 dst=203.0.113.2 sport=50101 dport=4433 src=203.0.113.2 dst=203.0.113.1 sport=4433 dport=50101 [ASSURED] mark=0 use=1
//
// (events omit the timeout for DESTROY). It reports false for anything
// that is not a TCP, UDP or ICMP entry with two full tuples.
func ParseFlow(line string) (Flow, bool) {
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return Flow{}, false
	}
	f := Flow{Proto: fields[0]}
	var src, dst [2]netip.Addr
	var sport, dport [2]uint16
	srcN, dstN, spN, dpN := 0, 0, 0, 0
	for i, fld := range fields[1:] {
		k, v, kv := strings.Cut(fld, "=")
		switch {
		case !kv && i == 1:
			if n, err := strconv.Atoi(fld); err == nil {
				f.Timeout = time.Duration(n) * time.Second
			}
		case fld == "[UNREPLIED]":
			f.Unreplied = true
		case fld == "[ASSURED]":
			f.Assured = true
		case kv && (k == "src" || k == "dst"):
			a, err := netip.ParseAddr(v)
			if err != nil {
				return Flow{}, false
			}
			if k == "src" && srcN < 2 {
				src[srcN] = a
				srcN++
			} else if k == "dst" && dstN < 2 {
				dst[dstN] = a
				dstN++
			}
		case kv && (k == "sport" || k == "dport"):
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return Flow{}, false
			}
			if k == "sport" && spN < 2 {
				sport[spN] = uint16(n)
				spN++
			} else if k == "dport" && dpN < 2 {
				dport[dpN] = uint16(n)
				dpN++
			}
		}
	}
	if srcN != 2 || dstN != 2 {
		return Flow{}, false
	}
	f.OrigSrc = netip.AddrPortFrom(src[0], sport[0])
	f.OrigDst = netip.AddrPortFrom(dst[0], dport[0])
	f.ReplySrc = netip.AddrPortFrom(src[1], sport[1])
	f.ReplyDst = netip.AddrPortFrom(dst[1], dport[1])
	return f, true
}
